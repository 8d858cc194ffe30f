"""The case beside every task (the task page through Flask's test client): the reviewer sees the
plan and the evidence, the official sees the send-back's reason and the form prefilled with the
previous submission, a completed task shows what was submitted, read-only, with its files."""
from __future__ import annotations

import json
import re

import pytest

from engine.models import HumanTask

from .helpers_flow import PLAN
from .helpers_pages import ready_tasks, register
from .test_pages import login, token_of

PNG = b"\x89PNG\r\n\x1a\n"
REASON = "措施不具体：请写明深度处理单元的工艺、规模和投运时间。\n另请补充阶段性目标。"


@pytest.fixture
def client(app):
    return app.test_client()


def one_ready(duban, org, user, element) -> int:
    [task_id] = [t[0] for t in ready_tasks(duban, user, org) if t[1] == element]
    return task_id


def setup_of(page: str) -> dict:
    return json.loads(re.search(r'<script id="task-form-setup" type="application/json">(.*?)</script>', page, re.S)
                      .group(1))


def section(page: str, marker: str) -> str:
    return page.split(marker, 1)[1].split("</section>", 1)[0]


def switch(client, page, user):
    client.post("/logout", data={"csrf_token": token_of(page)})
    login(client, user)


def to_review(duban, org) -> int:
    problem_id = register(duban, org)
    duban.complete_task(org["user:responsible"], one_ready(duban, org, "responsible", "Task_sign"),
                        {"acknowledged": True, "remark": "已签收"})
    duban.complete_task(org["user:responsible"], one_ready(duban, org, "responsible", "Task_submit_plan"), PLAN)
    return problem_id


def test_the_reviewer_sees_the_plan_beside_the_form(client, duban, org):
    problem_id = to_review(duban, org)
    review = one_ready(duban, org, "admin", "Task_review_plan")
    login(client, "admin")
    page = client.get(f"/tasks/{review}").get_data(as_text=True)
    assert page.index('id="task-form"') < page.index('class="task-case"')  # the form, the case beside it
    plan = section(page, "data-submission=")
    assert "data-shown-first" in plan.split(">", 1)[0]
    assert "提交整改方案" in plan and "张科长" in plan
    for label, value in (("整改目标", PLAN["target"]), ("整改措施", PLAN["measures"]), ("时限类型", "限期整改"),
                         ("整改时限", PLAN["deadline"])):
        assert f'{label}</dt>' in plan and value in plan
    assert "by_date" not in plan  # a select shows its label
    assert page.index("提交整改方案") < page.index("确认签收")  # showsData first, then the sign-off
    # the problem page, the chain of responsibility, the deadline and its light
    assert f'href="/problems/{problem_id}" data-problem-link' in page
    for shown in ("周书记", "吴县长", "李局长", "张科长", PLAN["deadline"], 'data-light="green"', "data-due"):
        assert shown in page


def test_the_industry_department_sees_the_evidence(client, duban, org):
    problem_id = to_review(duban, org)
    duban.complete_task(org["user:admin"], one_ready(duban, org, "admin", "Task_review_plan"), {"decision": "approve"})
    upload = duban.upload_evidence
    before = upload(org["user:responsible"], problem_id, "前.png", "image/png", PNG + b"before").id
    after = upload(org["user:responsible"], problem_id, "后.png", "image/png", PNG + b"after").id
    report = upload(org["user:responsible"], problem_id, "报告.pdf", "application/pdf", b"%PDF-1.4 report").id
    duban.complete_task(org["user:responsible"], one_ready(duban, org, "responsible", "Task_rectify"),
                        {"summary": "已完成提标改造", "evidence": [report], "photos_before": [before],
                         "photos_after": [after]})
    certify = one_ready(duban, org, "housing_head", "Task_industry_certify")
    login(client, "housing_head")
    page = client.get(f"/tasks/{certify}").get_data(as_text=True)
    case = page.split('class="task-case"', 1)[1]
    rectify = case.split('data-submission=', 1)[1].split('<section class="card', 1)[0]
    assert "整改实施并申请销号" in rectify and "已完成提标改造" in rectify
    assert re.search(rf'<a href="/evidence/{report}" data-evidence-id="{report}" data-data>报告.pdf</a>', rectify)
    pair = section(rectify, "data-comparison")
    assert re.search(rf'href="/evidence/{before}" target="_blank" data-lightbox><img class="photo"', pair)
    assert f'data-evidence-id="{after}"' in pair.split('data-side="after"')[1]
    assert "lightbox.js" in page and 'id="lightbox"' in page


def test_a_sent_back_plan_shows_the_reason_and_the_previous_plan(client, duban, org):
    to_review(duban, org)
    duban.complete_task(org["user:admin"], one_ready(duban, org, "admin", "Task_review_plan"),
                        {"decision": "return", "reason": REASON})
    again = one_ready(duban, org, "responsible", "Task_submit_plan")
    login(client, "responsible")
    page = client.get(f"/tasks/{again}").get_data(as_text=True)
    notice = section(page, "data-sent-back")
    assert page.index("data-sent-back") < page.index('id="task-form"')  # at the top
    assert "admin" in notice and "审核整改方案" in notice and REASON in notice and "退回" in notice
    setup = setup_of(page)
    assert setup["readOnly"] is False
    assert {k: setup["data"][k] for k in PLAN} == PLAN  # the previous submission, prefilled
    # submitting the prefilled form changed in one field is the new plan
    done = client.post(f"/tasks/{again}/complete", data={"csrf_token": token_of(page), "data": json.dumps(
        {**setup["data"], "measures": "新增深度处理单元，日处理2万吨"})})
    assert done.status_code == 302
    with duban.db.reading() as session:
        data = session.get(HumanTask, again).data
    assert data["target"] == PLAN["target"] and data["measures"] == "新增深度处理单元，日处理2万吨"
    # the reviewer sees the send-back in the case's history, the reason in full
    switch(client, page, "admin")
    review = client.get(f"/tasks/{one_ready(duban, org, 'admin', 'Task_review_plan')}").get_data(as_text=True)
    assert REASON in section(review, "data-send-backs") and "日处理2万吨" in review
    assert "decision" not in setup_of(review)["data"]  # the review comes round again: not sent back, not prefilled


def test_a_rectification_sent_back_keeps_its_files(client, duban, org):
    problem_id = to_review(duban, org)
    duban.complete_task(org["user:admin"], one_ready(duban, org, "admin", "Task_review_plan"), {"decision": "approve"})
    photo = duban.upload_evidence(org["user:responsible"], problem_id, "现场.png", "image/png", PNG + b"site").id
    duban.complete_task(org["user:responsible"], one_ready(duban, org, "responsible", "Task_rectify"),
                        {"summary": "已完成", "evidence": [photo]})
    duban.complete_task(org["user:housing_head"], one_ready(duban, org, "housing_head", "Task_industry_certify"),
                        {"decision": "reject", "opinion": "监测数据不足"})
    again = one_ready(duban, org, "responsible", "Task_rectify")
    login(client, "responsible")
    page = client.get(f"/tasks/{again}").get_data(as_text=True)
    assert "监测数据不足" in section(page, "data-sent-back")
    assert f'data-evidence-id="{photo}"' in section(page, 'id="evidence-evidence"')
    assert setup_of(page)["data"]["summary"] == "已完成"
    done = client.post(f"/tasks/{again}/complete", data={"csrf_token": token_of(page),
                                                         "data": json.dumps({"summary": "已补充监测"})})
    assert done.status_code == 302
    with duban.db.reading() as session:
        assert session.get(HumanTask, again).data["evidence"] == [photo]


def test_a_completed_task_shows_what_was_submitted_read_only(client, duban, org):
    problem_id = to_review(duban, org)
    duban.complete_task(org["user:admin"], one_ready(duban, org, "admin", "Task_review_plan"), {"decision": "approve"})
    rectify = one_ready(duban, org, "responsible", "Task_rectify")
    login(client, "responsible")
    page = client.get(f"/tasks/{rectify}").get_data(as_text=True)
    upload = client.post(f"/tasks/{rectify}/evidence", data={
        "csrf_token": token_of(page), "field": "evidence", "file": (__import__("io").BytesIO(PNG + b"x"), "现场.png")},
        content_type="multipart/form-data")
    assert upload.status_code == 302
    assert client.post(f"/tasks/{rectify}/complete", data={"csrf_token": token_of(page),
                                                           "data": '{"summary": "整改完成"}'}).status_code == 302
    with duban.db.reading() as session:
        [photo] = session.get(HumanTask, rectify).data["evidence"]

    page = client.get(f"/tasks/{rectify}").get_data(as_text=True)
    assert "张科长" in section(page, "data-completed")
    setup = setup_of(page)
    assert setup["readOnly"] is True and setup["data"]["summary"] == "整改完成"
    stored = section(page, 'id="evidence-evidence"')
    assert f'data-evidence-id="{photo}"' in stored and "尚未上传" not in stored
    assert 'id="complete-form"' not in page and "/evidence\"" not in stored  # no upload form
    # the office, reading it, sees the same
    switch(client, page, "admin")
    page = client.get(f"/tasks/{rectify}").get_data(as_text=True)
    assert f'data-evidence-id="{photo}"' in section(page, 'id="evidence-evidence"')
    assert setup_of(page)["data"]["summary"] == "整改完成"
    assert problem_id
