"""Notices (通知) in the reader's language: the engine keeps each notice's sentences as codes
with parameters, the notices page and /api/notifications word them from the catalog at read
time (Chinese by default, English for an English reader); a row without codes shows its stored
Chinese text."""
from __future__ import annotations

import re
from sqlalchemy import select

from engine import clock, notifications
from engine.models import Notification

from .test_notifications import DEADLINE, at
from .test_pages import login

CJK = re.compile(r"[\u3400-\u9fff]")
ENGLISH = {"Accept-Language": "en"}


def test_a_new_task_notice_in_chinese_and_in_english_over_the_api(api, duban):
    api.register()
    [item] = api.get("/api/notifications", as_="responsible").json["items"]
    assert item["subject"] == "新待办：签收（NL-2026-001）" and "北京时间" in item["body"]
    english = api.client.get("/api/notifications", headers={**api._headers("responsible"), **ENGLISH}).json
    [item] = english["items"]
    assert item["subject"] == "New task: 签收 (NL-2026-001)"  # the task's name is the process's data
    assert item["body"].startswith("Problem NL-2026-001 “县城污水处理厂出水超标” has a new task “签收”. Please act by ")
    assert item["body"].endswith("(Beijing time).")
    assert item["payload"]["words"]["subject"] == [["task.subject", {"task": "签收", "code": "NL-2026-001"}]]
    with duban.db.reading() as session:  # the stored text stays Chinese: email, webhook, old readers
        assert session.scalars(select(Notification.subject)).one() == "新待办：签收（NL-2026-001）"


def test_an_escalation_notice_in_english_leaves_only_data_in_chinese(api, duban):
    api.register(deadline=DEADLINE)
    clock.freeze(at("2026-04-21T00:00:01"))
    duban.sweep()
    headers = {**api._headers("magistrate"), **ENGLISH}
    items = [i for i in api.client.get("/api/notifications?per_page=100", headers=headers).json["items"]
             if i["kind"] == "escalation" and i["payload"]["level"] == 4]
    [item] = items
    assert item["subject"] == "[Interview] NL-2026-001 县城污水处理厂出水超标", item["subject"]
    body = item["body"]
    assert "overdue by 20 working days." in body and "Supervision level: 4 Interview" in body
    assert "Deadline: 2026-03-20 (" in body and "written rectification commitment within 30 days" in body
    words = body
    for data in ("县城污水处理厂出水超标", "周书记（县委书记）", "吴县长（县长）"):
        words = words.replace(data, "")
    for line in words.splitlines():  # names, regions, units and titles are data; nothing else is Chinese
        if not line.startswith(("Region:", "Addressed to:")):
            assert not CJK.search(line), line


def test_the_notices_page_in_english_marks_the_data_and_old_rows_show_their_text(api, duban):
    api.register()
    with duban.db.transaction() as session:  # a row written before notices had codes
        notifications.notify(session, users=[api.org["user:responsible"]], subject="旧通知：请查阅",
                             body="这是一条旧通知。", kind="task_assigned")
    client = api.client
    assert login(client, "responsible").status_code == 302
    client.get("/lang/en")
    page = client.get("/notifications").get_data(as_text=True)
    assert 'New task: <span data-data>签收</span> (<span data-data>NL-2026-001</span>)' in page
    assert "新待办" not in page
    assert '<strong class="notice-subject" lang="zh-CN">旧通知：请查阅</strong>' in page
    client.get("/lang/zh_CN")
    page = client.get("/notifications").get_data(as_text=True)
    assert '新待办：<span data-data>签收</span>（<span data-data>NL-2026-001</span>）' in page
