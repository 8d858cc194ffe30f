"""Session cookies and their end: SameSite=Lax, HttpOnly, Secure over https or when told
(DUBAN_HTTPS); a working day at most and two idle hours, on the engine's clock; a cookie
saved before signing out is refused after it; a new password or a deactivation ends the
account's page sessions and revokes its API tokens."""
from __future__ import annotations

from datetime import timedelta

from engine import clock

from .hardening_support import csrf_of, make_app, page_login, session_cookie
from .support import PASSWORD

NEW_PASSWORD = "Harbour-lights-42"


def signed_in(client) -> bool:
    return client.get("/tasks").status_code == 200


def test_the_session_cookie_is_lax_httponly_and_lasts_a_working_day(app, org):
    client = app.test_client()
    response = page_login(client, "responsible")
    assert response.status_code == 302
    cookie = session_cookie(response)
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax" and "secure" not in cookie
    assert cookie["path"] == "/" and "expires" in cookie
    assert app.permanent_session_lifetime == timedelta(hours=10)


def test_the_cookie_is_secure_over_https_and_when_told(duban, org, monkeypatch):
    over_https = make_app(duban).test_client().get("/login", base_url="https://duban.example")
    assert session_cookie(over_https)["secure"] is True  # the page's session (its CSRF token)
    told = make_app(duban, monkeypatch, DUBAN_HTTPS="1").test_client()
    assert session_cookie(told.get("/login"))["secure"] is True


def test_a_cookie_saved_before_signing_out_is_refused_after(app, org):
    client = app.test_client()
    cookie = session_cookie(page_login(client, "responsible"))["value"]
    page = client.get("/tasks").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_of(page)}).status_code == 302

    thief = app.test_client()
    thief.set_cookie("session", cookie)
    response = thief.get("/tasks")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert page_login(app.test_client(), "responsible").status_code == 302  # signing in again works


def test_a_session_ends_after_its_hours_and_when_idle(duban, org, monkeypatch):
    from engine import session_policy

    with duban.db.transaction() as session:  # two idle hours (the security administrator's policy)
        session_policy.store(session, session_policy.Policy(idle_minutes=120))
    app = make_app(duban, monkeypatch, DUBAN_SESSION_HOURS="10")
    client = app.test_client()
    page_login(client, "responsible")
    for _ in range(5):  # used every 1 h 50 min: idle never reaches 2 h
        clock.advance(timedelta(hours=1, minutes=50))
        assert signed_in(client)
    clock.advance(timedelta(minutes=55))  # 10 h 05 min after signing in
    assert not signed_in(client)

    page_login(client, "responsible")
    clock.advance(timedelta(hours=2, minutes=1))  # idle
    assert not signed_in(client)


def test_session_hours_are_configurable(duban, org, monkeypatch):
    from engine.settings import Settings
    from engine.service import Duban

    monkeypatch.setenv("DUBAN_SESSION_HOURS", "1")
    settings = Settings.from_env(database_url=duban.settings.database_url,
                                 instance_path=duban.settings.instance_path, secret_key="test-secret")
    short = Duban(settings)
    try:
        app = make_app(short)
        assert app.permanent_session_lifetime == timedelta(hours=1)
        client = app.test_client()
        page_login(client, "responsible")
        clock.advance(timedelta(minutes=61))
        assert not signed_in(client)
    finally:
        short.db.dispose()


def test_a_password_reset_ends_sessions_and_revokes_tokens(api, app, org):
    token = api.token("responsible")
    assert api.get("/api/tasks", as_="responsible").status_code == 200
    browser = app.test_client()
    page_login(browser, "responsible")
    assert signed_in(browser)

    response = api.client.patch(f"/api/users/{org['user:responsible']}", json={"password": NEW_PASSWORD},
                                headers={"Authorization": f"Bearer {api.token('admin')}"})
    assert response.status_code == 200, response.json
    refused = api.client.get("/api/tasks", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and refused.json["code"] == "unauthenticated"
    assert "revoked" in refused.json["message"]
    assert not signed_in(browser)
    assert api.get("/api/tasks", as_="admin").status_code == 200  # the administrator's own token stays
    # a password an administrator set is changed by its owner before a token is issued
    refused = api.client.post("/api/auth/token", json={"username": "responsible", "password": NEW_PASSWORD})
    assert refused.status_code == 403 and refused.json["code"] == "password_change_required"
    own = "Quiet-harbour-lights-7"
    assert api.client.post("/api/auth/password", json={"username": "responsible", "password": NEW_PASSWORD,
                                                       "new_password": own}).status_code == 204
    fresh = api.client.post("/api/auth/token", json={"username": "responsible", "password": own})
    assert fresh.status_code == 200
    assert api.client.get("/api/tasks", headers={"Authorization": f"Bearer {fresh.json['token']}"}).status_code == 200


def test_deactivation_ends_sessions_and_revokes_tokens_for_good(api, app, org):
    token = api.token("responsible")
    browser = app.test_client()
    page_login(browser, "responsible")
    admin = {"Authorization": f"Bearer {api.token('admin')}"}
    assert api.client.patch(f"/api/users/{org['user:responsible']}", json={"active": False},
                            headers=admin).status_code == 200
    assert api.client.get("/api/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert not signed_in(browser)
    assert api.client.patch(f"/api/users/{org['user:responsible']}", json={"active": True},
                            headers=admin).status_code == 200
    assert api.client.get("/api/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert not signed_in(browser)
    assert page_login(browser, "responsible", PASSWORD).status_code == 302 and signed_in(browser)


def test_signing_out_leaves_api_tokens_alone(api, app, org):
    token = api.token("responsible")
    browser = app.test_client()
    page_login(browser, "responsible")
    browser.post("/logout", data={"csrf_token": csrf_of(browser.get("/tasks").get_data(as_text=True))})
    assert api.client.get("/api/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 200
