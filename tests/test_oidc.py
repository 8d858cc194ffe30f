"""统一身份认证 through OpenID Connect, against a real provider: oidc-provider (certified), run
by node from tests/oidc/provider.mjs. Duban is the Flask test client; the browser's trip to the
provider and back is followed by hand over real HTTP (requests); the token exchange, the JWKS,
the userinfo endpoint are Duban's own requests to the provider.

A first sign-in links the official with the same employee number (工号) or creates the account
with the roles the groups map to; a person in no mapped group is refused (and their account
disabled, with its tokens); an administrator gives the second factor unless the provider's
`amr` says one was given there; a tampered state, a refusal at the provider, a forged ID token
are refused with the sign-in page and a 4xx; signing out goes on to the provider's
end_session_endpoint with the ID token as hint; every step is a security event."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from sqlalchemy import select

from engine import clock, oidc, second_factor
from engine.errors import Misconfigured
from engine.models import Official, Role, SecurityEvent, User

from .helpers_oidc import ACCOUNTS, CLIENT_ID, CLIENT_SECRET, ROOT, missing, running_provider
from .helpers_oidc import config_text as duban_config
from .served import free_port
from .test_pages import token_of

DUBAN = "http://localhost"  # the Flask test client's host


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    """oidc-provider on a free port; yields (its issuer, the accounts file)."""
    if missing():
        pytest.skip(missing())
    with running_provider(tmp_path_factory.mktemp("oidc"), DUBAN) as running:
        yield running


def config_text(issuer: str) -> str:
    return duban_config(issuer, DUBAN)


@pytest.fixture
def oidc_app(duban, org, provider, tmp_path, monkeypatch):
    from web import create_app

    issuer, accounts = provider
    accounts.write_text(json.dumps(ACCOUNTS, ensure_ascii=False))  # as the module began, whatever a test changed
    path = tmp_path / "oidc.toml"
    path.write_text(config_text(issuer))
    monkeypatch.setenv(oidc.ENV, str(path))
    flask_app = create_app(duban=duban)
    flask_app.config["TESTING"] = True
    return flask_app


def through_provider(client, login: str | None, password: str | None = None, deny: bool = False,
                     tamper=None, next_: str | None = None, before_callback=None):
    """The browser's trip: Duban's start, the provider's sign-in form (login and password, or
    deny), back to Duban's callback (`tamper` may change its query first): Duban's answer."""
    started = client.get("/login/oidc" + (f"?next={next_}" if next_ else ""))
    assert started.status_code == 302, started.get_data(as_text=True)
    browser = requests.Session()
    url = started.headers["Location"]
    for _hop in range(10):
        if url.startswith(DUBAN):
            break
        answer = browser.get(url, allow_redirects=False, timeout=10)
        if answer.status_code == 200 and "/interaction/" in url:
            data = {"deny": "1"} if deny else {"login": login, "password": password}
            answer = browser.post(url, data=data, allow_redirects=False, timeout=10)
        assert answer.status_code in (302, 303), (url, answer.status_code, answer.text[:500])
        url = urljoin(url, answer.headers["Location"])
    else:
        raise AssertionError("the provider never sent the browser back")
    parts = urlsplit(url)
    query = parts.query if tamper is None else tamper(parts.query)
    if before_callback is not None:
        before_callback(client)
    return client.get(f"{parts.path}?{query}")


def events(duban, method_prefix="oidc"):
    with duban.db.reading() as session:
        return [(e.kind, e.result, e.subject, e.method, (e.details or {}).get("reason")) for e in session.scalars(
            select(SecurityEvent).where(SecurityEvent.method.like(f"{method_prefix}%")).order_by(SecurityEvent.id))]


def account(duban, username: str) -> User | None:
    with duban.db.reading() as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is not None:
            _ = user.roles
        return user


def test_the_first_sign_in_links_the_official_by_employee_number_and_maps_the_groups(oidc_app, duban, org):
    with duban.db.transaction() as session:
        session.get(Official, org["responsible"]).employee_number = "QJ-0042"
    client = oidc_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert "统一身份认证" in page and 'href="/login/oidc"' in page
    done = through_provider(client, "zhangke", "pw-zhangke", next_="/ledger")
    # (the employee number came from the userinfo endpoint: the provider keeps it out of the ID token)
    assert done.status_code == 302 and done.headers["Location"] == "/ledger", done.get_data(as_text=True)
    assert client.get("/ledger").status_code == 200
    user = account(duban, "responsible")
    assert (user.id, user.origin, user.external_id, user.display_name) == (
        org["user:responsible"], "oidc", "sub-zhangke", "张科长")
    assert user.roles == {Role.OFFICIAL}
    assert ("sign_in", "success", "responsible", "oidc", None) in events(duban)

    # a person without an official: a new account, the role from the groups
    fresh = oidc_app.test_client()
    assert through_provider(fresh, "mover", "pw-mover").status_code == 302
    mover = account(duban, "mover")
    assert (mover.origin, mover.external_id, mover.roles, mover.display_name) == (
        "oidc", "sub-mover", {Role.OFFICIAL}, "调动者")
    assert ("account_created", "success", "oidc", "oidc", None) in events(duban)


def test_a_person_in_no_mapped_group_is_refused_and_a_dropped_person_loses_account_and_tokens(
        oidc_app, duban, org, provider):
    client = oidc_app.test_client()
    refused = through_provider(client, "wanderer", "pw-wanderer")
    assert refused.status_code == 403
    assert "未对应督办系统的任何角色" in refused.get_data(as_text=True)
    assert account(duban, "wanderer") is None
    assert ("sign_in", "failure", "wanderer", "oidc", "no_mapped_role") in events(duban)

    assert through_provider(oidc_app.test_client(), "mover", "pw-mover").status_code == 302
    with duban.db.reading() as session:
        token = duban.tokens.issue(session.scalars(select(User).where(User.username == "mover")).one())
    api = oidc_app.test_client()
    assert api.get("/api/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    _issuer, accounts = provider
    moved = json.loads(accounts.read_text())
    moved["mover"]["claims"]["groups"] = ["visitors"]
    accounts.write_text(json.dumps(moved, ensure_ascii=False))
    again = through_provider(oidc_app.test_client(), "mover", "pw-mover")
    assert again.status_code == 403
    assert not account(duban, "mover").active
    assert api.get("/api/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert ("account_disabled", "success", "oidc", "oidc", "no_mapped_role") in events(duban)
    assert events(duban)[-1] == ("sign_in", "failure", "mover", "oidc", "no_mapped_role")
    # the API's password door has no password for it
    assert api.post("/api/auth/token", json={"username": "mover", "password": "pw-mover"}).status_code == 401


def test_an_administrator_gives_the_second_factor_unless_the_provider_says_one_was_given(oidc_app, duban, org):
    with duban.db.transaction() as session:
        second_factor.set_required(session, True, "the test")
    client = oidc_app.test_client()
    first = through_provider(client, "chenadmin", "pw-chen")
    assert first.status_code == 302 and first.headers["Location"] == "/login/oidc/second-factor"
    assert client.get("/ledger").status_code == 302, "not signed in before the second factor"
    page = client.get("/login/oidc/second-factor").get_data(as_text=True)
    assert 'action="/login/oidc/second-factor"' in page
    wrong = client.post("/login/oidc/second-factor", data={"csrf_token": token_of(page), "code": "000000"})
    assert wrong.status_code == 400 and "动态口令不对" in wrong.get_data(as_text=True)
    page = wrong.get_data(as_text=True)  # a new secret to scan
    secret = re.search(r"data-secret>([A-Z2-7 ]+)<", page).group(1).replace(" ", "")
    done = client.post("/login/oidc/second-factor", data={"csrf_token": token_of(page),
                                                          "code": second_factor.current_code(secret)})
    assert done.status_code == 200 and len(re.findall(r"data-code>", done.get_data(as_text=True))) == 10
    assert client.get("/ledger").status_code == 200
    assert ("sign_in", "success", "chenadmin", "oidc+totp", None) in events(duban)

    # the next time the enrolled code is asked for
    clock.advance(timedelta(seconds=60))
    again = oidc_app.test_client()
    assert through_provider(again, "chenadmin", "pw-chen").headers["Location"] == "/login/oidc/second-factor"
    form = again.get("/login/oidc/second-factor").get_data(as_text=True)
    assert "data-oidc-second-factor" in form
    bad = again.post("/login/oidc/second-factor", data={"csrf_token": token_of(form), "code": "123456"})
    assert bad.status_code == 401 and "动态口令错误" in bad.get_data(as_text=True)
    good = again.post("/login/oidc/second-factor", data={"csrf_token": token_of(form),
                                                         "code": second_factor.current_code(secret)})
    assert good.status_code == 302 and again.get("/ledger").status_code == 200
    assert ("second_factor_failed", "failure", "chenadmin", "totp", None) in events(duban, "")

    # the provider's amr says a second factor was given there: none asked here
    trusted = oidc_app.test_client()
    signed = through_provider(trusted, "limfa", "pw-li")
    assert signed.status_code == 302 and signed.headers["Location"] == "/ledger", signed.headers
    assert trusted.get("/ledger").status_code == 200
    assert ("sign_in", "success", "limfa", "oidc+amr:mfa", None) in events(duban)
    assert account(duban, "limfa").roles == {Role.ADMIN}


def test_signing_out_goes_on_to_the_providers_end_session_with_the_id_token(oidc_app, duban, org, provider):
    issuer, _accounts = provider
    client = oidc_app.test_client()
    assert through_provider(client, "mover", "pw-mover").status_code == 302
    with client.session_transaction() as cookie:
        id_token = cookie["oidc_id_token"]
    page = client.get("/ledger")
    csp = page.headers["Content-Security-Policy"]
    assert f"form-action 'self' {issuer}" in csp
    out = client.post("/logout", data={"csrf_token": token_of(page.get_data(as_text=True))})
    assert out.status_code == 302
    location = urlsplit(out.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{issuer}/session/end"
    query = parse_qs(location.query)
    assert query["id_token_hint"] == [id_token] and query["post_logout_redirect_uri"] == [f"{DUBAN}/login"]
    assert requests.get(out.headers["Location"], timeout=10).status_code == 200  # the provider's sign-out page
    assert client.get("/ledger").status_code == 302
    with duban.db.reading() as session:
        assert session.scalars(select(SecurityEvent.kind).where(SecurityEvent.subject == "mover")
                               .order_by(SecurityEvent.id.desc())).first() == "sign_out"

    # an ID token whose nonce is not the one sent is not good
    checker = oidc.Provider(oidc.parse({"issuer": issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                        "group_mappings": [{"group": "*", "role": "official"}]}))
    with pytest.raises(oidc.ProviderError) as invalid:
        checker._validate(id_token, "another-nonce")
    assert invalid.value.reason == "invalid_token"
    forged = id_token[:-4] + ("AAAA" if not id_token.endswith("AAAA") else "BBBB")
    with pytest.raises(oidc.ProviderError):
        checker._validate(forged, "whatever")


def test_a_tampered_state_a_refusal_at_the_provider_and_a_stray_callback_are_refused(oidc_app, duban, org):
    tampered = through_provider(oidc_app.test_client(), "zhangke", "pw-zhangke",
                                tamper=lambda query: re.sub(r"state=[^&]+", "state=forged", query))
    assert tampered.status_code == 400 and "登录请求已失效" in tampered.get_data(as_text=True)
    assert account(duban, "zhangke") is None
    denied = through_provider(oidc_app.test_client(), None, deny=True)
    assert denied.status_code == 403 and "取消了授权" in denied.get_data(as_text=True)
    stray = oidc_app.test_client().get("/login/oidc/callback?code=abc&state=xyz")
    assert stray.status_code == 400
    assert [e[4] for e in events(duban) if e[1] == "failure"] == ["state_mismatch", "access_denied",
                                                                  "state_mismatch"]


def test_an_unreachable_provider_is_a_clear_message_not_an_error(duban, org, tmp_path, monkeypatch):
    from web import create_app

    path = tmp_path / "oidc.toml"
    path.write_text(config_text(f"http://127.0.0.1:{free_port()}"))
    monkeypatch.setenv(oidc.ENV, str(path))
    app = create_app(duban=duban)
    app.config["TESTING"] = True
    answer = app.test_client().get("/login/oidc")
    assert answer.status_code == 503 and "暂时无法访问" in answer.get_data(as_text=True)
    assert events(duban)[-1] == ("sign_in", "failure", "oidc", "oidc", "unreachable")


def test_without_a_configuration_there_is_no_button_and_no_door(app, org):
    client = app.test_client()
    assert "统一身份认证" not in client.get("/login").get_data(as_text=True)
    assert client.get("/login/oidc").status_code == 404


@pytest.mark.parametrize("change, key", [
    ({"issuer": None}, "issuer"),
    ({"issuer": "not a url"}, "issuer"),
    ({"client_secret": ""}, "client_secret"),
    ({"group_mappings": []}, "group_mappings"),
    ({"group_mappings": [{"group": "g", "role": "king"}]}, "group_mappings[0].role"),
    ({"attributes": {"phone": "phone_number"}}, "attributes.phone"),
    ({"scopes": ["profile"]}, "scopes"),
    ({"timeout": 0}, "timeout"),
    ({"colour": "red"}, "colour"),
])
def test_a_bad_configuration_names_the_key(change, key):
    data = {"issuer": "https://sso.example.gov.cn/realms/duban", "client_id": "duban", "client_secret": "s",
            "group_mappings": [{"group": "*", "role": "official"}]}
    data = {k: v for k, v in (data | change).items() if v is not None}
    with pytest.raises(Misconfigured) as bad:
        oidc.parse(data)
    assert key in bad.value.errors and key in str(bad.value)


def test_the_example_configuration_reads_and_maps_the_claims():
    config = oidc.load(ROOT / "config" / "oidc.example.toml")
    assert config.scopes == ("openid", "profile", "email") and config.mfa_amr == oidc.DEFAULT_MFA_AMR
    person = config.identity({"sub": "f:1", "preferred_username": "zhangke", "name": "张科长",
                              "employee_number": "QJ-0042", "groups": ["/duban/officials"], "amr": ["pwd", "otp"]})
    assert (person.username, person.employee_number, person.roles) == ("zhangke", "QJ-0042", {Role.OFFICIAL})
    assert config.second_factor_given({"amr": ["pwd", "otp"]}) == "otp"
    assert config.second_factor_given({"amr": ["pwd"]}) is None


def test_the_button_and_a_refusal_in_english(oidc_app, duban, org):
    client = oidc_app.test_client()
    client.get("/lang/en")
    assert "Single sign-on" in client.get("/login").get_data(as_text=True)
    stray = client.get("/login/oidc/callback?code=abc&state=xyz")
    assert stray.status_code == 400 and "did not come from this site" in stray.get_data(as_text=True)


def test_an_id_token_for_another_nonce_is_refused(oidc_app, duban, org):
    def forget_nonce(client):
        with client.session_transaction() as cookie:
            cookie["oidc_flow"] = dict(cookie["oidc_flow"], nonce="another-nonce")

    refused = through_provider(oidc_app.test_client(), "zhangke", "pw-zhangke", before_callback=forget_nonce)
    assert refused.status_code == 401 and "身份令牌无效" in refused.get_data(as_text=True)
    assert account(duban, "zhangke") is None
    assert events(duban)[-1] == ("sign_in", "failure", "oidc", "oidc", "invalid_token")


def test_an_answer_naming_another_issuer_is_refused(oidc_app, duban, org):
    mixed = through_provider(oidc_app.test_client(), "zhangke", "pw-zhangke",
                             tamper=lambda query: re.sub(r"iss=[^&]+", "iss=https%3A%2F%2Fevil.example", query))
    assert mixed.status_code == 400
    assert account(duban, "zhangke") is None
    assert events(duban)[-1] == ("sign_in", "failure", "oidc", "oidc", "state_mismatch")
    with duban.db.reading() as session:
        last = session.scalars(select(SecurityEvent).order_by(SecurityEvent.id.desc())).first()
        assert last.details["iss"] == "https://evil.example"


def test_a_bad_configuration_file_stops_the_start_naming_the_key(duban, tmp_path, monkeypatch):
    from web import create_app

    path = tmp_path / "oidc.toml"
    path.write_text(config_text("https://sso.example.gov.cn").replace('role = "admin"', 'role = "emperor"'))
    monkeypatch.setenv(oidc.ENV, str(path))
    with pytest.raises(Misconfigured) as bad:
        create_app(duban=duban)
    assert "group_mappings[1].role" in str(bad.value) and "emperor" in str(bad.value)
    monkeypatch.setenv(oidc.ENV, str(tmp_path / "missing.toml"))
    with pytest.raises(Misconfigured) as missing:
        create_app(duban=duban)
    assert oidc.ENV in missing.value.errors


def test_the_security_administrator_sees_the_provider_and_checks_its_discovery(oidc_app, duban, org, provider,
                                                                             tmp_path, monkeypatch):
    """统一身份认证设置 with a provider: its issuer, client, claims and group mappings, whether a
    client secret is set (never the secret); the check reads its discovery document now, and an
    unreachable provider is a failed row naming the address."""
    from engine import accounts

    from .support import PASSWORD
    from .test_pages import login

    with duban.db.transaction() as session:
        accounts.create_user(session, "secadmin", "安全管理员", PASSWORD, {Role.SECURITY_ADMIN})
    client = oidc_app.test_client()
    assert login(client, "secadmin").status_code == 302
    text = client.get("/security/sso").get_data(as_text=True)
    issuer, _accounts = provider
    assert issuer in text and CLIENT_ID in text and "密钥已设置" in text and CLIENT_SECRET not in text
    assert 'data-ldap="off"' in text
    checked = client.post("/security/sso/check", data={"csrf_token": token_of(text)}).get_data(as_text=True)
    assert checked.count('data-check="ok"') == 1 and "authorization at" in checked

    from web import create_app

    path = tmp_path / "gone.toml"
    gone = f"http://127.0.0.1:{free_port()}"
    path.write_text(config_text(gone))
    monkeypatch.setenv(oidc.ENV, str(path))
    elsewhere = create_app(duban=duban)
    elsewhere.config["TESTING"] = True
    client = elsewhere.test_client()
    assert login(client, "secadmin").status_code == 302
    text = client.get("/security/sso").get_data(as_text=True)
    checked = client.post("/security/sso/check", data={"csrf_token": token_of(text)}).get_data(as_text=True)
    assert checked.count('data-check="failed"') == 1 and gone in checked
