"""The organisation (管理): regions, units, officials, posts and users.

A part of the Duban facade (engine/service.py): each method one action, one transaction."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from .. import organization_admin as org_admin
from ..errors import Conflict
from ..models import Role
from . import Answer


class OrganisationActions:
    def _administer(self, user_id: int | None, what: str, subject_type: str, subject_id, change,
                    answer: Answer | None = None):
        """One change to the organisation by an administrator (None: the command line), in one
        transaction with its ledger entry; anyone else is refused and the refusal recorded.
        Given `answer`, what `answer(session, id)` builds inside the transaction is returned
        instead of the id the change returned."""
        refused = object()
        try:
            with self.db.transaction() as session:
                actor = self.actor(session, user_id)
                result = change(session, actor) if actor is None or actor.has_role(Role.ADMIN) else refused
                if answer and result is not refused:
                    session.flush()
                    result = answer(session, result)
        except IntegrityError:
            raise Conflict(f"someone else changed the same records at the same moment; {what} again") from None
        if result is refused:
            self.deny(user_id, what, subject_type, subject_id)
        return result

    def create_region(self, user_id: int | None, name, level, parent_id=None, answer: Answer | None = None):
        return self._administer(user_id, "create a region", "region", None, lambda session, actor: org_admin.create_region(
            session, actor, name, level, parent_id).id, answer)

    def rename_region(self, user_id: int | None, region_id: int, name, answer: Answer | None = None):
        return self._administer(user_id, f"rename region {region_id}", "region", region_id,
                                lambda session, actor: org_admin.rename_region(session, actor, region_id, name).id,
                                answer)

    def create_unit(self, user_id: int | None, name, kind, region_id, short_name=None,
                    answer: Answer | None = None):
        return self._administer(user_id, "create a unit", "unit", None, lambda session, actor: org_admin.create_unit(
            session, actor, name, kind, region_id, short_name).id, answer)

    def rename_unit(self, user_id: int | None, unit_id: int, name, short_name=None, answer: Answer | None = None):
        return self._administer(user_id, f"rename unit {unit_id}", "unit", unit_id,
                                lambda session, actor: org_admin.rename_unit(session, actor, unit_id, name, short_name).id,
                                answer)

    def create_official(self, user_id: int | None, name, party_member=False, gender=None, email=None,
                        mobile=None, employee_number=None, answer: Answer | None = None):
        return self._administer(user_id, "create an official", "official", None,
                                lambda session, actor: org_admin.create_official(
                                    session, actor, name, party_member, gender, email, mobile,
                                    employee_number).id, answer)

    def update_official(self, user_id: int | None, official_id: int, answer: Answer | None = None, **changes):
        return self._administer(user_id, f"change official {official_id}", "official", official_id,
                                lambda session, actor: org_admin.update_official(
                                    session, actor, official_id, **changes).id, answer)

    def add_post(self, user_id: int | None, official_id: int, unit_id, title, kind, is_head=False,
                 succeed=False, answer: Answer | None = None):
        """Give an official a post; with `succeed`, a head post replaces the unit's current
        head of its side (whose post ends in the same transaction)."""
        return self._administer(user_id, f"give official {official_id} a post", "official", official_id,
                                lambda session, actor: org_admin.add_post(
                                    session, actor, official_id, unit_id, title, kind, is_head, succeed).id, answer)

    def end_post(self, user_id: int | None, official_id: int, post_id: int, note=None) -> dict:
        """End a post unless the engine still relies on it (see engine/organization_admin.py)."""
        return self._administer(user_id, f"end post {post_id}", "post", post_id,
                                lambda session, actor: org_admin.end_post(session, actor, official_id, post_id, note))

    def create_user(self, user_id: int | None, username, display_name, password, roles, official_id=None,
                    answer: Answer | None = None):
        return self._administer(user_id, "create a user", "user", None, lambda session, actor: org_admin.create_user(
            session, actor, username, display_name, password, roles, official_id).id, answer)

    def update_user(self, user_id: int | None, target_id: int, answer: Answer | None = None, **changes):
        """Change a user's display name, roles, linked official, active state or password (the
        keywords given), all in one transaction."""
        return self._administer(user_id, f"change user {target_id}", "user", target_id,
                                lambda session, actor: org_admin.patch_user(session, actor, target_id, **changes).id,
                                answer)

    def grant_roles(self, user_id: int | None, target_id: int, roles, answer: Answer | None = None):
        """The security administrator's role grants and revocations (三员分立): the account's
        roles become `roles`, each change a security event."""
        refused = object()
        try:
            with self.db.transaction() as session:
                actor = self.actor(session, user_id)
                if actor is not None and not actor.has_role(Role.SECURITY_ADMIN):
                    result = refused
                else:
                    result = org_admin.update_user(session, actor, target_id, roles=roles).id
                    if answer:
                        session.flush()
                        result = answer(session, result)
        except IntegrityError:
            raise Conflict(f"someone else changed user {target_id} at the same moment; try again") from None
        if result is refused:
            self.deny(user_id, f"change the roles of user {target_id}", "user", target_id)
        return result

    def reset_password(self, user_id: int | None, target_id: int, password) -> None:
        self._administer(user_id, f"reset the password of user {target_id}", "user", target_id,
                         lambda session, actor: org_admin.reset_password(session, actor, target_id, password))

    def set_user_active(self, user_id: int | None, target_id: int, active) -> None:
        self._administer(user_id, f"{'reactivate' if active else 'deactivate'} user {target_id}", "user", target_id,
                         lambda session, actor: org_admin.set_active(session, actor, target_id, active))
