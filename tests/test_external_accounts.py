"""Accounts from the identity platform (engine/external_accounts.py): the first sign-in links
the official with the same employee number or creates an account; the platform's mapped roles
become the account's at every sign-in; a person the platform drops is disabled with their
sessions and tokens; a local account of the same name is never taken over."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine import accounts, external_accounts
from engine.external_accounts import Identity, NotAdmitted
from engine.models import Official, Role, SecurityEvent, User

from .support import PASSWORD


def identity(**overrides) -> Identity:
    values = dict(origin="ldap", external_id="uid=zhangke,ou=people,dc=qj,dc=gov", username="zhangke",
                  display_name="张科长", employee_number="QJ-0042", roles=frozenset({Role.OFFICIAL}))
    return Identity(**(values | overrides))


def admit(duban, who: Identity) -> tuple[int, str, set[Role], bool]:
    """As a sign-in does: a refusal commits what it changed (a disabled account, its events)."""
    refusal = None
    with duban.db.transaction() as session:
        try:
            user = external_accounts.admit(session, who)
            return user.id, user.username, user.roles, user.active
        except NotAdmitted as refused:
            refusal = refused
    raise refusal


def events(duban) -> list[tuple[str, str | None, str | None]]:
    with duban.db.reading() as session:
        return [(e.kind, e.object, e.method) for e in session.scalars(
            select(SecurityEvent).where(SecurityEvent.method.in_(("ldap", "oidc"))).order_by(SecurityEvent.id))]


def test_the_official_with_the_employee_number_is_linked_and_keeps_their_account(duban, org):
    with duban.db.transaction() as session:
        session.get(Official, org["responsible"]).employee_number = "QJ-0042"
    user_id, username, roles, active = admit(duban, identity())
    assert (user_id, username, roles, active) == (org["user:responsible"], "responsible", {Role.OFFICIAL}, True)
    with duban.db.reading() as session:
        user = session.get(User, user_id)
        assert (user.origin, user.external_id) == ("ldap", "uid=zhangke,ou=people,dc=qj,dc=gov")
        assert not accounts.check_password(user, PASSWORD), "the local password ends with the link"
        assert user.display_name == "张科长"
    # the second sign-in finds the link, whatever the employee number says now
    assert admit(duban, identity(employee_number=None))[0] == user_id


def test_a_new_person_gets_an_account_with_the_mapped_roles_and_the_events_say_so(duban, org):
    user_id, username, roles, active = admit(duban, identity(username="newcomer", employee_number="QJ-9"))
    assert (username, roles, active) == ("newcomer", {Role.OFFICIAL}, True)
    assert events(duban) == [("account_created", "user:newcomer", "ldap"),
                             ("role_granted", "user:newcomer", "ldap")]
    # the directory's groups change: the roles follow at the next sign-in
    assert admit(duban, identity(username="newcomer", roles=frozenset({Role.DISCIPLINE})))[2] == {Role.DISCIPLINE}
    assert events(duban)[2:] == [("role_granted", "user:newcomer", "ldap"), ("role_revoked", "user:newcomer", "ldap")]


def test_a_local_account_of_the_same_name_is_never_taken_over(duban, org):
    with pytest.raises(NotAdmitted) as refused:
        admit(duban, identity(username="admin", employee_number=None, roles=frozenset({Role.ADMIN})))
    assert refused.value.reason == "username_taken" and "admin" in str(refused.value)
    with duban.db.reading() as session:
        admin = session.get(User, org["user:admin"])
        assert admin.origin == "local" and accounts.check_password(admin, PASSWORD)


def test_no_mapped_role_disables_the_account_and_ends_its_tokens_until_the_directory_admits_it(duban, org):
    user_id = admit(duban, identity(username="leaver", employee_number=None))[0]
    with duban.db.reading() as session:
        epoch = session.get(User, user_id).token_epoch
    with pytest.raises(NotAdmitted) as refused:
        admit(duban, identity(username="leaver", employee_number=None, roles=frozenset()))
    assert refused.value.reason == "no_mapped_role"
    with duban.db.reading() as session:
        user = session.get(User, user_id)
        assert not user.active and user.token_epoch == epoch + 1 and user.directory_refused_at is not None
    assert events(duban)[-1] == ("account_disabled", "user:leaver", "ldap")
    # back in a mapped group: enabled again
    assert admit(duban, identity(username="leaver", employee_number=None))[3] is True


def test_an_account_the_administrator_disabled_stays_disabled(duban, org):
    user_id = admit(duban, identity(username="barred", employee_number=None))[0]
    with duban.db.transaction() as session:
        session.get(User, user_id).active = False
    with pytest.raises(NotAdmitted) as refused:
        admit(duban, identity(username="barred", employee_number=None))
    assert refused.value.reason == "disabled"


def test_two_separated_administrator_roles_from_the_groups_are_refused(duban, org):
    with pytest.raises(NotAdmitted) as refused:
        admit(duban, identity(username="both", employee_number=None,
                              roles=frozenset({Role.ADMIN, Role.AUDIT_ADMIN})))
    assert refused.value.reason == "separated_admins"
    with duban.db.reading() as session:
        assert session.scalars(select(User).where(User.username == "both")).first() is None


def test_an_employee_number_is_one_officials(api, org):
    admin = {"Authorization": f"Bearer {api.token('admin')}"}
    first = api.client.patch(f"/api/officials/{org['responsible']}", json={"employee_number": "QJ-7"}, headers=admin)
    assert first.status_code == 200 and first.json["employee_number"] == "QJ-7"
    second = api.client.patch(f"/api/officials/{org['eco_clerk']}", json={"employee_number": "QJ-7"}, headers=admin)
    assert second.status_code in (400, 409, 422) and "employee_number" in second.json["errors"], second.json
