"""The security log (安全审计日志): every sign-in and failure (with its source address and
method), lockout, sign-out, token, account and role change, deployment, rule change and export
is an event; only the audit administrator reads and exports it; it never holds a password; it
is append-only and chained, `duban audit verify` finds an event changed or removed, and a
purge past 180 days leaves a chain that still verifies."""
from __future__ import annotations

import io
import json
from datetime import timedelta
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from engine import accounts, clock
from engine.models import Role, SecurityEvent
from engine.security_log import Kind

from .support import PASSWORD
from .test_definitions import FIXTURE, deploy_xml, mini_process
from .test_pages import login

WRONG = "Hunter2-typed-into-the-name-field"


@pytest.fixture
def auditor(duban, org):
    with duban.db.transaction() as session:
        user = accounts.create_user(session, "auditor", "审计管理员", PASSWORD, {Role.AUDIT_ADMIN})
    return user.id


def events(duban, kind: str | None = None) -> list[SecurityEvent]:
    """The events of the test (not the shipped processes' deployment when the engine started)."""
    with duban.db.reading() as session:
        statement = select(SecurityEvent).order_by(SecurityEvent.id).where(
            (SecurityEvent.method.is_(None)) | (SecurityEvent.method != "shipped"))
        if kind:
            statement = statement.where(SecurityEvent.kind == kind)
        return list(session.scalars(statement))


def shipped(duban) -> int:
    with duban.db.reading() as session:
        return len(session.scalars(select(SecurityEvent.id).where(SecurityEvent.method == "shipped")).all())


def test_sign_ins_failures_and_a_lockout_are_events_with_their_source(api, duban, app):
    assert api.post("/api/auth/token", json={"username": "admin", "password": PASSWORD}).status_code == 200
    [signed, issued] = events(duban)
    assert (signed.kind, signed.result, signed.subject, signed.method, signed.source) == \
        ("sign_in", "success", "admin", "password", "127.0.0.1")
    assert signed.details == {"door": "api"} and issued.kind == "token_issued" and issued.subject == "admin"

    page = app.test_client()
    assert login(page, "jiwei").status_code == 302
    last = events(duban, "sign_in")[-1]
    assert (last.subject, last.details) == ("jiwei", {"door": "page"})
    assert [e.kind for e in events(duban)].count("token_issued") == 1  # a page session is no token

    for _ in range(5):  # the lockout's default: 5 failures
        assert api.post("/api/auth/token", json={"username": "responsible", "password": "wrong"}).status_code in (401, 429)
    failed = [e for e in events(duban, "sign_in") if e.result == "failure"]
    assert len(failed) == 5 and {e.subject for e in failed} == {"responsible"}
    assert failed[0].details == {"door": "api", "reason": "wrong name or password"}
    [locked] = events(duban, "locked")
    assert locked.subject == "responsible" and locked.object == "user:responsible"
    assert api.post("/api/auth/token", json={"username": "responsible", "password": PASSWORD}).status_code == 429
    assert events(duban, "sign_in")[-1].details["reason"] == "locked"


def test_a_name_no_account_has_is_logged_by_its_digest_and_no_password_ever(api, duban):
    assert api.post("/api/auth/token", json={"username": WRONG, "password": "p@ss"}).status_code == 401
    [failed] = events(duban, "sign_in")
    assert failed.subject.startswith("unknown name #") and WRONG not in failed.subject
    assert api.post("/api/auth/token", json={"username": "admin", "password": PASSWORD}).status_code == 200
    every = json.dumps([[e.subject, e.object, e.details, e.method] for e in events(duban)], ensure_ascii=False)
    assert WRONG not in every and PASSWORD not in every and "p@ss" not in every


def test_account_role_and_password_changes_are_events(api, duban):
    created = api.post("/api/users", as_="admin", json={"username": "newclerk", "display_name": "新科员",
                                                      "password": "Rectify-2026-long", "roles": ["official"]})
    assert created.status_code == 201, created.json
    user_id = created.json["id"]
    changed = api.client.patch(f"/api/users/{user_id}", headers=api._headers("admin"),
                               json={"roles": ["leader"], "password": "Another-2026-long", "active": False})
    assert changed.status_code == 200, changed.json
    kinds = [(e.kind, e.details.get("role") or e.details.get("because")) for e in events(duban)
             if e.object == "user:newclerk"]
    assert kinds == [("account_created", None), ("role_granted", "official"), ("role_granted", "leader"),
                     ("role_revoked", "official"), ("tokens_revoked", "account_disabled"), ("account_disabled", None),
                     ("tokens_revoked", "password_reset"), ("password_reset", None)]
    assert all(e.subject == "admin" for e in events(duban) if e.object == "user:newclerk")


def test_no_account_holds_two_of_the_three_administrators(api):
    for roles in (["admin", "audit_admin"], ["security_admin", "audit_admin"], ["admin", "security_admin"]):
        refused = api.post("/api/users", as_="admin", json={"username": "both", "display_name": "两者",
                                                          "password": "Rectify-2026-long", "roles": roles})
        assert refused.status_code == 400 and "三员分立" in refused.json["errors"]["roles"][0], refused.json


def test_deployments_rule_changes_and_exports_are_events(api, duban):
    assert deploy_xml(api, mini_process("logged", "timeDuration:P1D"), accept=FIXTURE).status_code == 201
    [deployed] = [e for e in events(duban, "process_deployed") if e.object.startswith("process:logged")]
    assert deployed.subject == "admin" and deployed.details["outcome"] == "created"
    rules = api.get("/api/escalation-rules", as_="admin").json
    assert api.client.put("/api/escalation-rules", headers=api._headers("admin"),
                          json={"rules": rules["rules"]}).status_code in (200, 201)
    assert events(duban, "rules_changed")[-1].subject == "admin"
    assert api.get("/api/ledger/export.xlsx", as_="admin").status_code == 200
    assert events(duban, "ledger_exported")[-1].details == {"rows": 0}


def test_only_the_audit_administrator_reads_and_exports_the_log(api, duban, auditor):
    for who in ("admin", "jiwei", "responsible"):
        api.token(who)  # sign-ins to read about
    assert api.get("/api/security-events", as_="admin").status_code == 403
    assert api.get("/api/security-events?per_page=nonsense&kind=x", as_="admin").status_code == 403  # role first
    assert api.get("/api/security-events/export.xlsx", as_="jiwei").status_code == 403
    page = api.get("/api/security-events?per_page=2", as_="auditor")
    assert page.status_code == 200 and page.json["per_page"] == 2 and len(page.json["items"]) == 2
    total = page.json["total"]
    assert page.json["items"][0]["id"] > page.json["items"][1]["id"]  # newest first
    only = api.get("/api/security-events?kind=sign_in&subject=jiwei&result=success", as_="auditor").json
    assert only["total"] == 1 and only["items"][0]["source"] == "127.0.0.1"
    later = quote((clock.now() + timedelta(minutes=1)).isoformat())
    assert api.get(f"/api/security-events?since={later}", as_="auditor").json["total"] == 0
    assert api.get("/api/security-events?kind=nonsense", as_="auditor").status_code == 400

    exported = api.get("/api/security-events/export.xlsx?kind=sign_in", as_="auditor")
    assert exported.status_code == 200
    sheet = load_workbook(io.BytesIO(exported.get_data())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("编号", "时间（北京时间）", "类型", "结果") and {r[2] for r in rows[1:]} == {"登录"}
    assert len(rows) - 1 == api.get("/api/security-events?kind=sign_in", as_="auditor").json["total"]
    assert events(duban, "security_log_exported")[-1].subject == "auditor"
    assert api.get("/api/security-events", as_="auditor").json["total"] > total


def _cli(database_url, tmp_path, *args):
    from web.cli import main

    env = {"DUBAN_DATABASE_URL": database_url, "DUBAN_INSTANCE_PATH": str(tmp_path / "cli")}
    return CliRunner().invoke(main, list(args), env=env)


def test_the_log_is_append_only_and_verify_names_an_event_changed_or_removed(api, duban, database_url, tmp_path,
                                                                            backend):
    for who in ("admin", "jiwei", "responsible"):
        api.token(who)
    ok = _cli(database_url, tmp_path, "audit", "verify")
    assert ok.exit_code == 0 and f"security log intact: {6 + shipped(duban)} events" in ok.output, ok.output
    target = events(duban)[2].id
    with pytest.raises(DBAPIError):
        with duban.db.transaction() as session:
            session.execute(text("UPDATE security_event SET subject = 'someone' WHERE id = :id"), {"id": target})
    with duban.db.engine.begin() as connection:  # as someone with the database's keys would
        if backend == "sqlite":  # the test's own copy of the database
            connection.execute(text("DROP TRIGGER security_event_no_update"))
            connection.execute(text("UPDATE security_event SET subject = 'someone' WHERE id = :id"), {"id": target})
        else:  # the worker's database, shared by the tests after this one: the trigger goes back at once
            connection.execute(text("ALTER TABLE security_event DISABLE TRIGGER security_event_no_update"))
            connection.execute(text("UPDATE security_event SET subject = 'someone' WHERE id = :id"), {"id": target})
            connection.execute(text("ALTER TABLE security_event ENABLE TRIGGER security_event_no_update"))
    broken = _cli(database_url, tmp_path, "audit", "verify")
    assert broken.exit_code == 1 and f"security log broken at event {target}" in broken.output, broken.output
    with duban.db.engine.begin() as connection:
        connection.execute(text("DELETE FROM security_event WHERE id = :id"), {"id": target})
    broken = _cli(database_url, tmp_path, "audit", "verify")
    assert broken.exit_code == 1 and f"security log broken at event {target + 1}" in broken.output, broken.output


def test_a_purge_keeps_180_days_is_itself_an_event_and_the_chain_still_verifies(api, duban, database_url,
                                                                               tmp_path):
    api.token("admin")
    api.token("jiwei")
    clock.advance(timedelta(days=200))
    api.client.post("/api/auth/token", json={"username": "responsible", "password": PASSWORD})
    assert _cli(database_url, tmp_path, "audit", "purge-security-log", "--days", "30").exit_code == 2  # < 180
    removed = 4 + shipped(duban)  # the engine's start deployed the shipped processes, then the four sign-in events
    purged = _cli(database_url, tmp_path, "audit", "purge-security-log")
    assert purged.exit_code == 0 and f"removed {removed} security events older than 180 days" in purged.output, \
        purged.output
    left = events(duban)
    assert [e.kind for e in left] == ["sign_in", "token_issued", "security_log_purged"]
    assert left[-1].details["removed"] == removed and left[-1].method == "retention"
    ok = _cli(database_url, tmp_path, "audit", "verify")
    assert ok.exit_code == 0 and "security log intact: 3 events" in ok.output, ok.output


def test_the_audit_administrator_reads_the_log_on_its_page_and_nobody_else(app, api, duban, auditor):
    api.token("jiwei")
    assert api.post("/api/auth/token", json={"username": "jiwei", "password": "wrong"}).status_code == 401
    office = app.test_client()
    login(office, "admin")
    assert office.get("/security-log").status_code == 403
    assert office.get("/security-log/export.xlsx").status_code == 403

    page = app.test_client()
    landed = login(page, "auditor")
    assert landed.headers["Location"].endswith("/security-log")
    html = page.get("/security-log").get_data(as_text=True)
    assert 'data-kind="sign_in" data-result="failure"' in html and "127.0.0.1" in html and "jiwei" in html
    only = page.get("/security-log?kind=sign_in&result=failure&subject=jiwei").get_data(as_text=True)
    assert only.count("data-event-id=") == 1
    today = clock.today().isoformat()
    assert page.get(f"/security-log?from={today}&to={today}").get_data(as_text=True).count("data-event-id=") >= 4
    assert page.get("/security-log?from=yesterday").status_code == 400
    assert page.get("/security-log?kind=nonsense").status_code == 400
    exported = page.get("/security-log/export.xlsx?kind=sign_in&result=failure")
    assert exported.status_code == 200
    rows = list(load_workbook(io.BytesIO(exported.get_data())).active.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][4] == "jiwei" and rows[1][3] == "失败"


def test_the_scheduler_purges_once_a_day_at_its_sweep(api, duban):
    from engine.scheduling.runner import Scheduler

    api.token("admin")
    clock.advance(timedelta(days=181))
    scheduler = Scheduler(duban)
    scheduler.cycle("sweep")
    assert [e.kind for e in events(duban)] == ["security_log_purged"]
    api.token("jiwei")
    clock.advance(timedelta(days=181))
    scheduler.cycle("sweep")  # the day's purge
    clock.advance(timedelta(hours=2))
    scheduler.cycle("sweep")  # not again the same day
    assert [e.kind for e in events(duban)].count("security_log_purged") == 1
    assert duban.verify_security_log().intact


def test_the_audit_administrator_reads_and_exports_the_action_log(api, app, duban, org, auditor):
    made = api.post("/api/officials", as_="admin", json={"name": "新干部"})
    assert made.status_code == 201
    assert api.get("/api/security-events", as_="responsible").status_code == 403  # a refusal, in the log
    for who in ("admin", "jiwei", "responsible"):
        assert api.get("/api/action-log", as_=who).status_code == 403, who
        assert api.get("/api/action-log/export.xlsx", as_=who).status_code == 403, who
    mine = api.get("/api/action-log?actor=admin&action=official.created", as_="auditor")
    assert mine.status_code == 200 and mine.json["total"] == 1, mine.json
    [entry] = mine.json["items"]
    assert entry["subject_id"] == str(made.json["id"]) and entry["payload"]["name"] == "新干部" and len(entry["hash"]) == 64
    refused = api.get("/api/action-log?action=permission.denied&actor=张科长", as_="auditor").json
    assert refused["total"] >= 1 and "security log" in json.dumps(refused["items"][-1]["payload"])
    sheet = api.get("/api/action-log/export.xlsx?action=official.created", as_="auditor")
    assert sheet.status_code == 200
    rows = list(load_workbook(io.BytesIO(sheet.data)).active.iter_rows(values_only=True))
    assert rows[0][0] == "编号" and len(rows) == 2 and rows[1][9] == entry["hash"]
    exported = events(duban, "action_log_exported")[-1]
    assert exported.subject == "auditor" and exported.details == {"rows": 1, "action": "official.created"}
    client = app.test_client()
    login(client, "auditor")
    page = client.get("/action-log?actor=admin")
    assert page.status_code == 200 and 'data-action="official.created"' in page.get_data(as_text=True)
    assert client.get("/action-log?from=2026-13-01").status_code == 400
    other = app.test_client()
    login(other, "admin")
    assert other.get("/action-log").status_code == 403


def test_tokens_made_worthless_are_an_event_naming_why_and_who(api, duban):
    """Changing one's own password revokes the API tokens the old one opened: a `tokens_revoked`
    event by the owner, saying why; the revoked token is refused from then on."""
    bearer = api.token("responsible")
    new = "Rectify-2026-renewed"
    assert api.client.post("/api/auth/password", json={"username": "responsible", "password": PASSWORD,
                                                       "new_password": new}).status_code == 204
    [revoked] = events(duban, Kind.TOKENS_REVOKED)
    assert (revoked.subject, revoked.object, revoked.details) == ("responsible", "user:responsible",
                                                                  {"because": "password_changed"})
    assert api.client.get("/api/tasks", headers={"Authorization": f"Bearer {bearer}"}).status_code == 401
