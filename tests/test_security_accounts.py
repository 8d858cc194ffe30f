"""三员分立: the security administrator grants and revokes roles, unlocks accounts and resets a
lost second factor, on /api/security/accounts and the page 账号与授权; the system administrator
keeps the accounts but gives only the working roles; the audit administrator and everyone else
are refused; the security and audit administrators see none of the rectification work."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine import accounts
from engine.models import Role, SecurityEvent, User

from .support import PASSWORD
from .test_pages import login, token_of


@pytest.fixture
def three(duban, org):
    """A security administrator and an audit administrator beside the organisation's admin."""
    with duban.db.transaction() as session:
        hashed = session.get(User, org["user:admin"]).password_hash
        ids = {name: accounts.create_user(session, name, label, None, {role}, password_hash=hashed).id
               for name, label, role in (("secadmin", "安全管理员", Role.SECURITY_ADMIN),
                                         ("auditor", "审计管理员", Role.AUDIT_ADMIN))}
    return ids


def events(duban, kind: str) -> list[SecurityEvent]:
    with duban.db.reading() as session:
        return list(session.scalars(select(SecurityEvent).where(SecurityEvent.kind == kind).order_by(SecurityEvent.id)))


def test_only_the_security_administrator_reads_and_changes_the_grants(api, org, three):
    for who in ("admin", "auditor", "jiwei", "responsible"):
        assert api.get("/api/security/accounts", as_=who).status_code == 403, who
        refused = api.client.put(f"/api/security/accounts/{org['user:responsible']}/roles",
                                 headers=api._headers(who), json={"roles": ["leader"]})
        assert refused.status_code == 403, who
        refused = api.client.put(f"/api/security/accounts/{org['user:responsible']}/roles",
                                 headers=api._headers(who), json={"roles": "not a list"})
        assert refused.status_code == 403, who  # the role is checked before the body
        assert api.post(f"/api/security/accounts/{org['user:responsible']}/unlock", as_=who).status_code == 403
    listed = api.get("/api/security/accounts?q=admin", as_="secadmin")
    assert listed.status_code == 200, listed.json
    assert {a["username"]: a["roles"] for a in listed.json["items"]} == {"admin": ["admin"], "secadmin": ["security_admin"]}
    assert listed.json["items"][0]["origin"] == "local" and listed.json["items"][0]["locked_until"] is None


def test_the_security_administrator_grants_the_privileged_roles_each_an_event(api, duban, org, three):
    answer = api.client.put(f"/api/security/accounts/{org['user:responsible']}/roles", headers=api._headers("secadmin"),
                            json={"roles": ["official", "discipline"]})
    assert answer.status_code == 200 and answer.json["roles"] == ["discipline", "official"], answer.json
    granted = events(duban, "role_granted")[-1]
    assert (granted.subject, granted.object, granted.details) == ("secadmin", "user:responsible", {"role": "discipline"})
    # no account holds two of the three; nobody changes their own roles; a wrong role is named
    for user, roles, code in ((org["user:admin"], ["admin", "audit_admin"], "三员分立"),
                              (three["secadmin"], ["security_admin", "leader"], "own roles"),
                              (org["user:responsible"], ["boss"], "roles")):
        refused = api.client.put(f"/api/security/accounts/{user}/roles", headers=api._headers("secadmin"),
                                 json={"roles": roles})
        assert refused.status_code in (400, 422) and any(f.startswith("roles") for f in refused.json["errors"])
        assert code in str(refused.json), refused.json
    assert api.client.put("/api/security/accounts/999999/roles", headers=api._headers("secadmin"),
                          json={"roles": ["leader"]}).status_code == 404


def test_the_system_administrator_gives_only_the_working_roles(api, org, three):
    made = api.post("/api/users", as_="admin", json={"username": "newclerk", "display_name": "新科员",
                                                   "password": "Rectify-2026-long", "roles": ["official"]})
    assert made.status_code == 201
    for roles in (["discipline"], ["security_admin"], ["official", "admin"]):
        refused = api.client.patch(f"/api/users/{made.json['id']}", headers=api._headers("admin"), json={"roles": roles})
        assert refused.status_code == 400 and "security administrator" in refused.json["errors"]["roles"][0]
    assert api.client.patch(f"/api/users/{made.json['id']}", headers=api._headers("admin"),
                            json={"roles": ["official", "leader"]}).status_code == 200
    # and the security administrator keeps out of the system administrator's work
    assert api.get("/api/users", as_="secadmin").status_code == 403
    assert api.get("/api/officials", as_="secadmin").status_code == 403


def test_a_locked_account_is_unlocked_by_the_security_administrator(api, duban, org, three):
    for _ in range(5):
        api.post("/api/auth/token", json={"username": "responsible", "password": "wrong"})
    assert api.post("/api/auth/token", json={"username": "responsible", "password": PASSWORD}).status_code == 429
    [row] = [a for a in api.get("/api/security/accounts?q=responsible", as_="secadmin").json["items"]]
    assert row["locked_until"] is not None
    answer = api.post(f"/api/security/accounts/{org['user:responsible']}/unlock", as_="secadmin")
    assert answer.status_code == 200 and answer.json == {"was_locked": True}
    assert api.post("/api/auth/token", json={"username": "responsible", "password": PASSWORD}).status_code == 200
    unlocked = events(duban, "unlocked")[-1]
    assert (unlocked.subject, unlocked.object, unlocked.details) == ("secadmin", "user:responsible", {"was_locked": True})


def test_the_page_grants_unlocks_and_the_menus_keep_each_to_their_own(app, org, three):
    client = app.test_client()
    assert login(client, "secadmin").headers["Location"].endswith("/security/accounts")
    page = client.get("/security/accounts").get_data(as_text=True)
    assert 'data-account="responsible"' in page and "账号与授权" in page
    assert 'href="/tasks"' not in page and 'href="/ledger"' not in page and 'href="/admin' not in page
    done = client.post(f"/security/accounts/{org['user:responsible']}/roles",
                       data={"csrf_token": token_of(page), "roles": ["official", "leader"]})
    assert done.status_code == 302
    refused = client.post(f"/security/accounts/{org['user:admin']}/roles",
                          data={"csrf_token": token_of(page), "roles": ["admin", "audit_admin"]})
    assert refused.status_code == 400 and "三员分立" in refused.get_data(as_text=True)
    assert client.post(f"/security/accounts/{org['user:responsible']}/unlock",
                       data={"csrf_token": token_of(page)}).status_code == 302
    auditor = app.test_client()
    login(auditor, "auditor")
    assert auditor.get("/security/accounts").status_code == 403
    assert 'href="/tasks"' not in auditor.get("/security-log").get_data(as_text=True)
    for path in ("/tasks", "/ledger", "/dashboard", "/accountability", "/problems/new"):
        for who in (auditor, client):
            refused = who.get(path)
            assert refused.status_code == 403 and "三员分立" in refused.get_data(as_text=True), path
    admin = app.test_client()
    login(admin, "admin")
    assert admin.get("/security/accounts").status_code == 403
    assert "账号与授权" not in admin.get("/ledger").get_data(as_text=True)


def test_the_command_line_creates_the_first_administrators_and_unlocks(duban, org, database_url, tmp_path):
    from click.testing import CliRunner

    from web.cli import main

    env = {"DUBAN_DATABASE_URL": database_url, "DUBAN_INSTANCE_PATH": str(tmp_path / "cli")}
    made = CliRunner().invoke(main, ["user", "create", "anquan", "--name", "安全管理员", "--role", "security_admin"],
                              input="Rectify-2026-long\nRectify-2026-long\n", env=env)
    assert made.exit_code == 0 and "created anquan (security_admin)" in made.output, made.output
    assert "Rectify-2026-long" not in made.output
    both = CliRunner().invoke(main, ["user", "roles", "anquan", "security_admin", "audit_admin"], env=env)
    assert both.exit_code == 2 and "三员分立" in both.output, both.output
    weak = CliRunner().invoke(main, ["user", "create", "weak", "--name", "x", "--role", "official",
                                     "--password", "1234567890"], env=env)
    assert weak.exit_code == 2 and "password" in weak.output, weak.output
    nobody = CliRunner().invoke(main, ["user", "unlock", "nobody"], env=env)
    assert nobody.exit_code == 2 and "USERNAME" in nobody.output, nobody.output
    assert "was not locked" in CliRunner().invoke(main, ["user", "unlock", "anquan"], env=env).output
    with duban.db.reading() as session:
        created = session.scalars(select(User).where(User.username == "anquan")).one()
        assert created.roles == {Role.SECURITY_ADMIN} and accounts.check_password(created, "Rectify-2026-long")
    assert [e.object for e in events(duban, "account_created")] == ["user:anquan"]
    assert events(duban, "unlocked")[-1].method == "command line"


def test_a_page_of_accounts_takes_the_same_statements_whatever_its_size(duban, org, three):
    """The list reads roles, officials, lockouts and second factors a page at a time, never an
    account at a time."""
    from engine import clock, second_factor

    from .test_task_pages import statements

    def listing(per_page: int) -> int:
        with statements(duban) as seen:
            views, _total = duban.security_accounts(secadmin, None, 1, per_page)
        assert len(views) == per_page
        return len(seen)

    secadmin = three["secadmin"]
    with duban.db.transaction() as session:
        hashed = session.get(User, org["user:admin"]).password_hash
        for number in range(40):
            user = accounts.create_user(session, f"clerk{number:02d}", f"科员{number}", None, {Role.OFFICIAL},
                                        password_hash=hashed)
            session.flush()
            if number % 2:  # every other one enrolled
                second_factor.begin(session, user, duban.sealer)
                session.get(second_factor.SecondFactor, user.id).enabled_at = clock.now()
    assert listing(40) == listing(3)
    views, _ = duban.security_accounts(secadmin, "clerk", 1, 40)
    assert [v.second_factor for v in views] == [bool(n % 2) for n in range(40)]
