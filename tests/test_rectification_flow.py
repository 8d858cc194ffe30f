"""A problem travels the whole rectification flow through the API, both send-back loops and
the look-back reopening included."""
from __future__ import annotations

from datetime import datetime, timedelta

from engine import clock
from engine.models import LedgerEntry

PLAN = {"target": "出水稳定达到一级A标准", "measures": "提标改造，新增深度处理单元", "deadline_kind": "by_date",
        "deadline": "2026-06-20"}


def actions(duban, problem_id):
    with duban.db.reading() as session:
        return [e.action for e in session.query(LedgerEntry).filter_by(problem_id=problem_id).order_by(LedgerEntry.id)]


def upload(api, problem_id, name="验收报告.pdf", content=b"%PDF-1.4 report", as_="responsible"):
    from io import BytesIO

    response = api.post(f"/api/problems/{problem_id}/evidence", as_=as_,
                        data={"file": (BytesIO(content), name)}, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json["id"]


def status(api, problem_id):
    return api.get(f"/api/problems/{problem_id}", as_="admin").json["status"]


def test_whole_flow_with_send_backs_and_reopening(api, duban):
    problem = api.register()
    pid = problem["id"]
    assert problem["status"] == "registered"
    sign = api.ready_task(pid)
    assert (sign["element_id"], sign["assignee"], sign["lane"]) == ("Task_sign", "responsible", "责任单位")
    # due in 3 working days: Monday 09:00 -> Thursday 09:00 Beijing time
    assert sign["due_at"] == "2026-03-05T01:00:00+00:00"
    api.complete(sign, "responsible", {"acknowledged": True, "remark": "已签收"})

    # plan submitted, sent back with a reason (退回), resubmitted, approved
    plan = api.ready_task(pid, "Task_submit_plan")
    assert status(api, pid) == "planning"
    api.complete(plan, "responsible", PLAN)
    review = api.ready_task(pid, "Task_review_plan")
    assert review["candidate_role"] == "admin"
    api.complete(review, "admin", {"decision": "return", "reason": "措施不具体"})
    resubmit = api.ready_task(pid, "Task_submit_plan")
    assert resubmit["id"] != plan["id"]
    api.complete(resubmit, "responsible", {**PLAN, "deadline": "2026-08-31"})
    # a later deadline is an extension: the review cannot approve it until the office grants one
    review = api.ready_task(pid, "Task_review_plan")
    refused = api.complete(review, "admin", {"decision": "approve"}, expect=400)
    assert "extension request" in refused.json["errors"]["decision"][0]
    filed = api.post(f"/api/problems/{pid}/extension-requests", as_="responsible",
                     json={"requested_deadline": "2026-08-31", "reason": "设备采购周期长"})
    assert api.post(f"/api/extension-requests/{filed.json['id']}/approve", as_="admin", json={}).status_code == 200
    api.complete(review, "admin", {"decision": "approve"})
    detail = api.get(f"/api/problems/{pid}", as_="admin").json
    assert detail["plan"]["deadline"] == "2026-08-31" and detail["plan"]["target"] == PLAN["target"]
    assert detail["status"] == "rectifying"

    # a month of implementation: the monthly progress report comes due on the engine's clock
    rectify = api.ready_task(pid, "Task_rectify")
    assert rectify["due_at"] == "2026-08-31T15:59:59+00:00"  # end of the deadline day, Beijing time
    clock.advance(timedelta(days=32))
    assert [names for _, names in duban.wake_due()] == [["月度进展"]]
    report = api.ready_task(pid, "Task_monthly_report")
    api.complete(report, "responsible", {"progress": "完成设备采购", "percent": 40, "on_schedule": "yes"})

    # close-out application, rejected by the industry department (second send-back loop)
    evidence = upload(api, pid)
    api.complete(rectify, "responsible", {"summary": "改造完成", "evidence": [evidence]})
    assert status(api, pid) == "accepting"
    certify = api.ready_task(pid, "Task_industry_certify")
    assert certify["assignee"] == "housing_head" and certify["candidate_unit"]["id"] == api.org["housing"]
    api.complete(certify, "housing_head", {"decision": "reject", "opinion": "在线监测数据不完整"})
    assert status(api, pid) == "rectifying"
    again = api.ready_task(pid, "Task_rectify")
    api.complete(again, "responsible", {"summary": "补充监测数据", "evidence": [evidence]})
    api.complete(api.ready_task(pid, "Task_industry_certify"), "housing_head", {"decision": "certify"})
    api.complete(api.ready_task(pid, "Task_site_inspection"), "admin",
                 {"decision": "pass", "checked_on": "2026-04-20"})

    # public notice of 5 working days across the Qingming holiday (4-6 April):
    # from Friday 3 April 09:00 to Monday 13 April 09:00, then close-out (销号)
    assert status(api, pid) == "public_notice"
    assert api.get(f"/api/problems/{pid}", as_="admin").json["current_tasks"] == []
    clock.freeze(datetime(2026, 4, 13, 8, 59, tzinfo=clock.SHANGHAI))
    assert duban.wake_due() == []
    clock.freeze(datetime(2026, 4, 13, 9, 0, 1, tzinfo=clock.SHANGHAI))
    assert [names for _, names in duban.wake_due()] == [["公示期"]]
    api.complete(api.ready_task(pid, "Task_notice_result"), "admin", {"objection": "none"})
    closed = api.get(f"/api/problems/{pid}", as_="admin").json
    assert closed["status"] == "closed" and closed["closed_at"]

    # look-back six months later finds the problem has come back: reopened
    clock.advance(timedelta(days=190))
    assert [names for _, names in duban.wake_due()] == [["回头看"]]
    api.complete(api.ready_task(pid, "Task_look_back"), "admin", {"rebound": "yes", "finding": "出水再次超标"})
    reopened = api.get(f"/api/problems/{pid}", as_="admin").json
    assert reopened["status"] == "rectifying" and reopened["closed_at"] is None
    assert [t["element_id"] for t in reopened["current_tasks"]] == ["Task_rectify"]

    trail = actions(duban, pid)
    assert trail.count("task.sent_back") == 3  # plan returned, industry rejection, look-back reopening
    assert trail[:3] == ["problem.registered", "instance.started", "task.assigned"]
    assert "evidence.uploaded" in trail and trail.count("instance.timer_fired") == 3
    timeline = reopened["timeline"]
    back = [e for e in timeline if e["action"] == "task.sent_back"][0]
    assert back["payload"]["to"] == "Task_submit_plan" and back["payload"]["data"]["reason"] == "措施不具体"
    assert duban.verify_ledger().intact


def test_look_back_confirms_and_the_instance_completes(api, duban):
    pid = api.register()["id"]
    for element, user, data in [
        ("Task_sign", "responsible", {"acknowledged": True}),
        ("Task_submit_plan", "responsible", PLAN),
        ("Task_review_plan", "admin", {"decision": "approve"}),
    ]:
        api.complete(api.ready_task(pid, element), user, data)
    evidence = upload(api, pid)
    api.complete(api.ready_task(pid, "Task_rectify"), "responsible", {"summary": "完成", "evidence": [evidence]})
    api.complete(api.ready_task(pid, "Task_industry_certify"), "housing_head", {"decision": "certify"})
    api.complete(api.ready_task(pid, "Task_site_inspection"), "admin", {"decision": "pass", "checked_on": "2026-03-03"})
    clock.advance(timedelta(days=10))
    duban.wake_due()
    api.complete(api.ready_task(pid, "Task_notice_result"), "admin", {"objection": "none"})
    clock.advance(timedelta(days=200))
    duban.wake_due()
    api.complete(api.ready_task(pid, "Task_look_back"), "admin", {"rebound": "no", "finding": "未反弹"})
    detail = api.get(f"/api/problems/{pid}", as_="admin").json
    assert detail["status"] == "closed" and detail["current_tasks"] == []
    assert "instance.completed" in actions(duban, pid)
