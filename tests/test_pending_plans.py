"""A plan is a proposal until approved: a submitted plan waits as the problem's pending plan
(待审核方案); the review's approval makes it the plan, a send-back (退回) keeps it visible as
what was sent back, and a plan that moves the deadline later or makes a dated problem
long-term cannot take effect without the extension decision (延期申请)."""
from __future__ import annotations

from .helpers_flow import PLAN
from .test_pages import login

REGISTERED = "2026-06-30"


def to_review(api, plan: dict) -> tuple[int, dict]:
    pid = api.register(deadline=REGISTERED)["id"]
    api.complete(api.ready_task(pid, "Task_sign"), "responsible", {"acknowledged": True})
    api.complete(api.ready_task(pid, "Task_submit_plan"), "responsible", plan)
    return pid, api.ready_task(pid, "Task_review_plan")


def detail(api, pid: int) -> dict:
    return api.get(f"/api/problems/{pid}", as_="admin").json


def test_submission_waits_and_approval_applies_it(api):
    pid, review = to_review(api, {**PLAN, "deadline": "2026-06-15"})
    shown = detail(api, pid)
    assert shown["plan"]["deadline"] == REGISTERED and shown["plan"]["target"] is None
    pending = shown["pending_plan"]
    assert (pending["state"], pending["deadline"], pending["target"]) == ("pending", "2026-06-15", PLAN["target"])
    assert pending["needs_extension"] is False
    api.complete(review, "admin", {"decision": "approve"})
    shown = detail(api, pid)
    assert shown["plan"]["deadline"] == "2026-06-15" and shown["plan"]["target"] == PLAN["target"]
    assert shown["pending_plan"] is None and shown["status"] == "rectifying"


def test_send_back_keeps_the_deadline_and_the_plan_sent_back(api):
    pid, review = to_review(api, {**PLAN, "deadline": "2099-12-31"})
    api.complete(review, "admin", {"decision": "return", "reason": "时限过长"})
    shown = detail(api, pid)
    assert shown["plan"]["deadline"] == REGISTERED and shown["plan"]["deadline_kind"] == "by_date"
    assert shown["pending_plan"]["state"] == "returned" and shown["pending_plan"]["deadline"] == "2099-12-31"
    assert api.ready_task(pid, "Task_submit_plan")


def test_a_later_deadline_needs_the_extension_decision(api):
    pid, review = to_review(api, {**PLAN, "deadline": "2026-08-31"})
    assert detail(api, pid)["pending_plan"]["needs_extension"] is True
    refused = api.complete(review, "admin", {"decision": "approve"}, expect=400)
    assert "2026-08-31" in refused.json["errors"]["decision"][0]
    assert detail(api, pid)["plan"]["deadline"] == REGISTERED
    filed = api.post(f"/api/problems/{pid}/extension-requests", as_="responsible",
                     json={"requested_deadline": "2026-07-31", "reason": "设备采购周期长"})
    assert api.post(f"/api/extension-requests/{filed.json['id']}/approve", as_="admin", json={}).status_code == 200
    # granted only to 07-31: the plan's 08-31 still needs more
    api.complete(review, "admin", {"decision": "approve"}, expect=400)
    api.complete(review, "admin", {"decision": "return", "reason": "时限超出批准的延期"})
    api.complete(api.ready_task(pid, "Task_submit_plan"), "responsible", {**PLAN, "deadline": "2026-07-31"})
    api.complete(api.ready_task(pid, "Task_review_plan"), "admin", {"decision": "approve"})
    assert detail(api, pid)["plan"]["deadline"] == "2026-07-31"


def test_long_term_cannot_drop_the_deadline_through_the_review(api):
    pid, review = to_review(api, {**PLAN, "deadline_kind": "long_term", "deadline": None})
    refused = api.complete(review, "admin", {"decision": "approve"}, expect=400)
    assert "long-term" in refused.json["errors"]["decision"][0]
    shown = detail(api, pid)
    assert shown["plan"]["deadline_kind"] == "by_date" and shown["plan"]["deadline"] == REGISTERED
    assert shown["pending_plan"]["deadline_kind"] == "long_term" and shown["pending_plan"]["needs_extension"]


def test_pages_show_the_pending_plan_beside_the_approved_one(app, api):
    pid, review = to_review(api, {**PLAN, "deadline": "2026-08-31"})
    client = app.test_client()
    login(client, "admin")
    task_page = client.get(f"/tasks/{review['id']}").get_data(as_text=True)
    assert "data-current-deadline" in task_page and REGISTERED in task_page
    assert "data-proposed-deadline" in task_page and "2026-08-31" in task_page and "data-needs-extension" in task_page
    problem_page = client.get(f"/problems/{pid}").get_data(as_text=True)
    assert 'id="pending-plan"' in problem_page and 'data-pending-state="pending"' in problem_page
    assert "2026-08-31" in problem_page
    api.complete(review, "admin", {"decision": "return", "reason": "时限过长"})
    problem_page = client.get(f"/problems/{pid}").get_data(as_text=True)
    assert 'data-pending-state="returned"' in problem_page and "已退回的方案" in problem_page
