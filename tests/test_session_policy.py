"""The session and password policy (会话与口令策略), set by the security administrator: page
sessions kept on the server end when idle on the engine's clock and are limited per account
(the oldest ends, or the new sign-in is refused); 我的会话 lists one's own and ends the others;
a password expires, may not be one of the last five, and is changed by its owner first when an
administrator set it; after a page sign-in the previous one and the failures since are shown
once (鉴别警示); GET/PUT /api/security/policy for the security administrator alone, each field
within its bounds."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import accounts, clock
from engine.models import Role, SecurityEvent, User, UserSession

from .support import PASSWORD
from .test_pages import login, token_of

OWN = "Morning-river-37"
OTHER = "Quiet-lantern-58"
THIRD = "Silver-orchard-19"


@pytest.fixture
def staff(duban, org):
    """The security administrator and the audit administrator."""
    with duban.db.transaction() as session:
        accounts.create_user(session, "secadmin", "安全管理员", PASSWORD, {Role.SECURITY_ADMIN})
        accounts.create_user(session, "auditor", "审计管理员", PASSWORD, {Role.AUDIT_ADMIN})


def events(duban, kind: str) -> list[SecurityEvent]:
    with duban.db.reading() as session:
        return list(session.scalars(select(SecurityEvent).where(SecurityEvent.kind == kind)
                                    .order_by(SecurityEvent.id)))


def signed_in(client) -> bool:
    return client.get("/tasks").status_code == 200


def set_policy(api, **values):
    response = api.client.put("/api/security/policy", json=values,
                              headers={"Authorization": f"Bearer {api.token('secadmin')}"})
    assert response.status_code == 200, response.json
    return response.json


def change_on_page(client, current: str, new: str, confirm: str | None = None):
    page = client.get("/password").get_data(as_text=True)
    return client.post("/password", data={"csrf_token": token_of(page), "current_password": current,
                                          "new_password": new, "confirm_password": confirm or new})


# -- the policy ------------------------------------------------------------------------------------


def test_the_policy_is_the_security_administrators_and_a_change_is_an_event(api, duban, staff):
    answer = api.get("/api/security/policy", as_="secadmin")
    assert answer.status_code == 200
    assert answer.json == {"idle_minutes": 30, "max_sessions": 3, "session_mode": "end_oldest",
                           "password_days": 90, "password_history": 5, "force_change": True}
    for who in ("admin", "auditor", "responsible"):
        assert api.get("/api/security/policy", as_=who).status_code == 403
        for body in ({"idle_minutes": 60}, {"idle_minutes": "x", "nonsense": 1}):  # the role is checked first
            refused = api.client.put("/api/security/policy", json=body,
                                     headers={"Authorization": f"Bearer {api.token(who)}"})
            assert refused.status_code == 403 and refused.json["code"] == "forbidden", refused.json
    assert api.client.get("/api/security/policy").status_code == 401

    changed = set_policy(api, idle_minutes=15, session_mode="refuse", password_days=0)
    assert changed["idle_minutes"] == 15 and changed["session_mode"] == "refuse" and changed["password_days"] == 0
    assert changed["max_sessions"] == 3  # what was not given stays
    assert api.get("/api/security/policy", as_="secadmin").json == changed
    [event] = events(duban, "policy_changed")
    assert event.subject == "secadmin" and event.result == "success"
    assert event.details["changed"]["idle_minutes"] == {"from": 30, "to": 15}
    assert set(event.details["changed"]) == {"idle_minutes", "session_mode", "password_days"}


@pytest.mark.parametrize("body, field", [
    ({"idle_minutes": 4}, "idle_minutes"), ({"idle_minutes": 481}, "idle_minutes"),
    ({"idle_minutes": "thirty"}, "idle_minutes"), ({"max_sessions": 0}, "max_sessions"),
    ({"max_sessions": 21}, "max_sessions"), ({"session_mode": "kick"}, "session_mode"),
    ({"password_days": 29}, "password_days"), ({"password_days": 366}, "password_days"),
    ({"password_history": 25}, "password_history"), ({"password_history": -1}, "password_history"),
    ({"force_change": "perhaps"}, "force_change"), ({"lockout": 3}, "lockout"),
])
def test_a_value_out_of_bounds_is_refused_naming_its_field_and_nothing_changes(api, duban, staff, body, field):
    before = api.get("/api/security/policy", as_="secadmin").json
    refused = api.client.put("/api/security/policy", json={"max_sessions": 5, **body},
                             headers={"Authorization": f"Bearer {api.token('secadmin')}"})
    assert refused.status_code in (400, 422) and field in refused.json["errors"], refused.json
    assert api.get("/api/security/policy", as_="secadmin").json == before
    assert events(duban, "policy_changed") == []


def test_the_policy_page_is_the_security_administrators(app, duban, staff):
    security = app.test_client()
    login(security, "secadmin")
    page = security.get("/tasks").get_data(as_text=True)
    assert 'data-nav="session_policy"' in page
    form = security.get("/security/policy")
    assert form.status_code == 200 and 'name="idle_minutes" type="number"' in form.get_data(as_text=True)
    bad = security.post("/security/policy", data={
        "csrf_token": token_of(form.get_data(as_text=True)), "idle_minutes": "3", "max_sessions": "2",
        "session_mode": "refuse", "password_days": "90", "password_history": "5", "force_change": "on"})
    assert bad.status_code == 400 and 'data-error="idle_minutes"' in bad.get_data(as_text=True)
    assert duban.policy_in_force().max_sessions == 3  # nothing changed
    saved = security.post("/security/policy", data={
        "csrf_token": token_of(form.get_data(as_text=True)), "idle_minutes": "45", "max_sessions": "2",
        "session_mode": "refuse", "password_days": "180", "password_history": "8"})
    assert saved.status_code == 302
    policy = duban.policy_in_force()
    assert (policy.idle_minutes, policy.max_sessions, policy.session_mode, policy.password_days,
            policy.password_history, policy.force_change) == (45, 2, "refuse", 180, 8, False)

    for who in ("admin", "auditor"):
        other = app.test_client()
        login(other, who)
        assert 'data-nav="session_policy"' not in other.get("/notifications").get_data(as_text=True)
        assert other.get("/security/policy").status_code == 403


# -- page sessions ---------------------------------------------------------------------------------


def test_an_idle_session_ends_on_the_engine_clock(app, duban, org):
    client = app.test_client()
    assert login(client, "responsible").status_code == 302
    for _ in range(3):  # used every 29 minutes: idle never reaches 30
        clock.advance(timedelta(minutes=29))
        assert signed_in(client)
    clock.advance(timedelta(minutes=30))
    answer = client.get("/tasks")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    with duban.db.reading() as session:
        [row] = session.scalars(select(UserSession)).all()
        assert row.ended_reason == "idle" and row.ended_at is not None
        assert row.source == "127.0.0.1"
    assert [e.details["reason"] for e in events(duban, "session_ended")] == ["idle"]


def test_last_seen_moves_at_most_once_a_minute(app, duban, org):
    client = app.test_client()
    login(client, "responsible")

    def last_seen():
        with duban.db.reading() as session:
            return session.scalars(select(UserSession.last_seen_at)).one()

    first = last_seen()
    clock.advance(timedelta(seconds=30))
    assert signed_in(client) and last_seen() == first
    clock.advance(timedelta(seconds=31))
    assert signed_in(client) and last_seen() == clock.now()


def test_beyond_the_limit_the_oldest_session_ends(app, duban, org):
    clients = [app.test_client() for _ in range(4)]
    for number, client in enumerate(clients):
        clock.advance(timedelta(minutes=1))
        assert login(client, "responsible").status_code == 302, number
    assert [signed_in(c) for c in clients] == [False, True, True, True]
    [ended] = events(duban, "session_ended")
    assert ended.details == {"reason": "session_limit", "max_sessions": 3} and ended.subject == "responsible"


def test_in_the_refuse_mode_a_sign_in_beyond_the_limit_is_refused(app, api, duban, staff):
    set_policy(api, max_sessions=1, session_mode="refuse")
    first, second = app.test_client(), app.test_client()
    assert login(first, "responsible").status_code == 302
    refused = login(second, "responsible")
    assert refused.status_code == 409
    assert "在线会话已达上限" in refused.get_data(as_text=True)
    assert signed_in(first) and not signed_in(second)
    failure = [e for e in events(duban, "sign_in") if e.result == "failure"][-1]
    assert failure.details == {"door": "page", "reason": "session limit"}
    # once the first signs out, the second may sign in
    first.post("/logout", data={"csrf_token": token_of(first.get("/tasks").get_data(as_text=True))})
    assert login(second, "responsible").status_code == 302 and signed_in(second)


def test_my_sessions_lists_ones_own_and_signs_out_elsewhere(app, api, duban, org):
    here, there, someone = app.test_client(), app.test_client(), app.test_client()
    login(here, "responsible")
    clock.advance(timedelta(minutes=2))
    there.environ_base["HTTP_USER_AGENT"] = "Firefox/120 on the office PC"
    login(there, "responsible")
    login(someone, "eco_clerk")
    assert 'data-nav="my-sessions"' in here.get("/tasks").get_data(as_text=True)
    page = here.get("/sessions").get_data(as_text=True)
    rows = re.findall(r'<tr data-session-id="(\d+)"( data-current)?', page)
    assert len(rows) == 2 and sorted(bool(current) for _, current in rows) == [False, True]
    assert "退出其他会话" in page and "<td data-data>Firefox/120 on the office PC</td>" in page

    listed = api.get("/api/auth/sessions", as_="responsible")
    assert listed.status_code == 200 and len(listed.json) == 2
    assert {"id", "started_at", "last_seen_at", "source", "user_agent"} <= set(listed.json[0])

    done = here.post("/sessions/end-others", data={"csrf_token": token_of(page)})
    assert done.status_code == 302
    assert signed_in(here) and not signed_in(there) and signed_in(someone)
    assert len(api.get("/api/auth/sessions", as_="responsible").json) == 1
    assert events(duban, "session_ended")[-1].details == {"reason": "ended_by_user", "count": 1}


def test_one_session_is_ended_by_id_and_only_ones_own(app, api, duban, org):
    browser, clerk = app.test_client(), app.test_client()
    login(browser, "responsible")
    login(clerk, "eco_clerk")
    [mine] = api.get("/api/auth/sessions", as_="responsible").json
    [theirs] = api.get("/api/auth/sessions", as_="eco_clerk").json
    assert api.delete(f"/api/auth/sessions/{theirs['id']}", as_="responsible").status_code == 404
    assert signed_in(clerk)
    assert api.delete(f"/api/auth/sessions/{mine['id']}", as_="responsible").status_code == 204
    assert not signed_in(browser)
    assert api.delete(f"/api/auth/sessions/{mine['id']}", as_="responsible").status_code == 404


def test_signing_out_ends_this_session_only(app, duban, org):
    first, second = app.test_client(), app.test_client()
    login(first, "responsible")
    login(second, "responsible")
    first.post("/logout", data={"csrf_token": token_of(first.get("/tasks").get_data(as_text=True))})
    assert not signed_in(first) and signed_in(second)


# -- passwords -------------------------------------------------------------------------------------


def test_an_expired_password_is_changed_before_anything_else(app, api, duban, org):
    with duban.db.transaction() as session:
        session.get(User, org["user:responsible"]).password_changed_at = clock.now()
    clock.advance(timedelta(days=90))
    refused = api.client.post("/api/auth/token", json={"username": "responsible", "password": PASSWORD})
    assert refused.status_code == 403 and refused.json["code"] == "password_expired"

    client = app.test_client()
    signed = login(client, "responsible", next="/ledger")
    assert signed.status_code == 302 and signed.headers["Location"].startswith("/password")
    detour = client.get("/tasks")
    assert detour.status_code == 302 and detour.headers["Location"].startswith("/password")
    page = client.get("/password").get_data(as_text=True)
    assert 'data-password-due="password_expired"' in page
    assert change_on_page(client, PASSWORD, OWN, "typo").status_code == 400
    wrong = change_on_page(client, "not-the-password", OWN)
    assert wrong.status_code == 400 and 'data-error="current_password"' in wrong.get_data(as_text=True)
    done = change_on_page(client, PASSWORD, OWN)
    assert done.status_code == 302
    assert signed_in(client)  # this session stays
    assert api.client.post("/api/auth/token", json={"username": "responsible", "password": OWN}).status_code == 200
    wrong_current, changed = events(duban, "password_changed")
    assert wrong_current.result == "failure" and wrong_current.details == {"reason": "current password wrong"}
    assert changed.result == "success" and changed.subject == "responsible" and changed.object == "user:responsible"


def test_a_password_may_not_be_one_of_the_last_five(app, api, duban, org):
    client = app.test_client()
    login(client, "responsible")
    assert change_on_page(client, PASSWORD, OWN).status_code == 302
    assert change_on_page(client, OWN, OTHER).status_code == 302
    for earlier in (PASSWORD, OWN, OTHER):
        refused = change_on_page(client, OTHER, earlier)
        assert refused.status_code == 400, earlier
        assert 'data-error="new_password"' in refused.get_data(as_text=True)
        assert "最近 5 次" in refused.get_data(as_text=True)
    through_api = api.client.post("/api/auth/password", json={
        "username": "responsible", "password": OTHER, "new_password": OWN})
    assert through_api.status_code == 400 and "new_password" in through_api.json["errors"]
    assert change_on_page(client, OTHER, THIRD).status_code == 302
    assert [e.result for e in events(duban, "password_changed")] == ["success"] * 3


def test_a_password_an_administrator_set_is_changed_by_its_owner_first(app, api, duban, org):
    response = api.client.patch(f"/api/users/{org['user:responsible']}", json={"password": OTHER},
                                headers={"Authorization": f"Bearer {api.token('admin')}"})
    assert response.status_code == 200, response.json
    refused = api.client.post("/api/auth/token", json={"username": "responsible", "password": OTHER})
    assert refused.status_code == 403 and refused.json["code"] == "password_change_required"

    client = app.test_client()
    assert login(client, "responsible", OTHER).headers["Location"].startswith("/password")
    assert 'data-password-due="password_change_required"' in client.get("/password").get_data(as_text=True)
    assert client.get("/sessions").status_code == 302
    assert change_on_page(client, OTHER, OWN).status_code == 302
    assert signed_in(client) and client.get("/sessions").status_code == 200
    with duban.db.reading() as session:
        assert not session.get(User, org["user:responsible"]).must_change_password


def test_a_new_account_with_an_administrators_password_changes_it_first(app, api, duban, org):
    created = api.post("/api/users", as_="admin", json={"username": "newcomer", "display_name": "新同志",
                                                        "password": OTHER, "roles": ["official"]})
    assert created.status_code == 201, created.json
    refused = api.client.post("/api/auth/token", json={"username": "newcomer", "password": OTHER})
    assert refused.status_code == 403 and refused.json["code"] == "password_change_required"
    wrong = api.client.post("/api/auth/password", json={"username": "newcomer", "password": "wrong-one-123",
                                                        "new_password": OWN})
    assert wrong.status_code == 401
    assert api.client.post("/api/auth/password", json={"username": "newcomer", "password": OTHER,
                                                       "new_password": OWN}).status_code == 204
    assert api.client.post("/api/auth/token", json={"username": "newcomer", "password": OWN}).status_code == 200


# -- 鉴别警示 --------------------------------------------------------------------------------------


def test_after_signing_in_the_previous_sign_in_and_the_failures_since_are_shown_once(app, duban, org):
    first = app.test_client()
    login(first, "responsible")
    notice = re.search(r"data-sign-in-notice>([^<]+)<", first.get("/tasks").get_data(as_text=True)).group(1)
    assert "首次登录" in notice
    assert "data-sign-in-notice" not in first.get("/tasks").get_data(as_text=True)  # once

    clock.advance(timedelta(hours=1))
    for _ in range(2):
        assert login(app.test_client(), "responsible", "wrong-password-1").status_code == 401
    clock.advance(timedelta(minutes=5))
    second = app.test_client()
    login(second, "responsible")
    notice = re.search(r"data-sign-in-notice>([^<]+)<", second.get("/tasks").get_data(as_text=True)).group(1)
    assert "上次成功登录：2026-03-02 09:00，来自 127.0.0.1。" in notice
    assert "此后登录失败 2 次" in notice

    clock.advance(timedelta(minutes=5))
    third = app.test_client()
    login(third, "responsible")
    notice = re.search(r"data-sign-in-notice>([^<]+)<", third.get("/tasks").get_data(as_text=True)).group(1)
    assert "2026-03-02 10:05" in notice and "失败" not in notice


# -- the upgrade -----------------------------------------------------------------------------------


def test_the_upgrade_counts_existing_passwords_as_set_then(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine, text

    from engine import migrate

    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0029_second_factor")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO user_account (username, display_name, password_hash, active) "
                                "VALUES ('old', '老用户', 'x', 1)"))
    migrate.upgrade(url)
    with engine.connect() as connection:
        changed, forced = connection.execute(text(
            "SELECT password_changed_at, must_change_password FROM user_account")).one()
        assert changed is not None and not forced
        assert connection.execute(text("SELECT count(*) FROM user_session")).scalar() == 0
    command.downgrade(migrate.alembic_config(url), "0029_second_factor")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT username FROM user_account")).scalar() == "old"
    engine.dispose()


def test_signing_in_again_in_the_same_browser_ends_the_session_it_held(app, duban, org):
    client = app.test_client()
    login(client, "responsible")
    login(client, "responsible")
    with duban.db.reading() as session:
        rows = session.scalars(select(UserSession).order_by(UserSession.id)).all()
        assert [row.ended_reason for row in rows] == ["signed_out", None]
    assert signed_in(client)


def test_a_session_ended_a_month_ago_is_removed_at_the_next_sign_in(app, duban, org):
    client = app.test_client()
    login(client, "responsible")
    client.post("/logout", data={"csrf_token": token_of(client.get("/tasks").get_data(as_text=True))})
    clock.advance(timedelta(days=31))
    login(client, "responsible")
    with duban.db.reading() as session:
        assert [row.ended_at for row in session.scalars(select(UserSession))] == [None]


def test_a_wrong_current_password_counts_towards_the_lockout(app, duban, org):
    client = app.test_client()
    login(client, "responsible")
    for _ in range(4):
        assert change_on_page(client, "wrong-password-1", OWN).status_code == 400
    locked = change_on_page(client, "wrong-password-1", OWN)
    assert locked.status_code == 429 and "锁定" in locked.get_data(as_text=True)
    assert change_on_page(client, PASSWORD, OWN).status_code == 429  # locked: even the right one
    failures = [e for e in events(duban, "password_changed") if e.result == "failure"]
    assert [e.details["reason"] for e in failures] == ["current password wrong"] * 4 + ["locked"] * 2
