"""The second factor (动态口令, TOTP): the roles the policy names enrol on the sign-in page by a
QR code and get ten recovery codes; then the page and the API want the app's code with the
password; a code is good once, a wrong one counts towards the lockout, a recovery code replaces
a lost phone once; the security administrator resets it; the demo switches the requirement off."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import accounts, clock, second_factor
from engine.models import Role, SecurityEvent

from .support import PASSWORD
from .test_pages import login, token_of


@pytest.fixture
def required(duban, org):
    with duban.db.transaction() as session:
        second_factor.set_required(session, True, "the test")
        accounts.create_user(session, "secadmin", "安全管理员", PASSWORD, {Role.SECURITY_ADMIN})


def kinds(duban) -> list[tuple[str, str, str | None]]:
    with duban.db.reading() as session:
        return [(e.kind, e.result, e.method) for e in session.scalars(
            select(SecurityEvent).where(SecurityEvent.method.is_(None) | (SecurityEvent.method != "shipped"))
            .order_by(SecurityEvent.id))]


def token_answer(api, username: str, code: str | None = None):
    body = {"username": username, "password": PASSWORD} | ({"code": code} if code else {})
    return api.client.post("/api/auth/token", json=body)


def enrol(app, username: str = "admin") -> tuple[object, str, list[str]]:
    """Sign in on the page, enrol with the QR code's secret: (the signed-in client, the secret,
    the recovery codes)."""
    client = app.test_client()
    first = login(client, username)
    assert first.status_code == 302 and first.headers["Location"].endswith("/login/second-factor"), first.headers
    page = client.get("/login/second-factor").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page
    secret = re.search(r"data-secret>([A-Z2-7 ]+)<", page).group(1).replace(" ", "")
    done = client.post("/login/second-factor", data={"csrf_token": token_of(page),
                                                     "code": second_factor.current_code(secret)})
    assert done.status_code == 200, done.get_data(as_text=True)
    codes = re.findall(r"data-code>([A-Z0-9-]+)<", done.get_data(as_text=True))
    return client, secret, codes


def test_an_administrator_enrols_on_the_page_and_then_gives_the_code_everywhere(app, api, duban, required):
    refused = token_answer(api, "admin")
    assert refused.status_code == 401 and "enrol a second factor" in refused.json["errors"]["code"][0]

    client, secret, codes = enrol(app)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/ledger").status_code == 200  # signed in by the enrolment
    assert ("second_factor_enrolled", "success", "totp") in kinds(duban)
    assert ("sign_in", "success", "password+totp") in kinds(duban)

    missing = token_answer(api, "admin")
    assert missing.status_code == 401 and "code" in missing.json["errors"]
    used = second_factor.current_code(secret)
    assert token_answer(api, "admin", used).status_code == 401  # the enrolment's code, used already
    clock.advance(timedelta(seconds=30))
    fresh = second_factor.current_code(secret)
    assert token_answer(api, "admin", fresh).status_code == 200
    assert token_answer(api, "admin", fresh).status_code == 401  # once only
    assert ("second_factor_failed", "failure", "totp") in kinds(duban)

    page = app.test_client()
    asked = login(page, "admin")
    assert asked.status_code == 401 and "6 位动态口令" in asked.get_data(as_text=True)
    clock.advance(timedelta(seconds=30))
    form = page.get("/login")
    signed = page.post("/login", data={"username": "admin", "password": PASSWORD,
                                       "code": second_factor.current_code(secret),
                                       "csrf_token": token_of(form.get_data(as_text=True))})
    assert signed.status_code == 302


def test_a_recovery_code_replaces_a_lost_phone_once(app, api, duban, required):
    _client, _secret, codes = enrol(app)
    typed = token_answer(api, "admin", codes[3].lower().replace("-", " "))
    assert typed.status_code == 200, typed.json
    assert token_answer(api, "admin", codes[3]).status_code == 401
    with duban.db.reading() as session:
        user = session.scalars(select(accounts.User).where(accounts.User.username == "admin")).one()
        assert second_factor.recovery_codes_left(session, user) == 9
    assert ("sign_in", "success", "password+recovery code") in kinds(duban)


def test_wrong_codes_count_towards_the_lockout(app, api, duban, required):
    enrol(app)
    for _ in range(4):
        assert token_answer(api, "admin", "000000").status_code == 401
    assert token_answer(api, "admin", "000000").status_code == 429  # the fifth failure locks the name
    assert [k for k, _r, _m in kinds(duban)].count("locked") == 1


def test_roles_the_policy_leaves_out_sign_in_with_the_password_and_the_demo_switch_is_honoured(api, duban, required):
    assert token_answer(api, "responsible").status_code == 200  # an official: not required
    assert token_answer(api, "jiwei").status_code == 401        # the discipline office: required
    with duban.db.transaction() as session:
        second_factor.set_required(session, False, "the demo")
    assert token_answer(api, "jiwei").status_code == 200


def test_only_the_security_administrator_resets_a_second_factor(app, api, duban, org, required):
    _client, secret, _codes = enrol(app)
    admin_id = org["user:admin"]
    clock.advance(timedelta(seconds=30))
    bearer = token_answer(api, "admin", second_factor.current_code(secret)).json["token"]
    assert api.client.delete(f"/api/auth/second-factor/{admin_id}",
                             headers={"Authorization": f"Bearer {bearer}"}).status_code == 403
    enrol(app, "secadmin")
    with duban.db.reading() as session:
        sec = session.scalars(select(accounts.User).where(accounts.User.username == "secadmin")).one()
        sec_secret = second_factor.secret_of(session, sec, duban.sealer)
    clock.advance(timedelta(seconds=30))
    sec_bearer = token_answer(api, "secadmin", second_factor.current_code(sec_secret)).json["token"]
    assert api.client.delete(f"/api/auth/second-factor/{admin_id}",
                             headers={"Authorization": f"Bearer {sec_bearer}"}).status_code == 204
    assert api.client.get("/api/problems", headers={"Authorization": f"Bearer {bearer}"}).status_code == 401
    assert token_answer(api, "admin").status_code == 401  # enrols again on the page
    assert ("second_factor_reset", "success", None) in kinds(duban)


def test_the_secret_is_kept_sealed_with_sm4_bound_to_its_account(app, api, duban, org, required):
    """A copy of the database gives nobody the codes: the secret is stored sealed (SM4-GCM under
    the data key outside the database); moved onto another account's row it does not open; under
    another key, sign-in answers 401 naming the data key and changes nothing but the log."""
    _client, secret, _codes = enrol(app)
    enrol(app, "secadmin")
    with duban.db.reading() as session:
        admin = session.get(accounts.User, org["user:admin"])
        sec = session.scalars(select(accounts.User).where(accounts.User.username == "secadmin")).one()
        stored = {row.user_id: row.secret for row in session.scalars(select(second_factor.SecondFactor))}
        assert second_factor.secret_of(session, admin, duban.sealer) == secret
    assert stored[admin.id].startswith("sm4gcm:") and secret not in stored[admin.id]
    import base64
    assert secret.encode() not in base64.urlsafe_b64decode(stored[admin.id][len("sm4gcm:"):])

    with duban.db.transaction() as session:  # the admin's sealed secret copied onto secadmin's row
        session.get(second_factor.SecondFactor, sec.id).secret = stored[admin.id]
    clock.advance(timedelta(seconds=30))
    refused = token_answer(api, "secadmin", second_factor.current_code(secret))
    assert refused.status_code == 401 and "data key" in refused.json["errors"]["code"][0], refused.json

    from engine.sealed import Sealer
    kept = duban.sealer
    duban.sealer = Sealer(bytes(16))  # another installation's key
    try:
        with duban.db.reading() as session:
            before = session.get(second_factor.SecondFactor, admin.id).last_step
        refused = token_answer(api, "admin", second_factor.current_code(secret))
        assert refused.status_code == 401 and "DUBAN_DATA_KEY" in refused.json["message"], refused.json
        with duban.db.reading() as session:
            assert session.get(second_factor.SecondFactor, admin.id).last_step == before
        assert ("sign_in", "failure", "password") in kinds(duban)
    finally:
        duban.sealer = kept
    assert token_answer(api, "admin", second_factor.current_code(secret)).status_code == 200
