"""Signing in with the office's directory account (统一身份认证) against a real OpenLDAP
server (tests/directory_server.py): the page and the API take directory credentials, the
account is linked by employee number or created with the roles the groups map to (memberOf or
a group search); wrong passwords count towards the lockout; a person removed from the mapped
group or from the directory is refused at the next sign-in and their token stops, at once or
at the token's re-check; the local break-glass administrator still signs in; a dead directory
is a quick, clear refusal; the login name cannot widen the search; a bad ldap.toml is named."""
from __future__ import annotations

import itertools
import re
import socket
import time
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine import clock, directory, second_factor
from engine.errors import Misconfigured
from engine.models import Official, SecurityEvent, User
from engine.service import Duban
from engine.settings import Settings

from .directory_server import (GROUPS, PEOPLE, config_toml, directory_server, group_dn,  # noqa: F401 - fixture
                               needs_slapd, person_dn)
from .support import PASSWORD
from .test_pages import login, token_of

pytestmark = needs_slapd

fresh = itertools.count(1)


@pytest.fixture
def group_search():
    return False


@pytest.fixture
def ldap_toml(directory_server, tmp_path, group_search):
    path = tmp_path / "ldap.toml"
    path.write_text(config_toml(directory_server, group_search=group_search), encoding="utf-8")
    return path


@pytest.fixture
def settings(database_url, tmp_path, ldap_toml):
    return Settings.from_env(database_url=database_url, instance_path=tmp_path / "instance",
                             secret_key="test-secret", ldap_config=ldap_toml)


def newcomer(server, groups=("duban-officials",), number=None) -> tuple[str, str]:
    """A person of the test's own in the directory (the server is shared by the module)."""
    import ldap3

    uid, password = f"person{next(fresh)}x{int(time.time() * 1000) % 100000}", "pw-Secret-9"
    with server.admin() as conn:
        conn.add(person_dn(uid), ["inetOrgPerson"], {"uid": uid, "cn": "钱新人", "sn": "钱", "displayName": "钱新人",
                                                     "employeeNumber": number or f"QJ-{uid}",
                                                     "userPassword": password})
        for group in groups:
            conn.modify(group_dn(group), {"member": [(ldap3.MODIFY_ADD, [person_dn(uid)])]})
    return uid, password


def token(api, username, password):
    return api.client.post("/api/auth/token", json={"username": username, "password": password})


def bearer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


def events(duban, method_like: str = "ldap"):
    with duban.db.reading() as session:
        return [(e.kind, e.result, e.method, e.subject, (e.details or {}).get("reason"))
                for e in session.scalars(select(SecurityEvent).order_by(SecurityEvent.id))
                if e.method and e.method.startswith(method_like)]


@pytest.mark.parametrize("group_search", [False, True], ids=["memberOf", "group-search"])
def test_directory_credentials_sign_in_by_api_and_page_linking_by_employee_number(api, app, duban, org,
                                                                                  group_search):
    with duban.db.transaction() as session:
        session.get(Official, org["responsible"]).employee_number = "QJ-0042"
    answer = token(api, "zhangke", "zk-pass-1")
    assert answer.status_code == 200, answer.json
    assert (answer.json["username"], answer.json["roles"]) == ("responsible", ["official"])
    assert api.client.get("/api/problems", headers=bearer(answer.json["token"])).status_code == 200
    with duban.db.reading() as session:
        linked = session.get(User, org["user:responsible"])
        assert (linked.origin, linked.external_id) == ("ldap", person_dn("zhangke"))
        assert linked.display_name == "张科" and linked.directory_checked_at is not None
    # the responsible's old local password no longer opens the account, and the Duban name the
    # directory does not know leaves the linked account alone
    assert token(api, "responsible", PASSWORD).status_code == 401
    clock.advance(timedelta(minutes=16))  # the token's re-check finds the person by the link
    assert api.client.get("/api/problems", headers=bearer(answer.json["token"])).status_code == 200
    with duban.db.reading() as session:
        assert session.get(User, org["user:responsible"]).active

    page = app.test_client()
    signed = login(page, "liwei", "lw-pass-1")
    assert signed.status_code == 302, signed.get_data(as_text=True)
    assert page.get("/ledger").status_code == 200
    with duban.db.reading() as session:
        created = session.scalars(select(User).where(User.username == "liwei")).one()
        assert {r.value for r in created.roles} == {"discipline"} and created.display_name == "李伟"
    assert ("sign_in", "success", "ldap", "responsible", None) in events(duban)
    assert ("token_issued", "success", "ldap", "responsible", None) in events(duban)
    assert ("sign_in", "success", "ldap", "liwei", None) in events(duban)
    assert ("account_created", "success", "ldap", "ldap", None) in events(duban)


def test_the_login_page_says_the_directory_is_in_use(app):
    page = app.test_client().get("/login").get_data(as_text=True)
    assert "使用统一身份认证账号登录" in page


def test_wrong_passwords_are_refused_and_count_towards_the_lockout(api, app, duban):
    assert token(api, "wangfang", "wrong").status_code == 401
    page = app.test_client()
    answer = login(page, "wangfang", "wrong")
    assert answer.status_code == 401 and "用户名或密码错误" in answer.get_data(as_text=True)
    for _ in range(2):
        assert token(api, "wangfang", "wrong").status_code == 401
    locked = token(api, "wangfang", "wrong")
    assert locked.status_code == 429 and locked.headers["Retry-After"], locked.json
    # locked: even the right password is refused, without asking the directory
    assert token(api, "wangfang", "wf-pass-1").status_code == 429
    kinds = events(duban)
    assert sum(1 for e in kinds if e[:3] == ("sign_in", "failure", "ldap") and e[4] == "wrong name or password") == 5
    assert kinds[-1][4] == "locked"
    assert any(e[0] == "locked" for e in kinds)
    clock.advance(timedelta(minutes=16))
    assert token(api, "wangfang", "wf-pass-1").status_code == 200


def test_an_empty_password_is_never_a_bind(directory_server, ldap_toml, app):
    office = directory.Directory(directory.load(ldap_toml))
    assert office.authenticate("zhangke", "").identity is None
    assert office.authenticate("zhangke", "").found is True
    page = app.test_client()
    assert login(page, "zhangke", "").status_code == 401


def test_a_person_removed_from_the_mapped_group_is_refused_and_their_token_stops(api, duban, directory_server):
    uid, password = newcomer(directory_server)
    first = token(api, uid, password)
    assert first.status_code == 200 and first.json["roles"] == ["official"]
    held = bearer(first.json["token"])
    directory_server.remove_member("duban-officials", uid)
    # within recheck_minutes the token is taken on the directory's last word
    assert api.client.get("/api/problems", headers=held).status_code == 200
    clock.advance(timedelta(minutes=16))
    assert api.client.get("/api/problems", headers=held).status_code == 401  # re-checked: refused
    with duban.db.reading() as session:
        user = session.scalars(select(User).where(User.username == uid)).one()
        assert not user.active and user.directory_refused_at is not None
    assert ("account_disabled", "success", "ldap", "ldap", "no_mapped_role") in events(duban)
    refused = token(api, uid, password)
    assert refused.status_code == 401 and "no group" in refused.json["message"]


def test_the_next_sign_in_of_a_person_out_of_the_group_ends_their_tokens_at_once(api, duban, directory_server):
    uid, password = newcomer(directory_server)
    held = bearer(token(api, uid, password).json["token"])
    directory_server.remove_member("duban-officials", uid)
    assert token(api, uid, password).status_code == 401
    assert api.client.get("/api/problems", headers=held).status_code == 401  # no clock needed


def test_a_person_deleted_from_the_directory_is_refused_and_their_token_stops(api, app, duban, directory_server):
    uid, password = newcomer(directory_server)
    held = bearer(token(api, uid, password).json["token"])
    directory_server.delete_person(uid)
    page = app.test_client()
    assert login(page, uid, password).status_code == 401
    assert api.client.get("/api/problems", headers=held).status_code == 401
    with duban.db.reading() as session:
        assert not session.scalars(select(User).where(User.username == uid)).one().active
    assert any(e[0] == "account_disabled" for e in events(duban))


def test_a_token_is_rechecked_after_recheck_minutes_even_when_the_person_is_deleted(api, duban, directory_server):
    uid, password = newcomer(directory_server)
    held = bearer(token(api, uid, password).json["token"])
    directory_server.delete_person(uid)
    clock.advance(timedelta(minutes=16))
    assert api.client.get("/api/problems", headers=held).status_code == 401


def test_the_local_break_glass_administrator_still_signs_in(api, app, org):
    answer = token(api, "admin", PASSWORD)
    assert answer.status_code == 200 and answer.json["roles"] == ["admin"]
    assert login(app.test_client(), "admin").status_code == 302


def test_the_second_factor_is_asked_of_directory_accounts_as_of_local_ones(api, app, duban, org):
    with duban.db.transaction() as session:
        second_factor.set_required(session, True, "the test")
    refused = token(api, "liwei", "lw-pass-1")  # the discipline office: the policy requires it
    assert refused.status_code == 401 and "code" in refused.json["errors"], refused.json
    assert token(api, "zhangke", "zk-pass-1").status_code == 200  # an official: not required
    # the page enrols the directory account as it does a local one
    page = app.test_client()
    first = login(page, "liwei", "lw-pass-1")
    assert first.status_code == 302 and first.headers["Location"].endswith("/login/second-factor"), first.headers
    form = page.get("/login/second-factor").get_data(as_text=True)
    secret = re.search(r"data-secret>([A-Z2-7 ]+)<", form).group(1).replace(" ", "")
    done = page.post("/login/second-factor", data={"csrf_token": token_of(form),
                                                   "code": second_factor.current_code(secret)})
    assert done.status_code == 200 and page.get("/ledger").status_code == 200
    clock.advance(timedelta(seconds=30))
    answer = api.client.post("/api/auth/token", json={"username": "liwei", "password": "lw-pass-1",
                                                      "code": second_factor.current_code(secret)})
    assert answer.status_code == 200, answer.json
    assert [e[2] for e in events(duban) if e[:2] == ("sign_in", "success") and e[3] == "liwei"] == [
        "ldap+totp", "ldap+totp"]


def test_a_person_in_no_mapped_group_is_refused_on_the_page_with_the_reason(app, duban):
    page = app.test_client()
    answer = login(page, "nogroup", "ng-pass-1")
    assert answer.status_code == 401 and "不在任何授权督办系统角色的用户组中" in answer.get_data(as_text=True)
    assert ("sign_in", "failure", "ldap", "nogroup", "no_mapped_role") in events(duban)


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (a hung directory)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


def _dead_config(tmp_path, server, port: int, with_live: bool) -> str:
    live = config_toml(server, timeout=1)
    dead = live.replace(f"port = {server.port}", f"port = {port}")
    if not with_live:
        return dead
    # the dead server first, then the live one
    head, _, servers = dead.partition("[[servers]]")
    _, _, live_servers = live.partition("[[servers]]")
    return f"{head}[[servers]]{servers}\n[[servers]]{live_servers}"


@pytest.mark.parametrize("kind", ["hung", "closed"])
def test_a_directory_that_is_down_is_a_quick_clear_refusal(tmp_path, database_url, directory_server, silent_port,
                                                          kind):
    from web import create_app

    from .directory_server import free_port

    port = silent_port if kind == "hung" else free_port()
    path = tmp_path / "dead.toml"
    path.write_text(_dead_config(tmp_path, directory_server, port, with_live=False), encoding="utf-8")
    app = Duban(Settings.from_env(database_url=database_url, instance_path=tmp_path / "i", secret_key="t",
                                  ldap_config=path))
    try:
        flask_app = create_app(duban=app)
        flask_app.config["TESTING"] = True
        client = flask_app.test_client()
        began = time.monotonic()
        answer = client.post("/api/auth/token", json={"username": "zhangke", "password": "zk-pass-1"})
        assert answer.status_code == 503 and answer.json["code"] == "unavailable", answer.json
        assert "unreachable" in answer.json["message"] and answer.headers.get("Retry-After")
        page = login(client, "zhangke", "zk-pass-1")
        assert page.status_code == 503 and "统一身份认证服务暂时无法连接" in page.get_data(as_text=True)
        assert time.monotonic() - began < 8
        refused = events(app)[0]
        assert refused[:3] == ("sign_in", "failure", "ldap") and refused[4] == "directory unreachable"
    finally:
        app.db.dispose()


def test_a_dead_server_is_passed_over_for_the_next(tmp_path, database_url, directory_server, silent_port):
    path = tmp_path / "two.toml"
    path.write_text(_dead_config(tmp_path, directory_server, silent_port, with_live=True), encoding="utf-8")
    office = directory.Directory(directory.load(path))
    assert len(office.config.servers) == 2
    began = time.monotonic()
    assert office.authenticate("zhangke", "zk-pass-1").identity.employee_number == "QJ-0042"
    assert time.monotonic() - began < 5


def test_names_no_account_can_have_are_not_sent(directory_server, ldap_toml, app):
    office = directory.Directory(directory.load(ldap_toml))
    assert office.authenticate("x" * 61, "zk-pass-1").found is False
    assert office.authenticate("zhang\ud800ke", "zk-pass-1").found is False
    assert office.authenticate("zhangke", "zk\ud800").identity is None
    page = app.test_client()
    assert login(page, "zhang\x00ke", "zk-pass-1").status_code in (400, 401)


@pytest.mark.parametrize("typed", ["*", "zhang*", "*)(uid=*", "zhangke)(|(uid=*", "\\", "zhangke\\2a", "*)(|(objectClass=*)"])
def test_injection_characters_in_the_name_do_not_widen_the_search(typed, api, ldap_toml):
    office = directory.Directory(directory.load(ldap_toml))
    for password in ("zk-pass-1", "lw-pass-1"):
        assert office.authenticate(typed, password).identity is None
        assert token(api, typed, password).status_code == 401


def test_config_errors_are_named(tmp_path, directory_server):
    def problem(text: str) -> Misconfigured:
        path = tmp_path / "bad.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(Misconfigured) as raised:
            directory.load(path)
        return raised.value

    good = config_toml(directory_server)
    assert "servers[0].host" in problem(good.replace(f'host = "{directory_server.host}"', "")).errors
    bad_role = problem(good.replace('role = "discipline"', 'role = "mayor"'))
    assert "servers[0].group_mappings[1].role" in bad_role.errors and "mayor" in bad_role.message
    assert "DUBAN_LDAP_CONFIG" in problem("[[servers]\nhost=").errors
    assert "servers[0].search_filter" in problem(good.replace("(uid={username})", "(uid=zhangke)")).errors
    assert "servers[0].hots" in problem(good.replace("host =", "hots =")).errors
    assert "servers" in problem("recheck_minutes = 5\n").errors
    with pytest.raises(Misconfigured) as missing:
        directory.load(tmp_path / "nowhere.toml")
    assert "no such file" in missing.value.message
    # the server will not start with it
    (tmp_path / "bad.toml").write_text(good.replace('role = "discipline"', 'role = "mayor"'), encoding="utf-8")
    with pytest.raises(Misconfigured):
        Duban(Settings.from_env(database_url="sqlite://", instance_path=tmp_path / "i", secret_key="t",
                                ldap_config=tmp_path / "bad.toml"))


def test_the_ldap_check_command_binds_and_looks_a_person_up(ldap_toml, tmp_path):
    from web.cli import main

    result = CliRunner().invoke(main, ["ldap", "check", "--config", str(ldap_toml), "--user", "liwei"])
    assert result.exit_code == 0, result.output
    assert "ok (bound as cn=admin" in result.output and "李伟" in result.output and "discipline" in result.output
    assert "root-secret" not in result.output
    missing = CliRunner().invoke(main, ["ldap", "check", "--config", str(ldap_toml), "--user", "nobody"])
    assert missing.exit_code == 1 and "not found" in missing.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[[servers]]\nport = 389\n", encoding="utf-8")
    named = CliRunner().invoke(main, ["ldap", "check", "--config", str(bad)])
    assert named.exit_code == 2 and "servers[0].host" in named.output


def test_the_security_administrator_sees_and_checks_the_single_sign_on_settings(app, duban, org, directory_server,
                                                                               tmp_path, silent_port):
    """统一身份认证设置: the security administrator reads the directory settings in force (never the
    bind password) with their group mappings, and asks the servers now: the live one answers,
    a dead one is named with its failure. Nobody else sees the page or runs the check."""
    from engine import accounts
    from engine.models import Role

    with duban.db.transaction() as session:
        accounts.create_user(session, "secadmin", "安全管理员", PASSWORD, {Role.SECURITY_ADMIN})
    for who in ("admin", "jiwei"):
        other = app.test_client()
        login(other, who)
        seen = other.get("/security/sso")
        assert seen.status_code == 403, (who, seen.headers.get("Location"))
        shown = other.get("/tasks").get_data(as_text=True)
        assert other.post("/security/sso/check", data={"csrf_token": token_of(shown)}).status_code == 403

    client = app.test_client()
    assert login(client, "secadmin").status_code == 302
    page = client.get("/security/sso")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and f"ldap://{directory_server.host}:{directory_server.port}" in text
    assert "cn=admin" in text.lower() and "口令已设置" in text and "duban-officials" in text and "责任人员" in text
    from .directory_server import ROOT_PASSWORD
    assert ROOT_PASSWORD not in text
    assert 'data-oidc="off"' in text  # no provider configured here

    checked = client.post("/security/sso/check", data={"csrf_token": token_of(text)}).get_data(as_text=True)
    assert checked.count('data-check="ok"') == 1 and 'data-check="failed"' not in checked

    path = tmp_path / "two.toml"
    path.write_text(_dead_config(tmp_path, directory_server, silent_port, with_live=True), encoding="utf-8")
    duban.directory = directory.Directory(directory.load(path))  # a hung server before the live one
    checked = client.post("/security/sso/check", data={"csrf_token": token_of(text)}).get_data(as_text=True)
    assert checked.count('data-check="ok"') == 1 and checked.count('data-check="failed"') == 1
    assert f"127.0.0.1:{silent_port}" in checked
