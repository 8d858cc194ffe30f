"""Notifications (通知): outbox rows written in the transaction of the event they announce,
the in-app list, email to a real SMTP server, a signed webhook to a real HTTP server, retries
with backoff on the engine's clock, and two senders that never send one row twice."""
from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, text

from engine import clock, notifications
from engine.escalation import firing, rules
from engine.models import (Channel, Escalation, HumanTask, Notification, NotificationStatus, Official, Post,
                           PostKind, Problem, ProcessInstance)
from engine.settings import NotificationSettings, Settings

from .helpers_flow import PLAN, snapshot

DEADLINE = "2026-03-20"  # a Friday; the interview (约谈, level 4) falls due as 20 Apr 2026 ends
SECRET = "webhook-test-secret"


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment).replace(tzinfo=clock.SHANGHAI)


@pytest.fixture
def settings(database_url, tmp_path):
    """In-app only, whatever the environment says; a test switches the other channels on."""
    return Settings.from_env(database_url=database_url, instance_path=tmp_path / "instance",
                             secret_key="test-secret", notifications=NotificationSettings())


def switch_on(duban, **channels) -> NotificationSettings:
    """What an operator does by setting DUBAN_SMTP_HOST, DUBAN_WEBHOOK_URL... and restarting."""
    duban.settings = replace(duban.settings, notifications=NotificationSettings(**channels))
    duban.runtime.channels = duban.settings.notifications
    return duban.settings.notifications


def rows(duban, **where) -> list[Notification]:
    with duban.db.reading() as session:
        statement = select(Notification).order_by(Notification.id)
        for name, value in where.items():
            statement = statement.where(getattr(Notification, name) == value)
        return list(session.scalars(statement))


def write(duban, officials, subject="【测试】通知", body="测试通知正文", channels=None) -> list[Notification]:
    with duban.db.transaction() as session:
        return notifications.notify(session, officials=officials, subject=subject, body=body, kind="test",
                                    channels=channels or duban.settings.notifications)


def set_contact(duban, official_id: int, email_address: str | None = None, mobile: str | None = None) -> None:
    with duban.db.transaction() as session:
        official = session.get(Official, official_id)
        official.email, official.mobile = email_address, mobile


# -- real servers ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler keeping what it receives."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    mailbox.controller = controller
    yield mailbox
    if controller._thread is not None:
        controller.stop()


class Hook:
    """A webhook receiver: what it was sent, and what it answers (a queue, then `default`)."""

    def __init__(self):
        self.received: list[tuple[dict, bytes]] = []
        self.answers: list[int] = []
        self.default = 200
        self.lock = threading.Lock()

    def take(self, headers: dict, body: bytes) -> int:
        with self.lock:
            self.received.append((headers, body))
            return self.answers.pop(0) if self.answers else self.default

    def documents(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def webhook():
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = hook.take(dict(self.headers), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/notify"
    yield hook
    server.shutdown()
    server.server_close()
    thread.join()


# -- escalations ----------------------------------------------------------------------------------

def test_an_escalation_tells_both_heads_in_the_transaction_of_its_firing(api, duban):
    """党政同责: the interview (约谈) reaches the county's Party secretary and its magistrate, each
    in-app, written with the firing; a firing that rolls back leaves no notice behind."""
    org = api.org
    api.register(deadline=DEADLINE)
    clock.freeze(at("2026-04-21T00:00:01"))

    with pytest.raises(RuntimeError, match="after the firing"):
        with duban.db.transaction() as session:
            ladder = rules.current(session)
            due = next(d for d in firing.pending(session, ladder, duban.runtime.calendar, clock.now())
                       if d.rule["level"] == 4)
            escalation = firing.fire(session, due, ladder, duban.runtime, clock.now())
            written = session.scalars(select(Notification.official_id).where(Notification.kind == "escalation")).all()
            assert {org["secretary"], org["magistrate"]} <= set(written) and escalation.id
            raise RuntimeError("the transaction fails after the firing")
    assert rows(duban, kind="escalation") == []
    with duban.db.reading() as session:
        assert session.scalars(select(Escalation)).all() == []

    assert sorted(f.level for f in duban.sweep()) == [1, 2, 3, 4]
    with duban.db.reading() as session:
        interview = session.scalars(select(Escalation).where(Escalation.level == 4)).one()
        reminder = session.scalars(select(Escalation).where(Escalation.level == 1)).one()
    sent = rows(duban, kind="escalation")
    by_level = {}
    for row in sent:
        by_level.setdefault(row.payload["level"], []).append(row)
    heads = {r.official_id: r for r in by_level[4]}
    assert set(heads) == {t["official_id"] for t in interview.targets}
    assert {org["secretary"], org["magistrate"], org["eco_head"]} == set(heads)
    for head in (org["secretary"], org["magistrate"]):
        row = heads[head]
        assert row.channel == Channel.INAPP and row.payload["escalation_id"] == interview.id
        assert row.subject == "【约谈】NL-2026-001 县城污水处理厂出水超标"
        assert "已超过整改时限20个工作日" in row.body and "第4级 约谈" in row.body
        assert "整改时限：2026年3月20日（限期整改）" in row.body
        assert "约谈后30日内提交书面整改承诺" in row.body
        assert "周书记（县委书记）" in row.body and "吴县长（县长）" in row.body
    assert [r.official_id for r in by_level[1]] == [org["responsible"]]
    assert "距整改时限已不足3个工作日" in by_level[1][0].body and by_level[1][0].payload["escalation_id"] == reminder.id

    listed = api.get("/api/notifications", as_="magistrate").json
    assert any(item["subject"].startswith("【约谈】") and item["problem_code"] == "NL-2026-001"
               for item in listed["items"])
    assert not [i for i in api.get("/api/notifications", as_="outsider").json["items"] if i["kind"] == "escalation"]


# -- new tasks and the in-app list -----------------------------------------------------------------

def test_a_new_task_reaches_its_assignee_who_reads_it_in_the_app(api, duban):
    problem = api.register()
    inbox = api.get("/api/notifications", as_="responsible").json
    assert inbox["total"] == 1 and inbox["unread"] == 1
    first = inbox["items"][0]
    assert first["kind"] == "task_assigned" and first["subject"] == "新待办：签收（NL-2026-001）"
    assert first["unread"] is True and first["read_at"] is None and first["problem_code"] == "NL-2026-001"
    assert "县城污水处理厂出水超标" in first["body"] and "北京时间" in first["body"]
    assert first["payload"]["task_id"] == api.ready_task(problem["id"])["id"]

    # nobody else hears of it, and nobody else can mark it read
    assert api.get("/api/notifications", as_="outsider").json == {
        "items": [], "total": 0, "unread": 0, "page": 1, "per_page": 20}
    before = snapshot(duban)
    for who in ("outsider", "admin"):
        response = api.post(f"/api/notifications/{first['id']}/read", as_=who)
        assert response.status_code == 404 and response.json["code"] == "not_found"
        assert "notification_id" in response.json["errors"]
    assert api.post("/api/notifications/999999/read", as_="responsible").status_code == 404
    assert snapshot(duban) == before and rows(duban, id=first["id"])[0].read_at is None

    api.complete(api.ready_task(problem["id"]), "responsible", {"acknowledged": True})
    newest = api.get("/api/notifications?unread=true&per_page=1", as_="responsible").json
    assert (newest["total"], newest["unread"], newest["per_page"]) == (2, 2, 1)
    assert newest["items"][0]["subject"] == "新待办：提交整改方案（NL-2026-001）"
    older = api.get("/api/notifications?per_page=1&page=2", as_="responsible").json
    assert [i["id"] for i in older["items"]] == [first["id"]]

    clock.advance(timedelta(minutes=5))
    read = api.post(f"/api/notifications/{first['id']}/read", as_="responsible")
    assert read.status_code == 200 and read.json["unread"] is False
    assert datetime.fromisoformat(read.json["read_at"]) == clock.now()
    clock.advance(timedelta(minutes=5))
    again = api.post(f"/api/notifications/{first['id']}/read", as_="responsible").json
    assert again["read_at"] == read.json["read_at"]  # the first reading counts
    unread = api.get("/api/notifications?unread=true", as_="responsible").json
    assert (unread["total"], unread["unread"]) == (1, 1) and unread["items"][0]["id"] != first["id"]
    everything = api.get("/api/notifications", as_="responsible").json
    assert (everything["total"], everything["unread"]) == (2, 1)


@pytest.mark.parametrize("query, field", [("unread=perhaps", "unread"), ("page=0", "page"),
                                          ("per_page=1000", "per_page"), ("page=two", "page")])
def test_a_bad_query_is_refused_naming_the_field(api, query, field):
    response = api.get(f"/api/notifications?{query}", as_="responsible")
    assert response.status_code == 400 and field in response.json["errors"], response.json


def test_the_list_needs_a_signed_in_caller_and_is_documented(api):
    assert api.get("/api/notifications").status_code == 401
    assert api.post("/api/notifications/1/read").status_code == 401
    paths = api.get("/api/openapi.json").json["paths"]
    assert "get" in paths["/api/notifications"] and "post" in paths["/api/notifications/{notification_id}/read"]
    parameters = {p["name"] for p in paths["/api/notifications"]["get"]["parameters"]}
    assert {"unread", "page", "per_page"} <= parameters


def test_an_office_task_reaches_every_office_user_and_a_send_back_says_so(api, duban):
    problem = api.register()
    api.complete(api.ready_task(problem["id"]), "responsible", {"acknowledged": True})
    api.complete(api.ready_task(problem["id"]), "responsible", PLAN)
    review = api.get("/api/notifications", as_="admin").json["items"]
    assert [i["subject"] for i in review] == ["新待办：审核整改方案（NL-2026-001）"]
    assert api.get("/api/notifications", as_="jiwei").json["total"] == 0  # not the office's colleague

    api.complete(api.ready_task(problem["id"]), "admin", {"decision": "return", "reason": "措施不具体"})
    back = api.get("/api/notifications", as_="responsible").json["items"][0]
    assert back["kind"] == "task_sent_back" and back["subject"] == "退回：提交整改方案（NL-2026-001）"
    assert "「审核整改方案」将工作退回到「提交整改方案」" in back["body"]


def test_a_task_for_an_official_without_an_account_reaches_them_by_email_and_their_unit_heads_in_app(api, duban):
    org = api.org
    switch_on(duban, smtp_host="127.0.0.1", smtp_port=free_port())
    with duban.db.transaction() as session:
        clerk = Official(name="钱干事", email="qian@nanling.example")
        session.add(clerk)
        session.add(Post(official=clerk, unit_id=org["housing"], title="干事", kind=PostKind.DEPARTMENT))
        session.flush()
        clerk_id = clerk.id
    problem = api.register(responsible_official_id=clerk_id)
    with duban.db.reading() as session:
        task = session.scalars(select(HumanTask).where(HumanTask.problem_id == problem["id"])).one()
        assert task.assignee_id is None and task.candidate_unit_id == org["housing"]
    told = {(r.official_id, r.channel, r.address) for r in rows(duban, kind="task_assigned")}
    assert told == {(clerk_id, Channel.EMAIL, "qian@nanling.example"), (org["housing_head"], Channel.INAPP, None)}
    assert api.get("/api/notifications", as_="responsible").json["total"] == 0  # a colleague, not a head


# -- email -----------------------------------------------------------------------------------------

def test_email_reaches_a_real_smtp_server_with_its_chinese_subject(api, duban, smtp_server):
    org = api.org
    set_contact(duban, org["responsible"], "zhang.kezhang@nanling.example")
    switch_on(duban, smtp_host="127.0.0.1", smtp_port=smtp_server.controller.port, mail_from="duban@qingjiang.example")
    api.register()
    [row] = rows(duban, channel=Channel.EMAIL)
    assert (row.status, row.address, row.attempts) == (NotificationStatus.PENDING, "zhang.kezhang@nanling.example", 0)

    delivery = duban.deliver_notifications()
    assert (delivery.sent, delivery.retrying, delivery.failed) == (1, 0, 0)
    [envelope] = smtp_server.envelopes
    assert envelope.mail_from == "duban@qingjiang.example" and envelope.rcpt_tos == ["zhang.kezhang@nanling.example"]
    raw = envelope.original_content or envelope.content
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n", 1)[0]  # the header is encoded, not raw 8-bit
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "新待办：签收（NL-2026-001）"
    assert message["To"].addresses[0].display_name == "张科长"
    assert "问题 NL-2026-001「县城污水处理厂出水超标」有一项新的待办「签收」" in message.get_content()
    [row] = rows(duban, channel=Channel.EMAIL)
    assert (row.status, row.attempts, row.sent_at, row.next_attempt_at) == (
        NotificationStatus.SENT, 1, clock.now(), None)
    assert duban.deliver_notifications().sent == 0  # sent once


def test_an_unreachable_smtp_server_is_retried_and_left_alone_for_the_rest_of_the_run(api, duban, smtp_server):
    org = api.org
    set_contact(duban, org["secretary"], "zhou@nanling.example")
    set_contact(duban, org["magistrate"], "wu@nanling.example")
    channels = switch_on(duban, smtp_host="127.0.0.1", smtp_port=smtp_server.controller.port)
    smtp_server.controller.stop()
    write(duban, [org["secretary"], org["magistrate"]])
    delivery = duban.deliver_notifications()
    assert (delivery.sent, delivery.retrying, delivery.failed) == (0, 1, 0)
    tried, untouched = rows(duban, channel=Channel.EMAIL)
    assert tried.attempts == 1 and "ConnectionRefusedError" in tried.last_error
    assert tried.next_attempt_at == clock.now() + timedelta(minutes=1)
    assert untouched.attempts == 0 and untouched.status == NotificationStatus.PENDING

    restarted = Controller(smtp_server, hostname="127.0.0.1", port=channels.smtp_port)
    restarted.start()
    try:
        clock.advance(timedelta(minutes=1))
        assert duban.deliver_notifications().sent == 2
        assert sorted(e.rcpt_tos[0] for e in smtp_server.envelopes) == ["wu@nanling.example", "zhou@nanling.example"]
    finally:
        restarted.stop()


# -- webhook ---------------------------------------------------------------------------------------

def test_the_webhook_receives_a_signed_document(api, duban, webhook):
    org = api.org
    set_contact(duban, org["responsible"], mobile="13800000000")
    switch_on(duban, webhook_url=webhook.url, webhook_secret=SECRET)
    api.register()
    [row] = rows(duban, channel=Channel.WEBHOOK)
    assert duban.deliver_notifications().sent == 1
    [(headers, body)] = webhook.received
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Duban-Signature"], expected)
    assert headers["X-Duban-Delivery"] == str(row.id) and headers["Content-Type"].startswith("application/json")
    tampered = body.replace("签收".encode(), "销号".encode())
    assert tampered != body and "sha256=" + hmac.new(SECRET.encode(), tampered, hashlib.sha256).hexdigest() != expected
    document = json.loads(body.decode("utf-8"))
    assert document["id"] == row.id and document["kind"] == "task_assigned"
    assert document["subject"] == "新待办：签收（NL-2026-001）" and document["problem_code"] == "NL-2026-001"
    assert document["recipient"] == {"name": "张科长", "mobile": "13800000000", "email": None,
                                     "official_id": org["responsible"], "username": "responsible"}
    assert rows(duban, channel=Channel.WEBHOOK)[0].status == NotificationStatus.SENT


def test_a_failing_webhook_is_retried_with_backoff_then_given_up(api, duban, webhook):
    org = api.org
    switch_on(duban, webhook_url=webhook.url, webhook_secret=SECRET)
    webhook.default = 500
    [row] = [r for r in write(duban, [org["secretary"]]) if r.channel == Channel.WEBHOOK]

    assert duban.deliver_notifications().retrying == 1 and len(webhook.received) == 1
    for attempt, wait in enumerate((1, 2, 4, 8, 16), start=2):
        clock.advance(timedelta(minutes=wait) - timedelta(seconds=1))
        idle = duban.deliver_notifications()
        assert (idle.sent, idle.retrying, idle.failed) == (0, 0, 0), f"attempt {attempt} came before its backoff"
        assert len(webhook.received) == attempt - 1
        clock.advance(timedelta(seconds=1))
        delivery = duban.deliver_notifications()
        assert len(webhook.received) == attempt
        assert (delivery.retrying, delivery.failed) == ((1, 0) if attempt < 6 else (0, 1))
    [final] = rows(duban, id=row.id)
    assert (final.status, final.attempts, final.next_attempt_at) == (NotificationStatus.FAILED, 6, None)
    assert "500" in final.last_error
    assert {d["id"] for d in webhook.documents()} == {row.id}

    webhook.default = 200  # the gateway is back, but a failed notice stays failed
    clock.advance(timedelta(days=1))
    assert str(duban.deliver_notifications()) == "0 sent, 0 to retry, 0 failed"
    assert len(webhook.received) == 6


def test_a_webhook_that_recovers_gets_the_notice_on_the_next_attempt(api, duban, webhook):
    switch_on(duban, webhook_url=webhook.url)
    webhook.answers = [503, 200]
    write(duban, [api.org["magistrate"]])
    assert duban.deliver_notifications().retrying == 1
    clock.advance(timedelta(minutes=1))
    assert duban.deliver_notifications().sent == 1
    [row] = rows(duban, channel=Channel.WEBHOOK)
    assert (row.status, row.attempts, row.last_error) == (NotificationStatus.SENT, 2, None)
    assert "X-Duban-Signature" not in webhook.received[0][0]  # no secret configured: unsigned


def test_a_refused_notice_waits_alone_but_a_failing_gateway_waits_for_the_next_run(api, duban, webhook):
    """A 4xx concerns that one notice: the others still go. A 5xx or a refused connection says
    the gateway is down: the rest of the run leaves the webhook alone, each row keeps its turn."""
    org = api.org
    switch_on(duban, webhook_url=webhook.url)
    write(duban, [org["secretary"], org["magistrate"]])
    webhook.answers = [400]
    delivery = duban.deliver_notifications()
    assert (delivery.sent, delivery.retrying) == (1, 1) and len(webhook.received) == 2
    refused = [r for r in rows(duban, channel=Channel.WEBHOOK) if r.status == NotificationStatus.PENDING]
    assert len(refused) == 1 and "400" in refused[0].last_error

    write(duban, [org["secretary"], org["magistrate"]])
    webhook.default = 503
    clock.advance(timedelta(minutes=1))
    delivery = duban.deliver_notifications()
    assert (delivery.sent, delivery.retrying) == (0, 1) and len(webhook.received) == 3
    waiting = {r.id: r for r in rows(duban, channel=Channel.WEBHOOK) if r.status == NotificationStatus.PENDING}
    assert waiting[refused[0].id].attempts == 1  # due, but not tried while the gateway was down
    assert sorted(r.attempts for r in waiting.values()) == [0, 1, 1]
    webhook.default = 200
    assert duban.deliver_notifications().sent == 2  # the untried ones; the one that met the 503 waits its minute
    clock.advance(timedelta(minutes=1))
    assert duban.deliver_notifications().sent == 1
    assert {r.status for r in rows(duban, channel=Channel.WEBHOOK)} == {NotificationStatus.SENT}


def test_two_senders_never_send_one_row_twice(api, duban, webhook, backend):
    org = api.org
    switch_on(duban, webhook_url=webhook.url, webhook_secret=SECRET)
    for index in range(15):
        write(duban, [org["secretary"], org["magistrate"]], subject=f"【测试】第{index}条")
    expected = {r.id for r in rows(duban, channel=Channel.WEBHOOK)}
    assert len(expected) == 30

    barrier, results = threading.Barrier(2), []

    def sender():
        barrier.wait()
        results.append(duban.deliver_notifications())

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    delivered = [d["id"] for d in webhook.documents()]
    assert sorted(delivered) == sorted(expected) and len(delivered) == len(set(delivered)) == 30
    assert sum(r.sent for r in results) == 30
    assert {r.status for r in rows(duban, channel=Channel.WEBHOOK)} == {NotificationStatus.SENT}

    if backend == "postgresql":  # a row another sender holds locked is skipped, not waited for
        write(duban, [org["secretary"], org["magistrate"]], subject="【测试】加锁")
        with duban.db.engine.connect() as other:
            held = other.begin()
            locked = other.execute(text(
                "SELECT id FROM notification WHERE channel = 'webhook' AND status = 'pending' "
                "ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE")).scalar()
            taken = notifications.claim(duban.db, clock.now())
            assert taken is not None and taken.id != locked
            held.rollback()


def test_a_sender_that_dies_mid_send_leaves_the_row_to_another_after_its_lease(api, duban, webhook):
    switch_on(duban, webhook_url=webhook.url)
    write(duban, [api.org["secretary"]])
    dead = notifications.claim(duban.db, clock.now())  # claimed, then never answered
    assert dead is not None and dead.attempts == 1
    assert duban.deliver_notifications().sent == 0 and webhook.received == []
    clock.advance(notifications.LEASE + timedelta(seconds=1))
    assert duban.deliver_notifications().sent == 1 and len(webhook.received) == 1
    assert notifications.record(duban.db, dead, clock.now(), "too late") is None  # its late answer is ignored
    [row] = rows(duban, channel=Channel.WEBHOOK)
    assert (row.status, row.attempts, row.last_error) == (NotificationStatus.SENT, 2, None)


def test_duban_notify_send_from_the_command_line(api, duban, webhook, database_url, tmp_path):
    from click.testing import CliRunner

    from web.cli import main

    write(duban, [api.org["secretary"], api.org["magistrate"]],
          channels=NotificationSettings(webhook_url=webhook.url))
    env = {"DUBAN_DATABASE_URL": database_url, "DUBAN_INSTANCE_PATH": str(tmp_path / "cli"),
           "DUBAN_WEBHOOK_URL": webhook.url, "DUBAN_WEBHOOK_SECRET": SECRET, "DUBAN_SMTP_HOST": ""}
    result = CliRunner().invoke(main, ["notify", "send"], env=env)
    assert result.exit_code == 0, result.output
    assert "notifications: 2 sent, 0 to retry, 0 failed" in result.output
    assert all(headers["X-Duban-Signature"].startswith("sha256=") for headers, _ in webhook.received)
    again = CliRunner().invoke(main, ["notify", "send"], env=env)
    assert "0 sent" in again.output and len(webhook.received) == 2


# -- the `notify` property of a BPMN element -------------------------------------------------------

NOTICE_PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" xmlns:duban="urn:duban:bpmn:1.0"
    id="Definitions_notice" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="notice_test" name="约谈通知测试" isExecutable="true">
    <bpmn:laneSet id="LaneSet"><bpmn:lane id="Lane_office" name="环督办">
      <bpmn:flowNodeRef>Start_interview</bpmn:flowNodeRef><bpmn:flowNodeRef>Task_schedule</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>End_interview</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="Start_interview" name="启动约谈">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="notify" value="region_heads" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="Task_schedule" name="安排约谈">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="notify" value="{targets}" />
          <spiffworkflow:property name="notifyMessage" value="定于{when}对「{problem_title}」问题进行约谈（{level_name}），请准时参加。" />
        </spiffworkflow:properties>
        <duban:form><![CDATA[{"type": "default", "components": [
          {"type": "textfield", "key": "when", "label": "约谈时间", "validate": {"required": true}}]}]]></duban:form>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="End_interview"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Start_interview" targetRef="Task_schedule" />
    <bpmn:sequenceFlow id="f2" sourceRef="Task_schedule" targetRef="End_interview" />
  </bpmn:process>
</bpmn:definitions>
"""


def deploy_notice_process(api, targets: str):
    return api.post("/api/process-definitions?accept_warnings=true&comment=fixture", as_="admin", data=NOTICE_PROCESS.replace("{targets}", targets)
                    .encode(), content_type="application/xml")


def process_notices(duban, official_id: int) -> list[Notification]:
    return [r for r in rows(duban, kind="process_notice", official_id=official_id) if r.channel == Channel.INAPP]


def test_the_notify_property_reaches_both_heads_of_an_interview_the_ladder_started(api, duban):
    org = api.org
    assert deploy_notice_process(api, "region_heads").status_code == 201
    ladder = [dict(rule) for rule in duban.escalation_rules().rules]
    for rule in ladder:
        if rule["level"] == 4:
            rule["action"] = {"kind": "start_process", "process": "notice_test"}
    duban.replace_escalation_rules(org["user:admin"], {"rules": ladder, "note": "约谈走通知测试流程"})
    problem = api.register(deadline=DEADLINE)
    clock.freeze(at("2026-04-21T00:00:01"))
    assert 4 in [f.level for f in duban.sweep()]
    with duban.db.reading() as session:
        interview = session.scalars(select(Escalation).where(Escalation.level == 4)).one()
        instance = session.scalars(select(ProcessInstance).where(ProcessInstance.escalation_id == interview.id)).one()

    started = {org["secretary"]: process_notices(duban, org["secretary"]),
               org["magistrate"]: process_notices(duban, org["magistrate"])}
    for official_id, found in started.items():  # the start event: both heads, Party and government
        assert [n.subject for n in found] == ["【约谈】启动约谈：NL-2026-001 县城污水处理厂出水超标"]
        assert found[0].payload["instance_id"] == instance.id and found[0].payload["escalation_id"] == interview.id
    assert process_notices(duban, org["responsible"]) == []

    task = next(t for t in api.get(f"/api/problems/{problem['id']}", as_="admin").json["current_tasks"]
                if t["element_id"] == "Task_schedule")
    api.complete(task, "admin", {"when": "2026年4月23日上午9时"})
    for official_id in (org["secretary"], org["magistrate"]):
        latest = process_notices(duban, official_id)[-1]
        assert latest.subject == "【约谈】安排约谈：NL-2026-001 县城污水处理厂出水超标"
        assert latest.body == "定于2026年4月23日上午9时对「县城污水处理厂出水超标」问题进行约谈（约谈），请准时参加。"
    inbox = api.get("/api/notifications?unread=true", as_="secretary").json
    assert sum(1 for i in inbox["items"] if i["kind"] == "process_notice") == 2


def test_the_notify_property_names_the_subject_official_of_a_case(api, duban):
    org = api.org
    assert deploy_notice_process(api, "subject_official,lead_unit_heads").status_code == 201
    problem = api.register()
    with duban.db.transaction() as session:
        definition = duban.runtime.current(session, "notice_test")
        duban.runtime.start(session, definition, session.get(Problem, problem["id"]), None,
                            subject_official_id=org["responsible"])
    task = next(t for t in api.get(f"/api/problems/{problem['id']}", as_="admin").json["current_tasks"]
                if t["element_id"] == "Task_schedule")
    api.complete(task, "admin", {"when": "明天上午"})
    [to_subject] = process_notices(duban, org["responsible"])
    [to_head] = process_notices(duban, org["eco_head"])  # 李局长 holds both head posts: told once
    # no escalation started this instance: {level_name} has nothing to fill and stays as written
    assert to_subject.body == to_head.body == "定于明天上午对「县城污水处理厂出水超标」问题进行约谈（{level_name}），请准时参加。"
    assert to_subject.subject == "安排约谈：NL-2026-001 县城污水处理厂出水超标"
    # the county's heads heard of the start (region_heads) but not of this task (subject_official, lead_unit_heads)
    assert [n.subject for n in process_notices(duban, org["magistrate"])] == [
        "启动约谈：NL-2026-001 县城污水处理厂出水超标"]


def test_an_unknown_notify_target_is_refused_at_deployment(api, duban):
    response = deploy_notice_process(api, "region_party_head")
    assert response.status_code == 400 and "Task_schedule" in response.json["errors"], response.json
    assert "region_party_head" in " ".join(response.json["errors"]["Task_schedule"])
    with duban.db.reading() as session:
        assert duban.runtime.current(session, "notice_test") is None
