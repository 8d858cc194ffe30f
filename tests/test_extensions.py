"""Extension requests (延期申请): filed before the deadline, decided by the office; approval
moves the deadline, the ladder and the tasks follow it, the ledger records it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from engine import clock
from engine.models import Escalation, ExtensionRequest, LedgerEntry, Problem

from .helpers_flow import snapshot

DEADLINE = "2026-03-20"  # a Friday


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=clock.SHANGHAI)


def file(api, pid, as_="responsible", **body):
    body = {"requested_deadline": "2026-04-30", "reason": "汛期施工受阻，管网改造需延后", **body}
    return api.post(f"/api/problems/{pid}/extension-requests", as_=as_, json=body)


def test_an_approved_extension_moves_the_deadline_and_the_ladder(api, duban):
    pid = api.register(deadline=DEADLINE)["id"]
    filed = file(api, pid)
    assert filed.status_code == 201, filed.json
    assert filed.json["status"] == "pending" and filed.json["current_deadline"] == DEADLINE

    approved = api.post(f"/api/extension-requests/{filed.json['id']}/approve", as_="admin",
                        json={"note": "同意延期"})
    assert approved.status_code == 200, approved.json
    assert (approved.json["status"], approved.json["approved_deadline"]) == ("approved", "2026-04-30")
    assert api.get(f"/api/problems/{pid}", as_="admin").json["plan"]["deadline"] == "2026-04-30"

    # the old deadline's rungs no longer fire; the new deadline's do, in their turn
    clock.freeze(at("2026-03-23T09:00"))
    assert duban.sweep() == []
    clock.freeze(at("2026-04-27T00:00:01"))  # 3 working days before 30 April (Mon 27 Apr)
    assert [(f.problem_code, f.level) for f in duban.sweep()] == [("NL-2026-001", 1)]
    with duban.db.reading() as session:
        assert session.scalars(select(Escalation.deadline)).all() == [datetime(2026, 4, 30).date()]
        actions = session.scalars(select(LedgerEntry.action).where(LedgerEntry.problem_id == pid)).all()
    assert "extension.requested" in actions and "extension.approved" in actions


def test_the_office_may_approve_a_different_date_or_refuse_with_a_reason(api, duban):
    pid = api.register(deadline=DEADLINE)["id"]
    first = file(api, pid).json
    refused = api.post(f"/api/extension-requests/{first['id']}/refuse", as_="admin", json={})
    assert refused.status_code == 400 and "note" in refused.json["errors"]
    refused = api.post(f"/api/extension-requests/{first['id']}/refuse", as_="admin", json={"note": "理由不充分"})
    assert refused.json["status"] == "refused"
    assert api.get(f"/api/problems/{pid}", as_="admin").json["plan"]["deadline"] == DEADLINE

    second = file(api, pid, reason="补充材料后再次申请").json
    answer = api.post(f"/api/extension-requests/{second['id']}/approve", as_="admin",
                      json={"approved_deadline": "2026-04-10"})
    assert answer.json["approved_deadline"] == "2026-04-10"
    assert api.get(f"/api/problems/{pid}", as_="admin").json["plan"]["deadline"] == "2026-04-10"
    again = api.post(f"/api/extension-requests/{second['id']}/approve", as_="admin", json={})
    assert again.status_code == 409
    listed = api.get(f"/api/problems/{pid}/extension-requests", as_="responsible").json["items"]
    assert [r["status"] for r in listed] == ["refused", "approved"]


def test_bad_requests_are_refused_and_nothing_is_written(api, duban):
    pid = api.register(deadline=DEADLINE)["id"]
    before = snapshot(duban)
    cases = [
        (dict(requested_deadline="2026-03-19"), "requested_deadline", 400),   # not later
        (dict(requested_deadline="三月底"), "requested_deadline", 400),          # not a date
        (dict(reason=""), "reason", 400),
    ]
    for body, field, status in cases:
        response = file(api, pid, **body)
        assert response.status_code == status and field in response.json["errors"], response.json
    assert api.post(f"/api/problems/{pid}/extension-requests", as_="responsible", json={}).status_code == 400
    assert snapshot(duban) == before

    clock.freeze(at("2026-03-21T09:00"))  # the deadline has passed
    late = file(api, pid)
    assert late.status_code == 400 and "requested_deadline" in late.json["errors"]
    assert "passed" in late.json["errors"]["requested_deadline"][0]
    assert snapshot(duban) == before


def test_one_pending_request_at_a_time_and_only_the_office_decides(api, duban):
    pid = api.register(deadline=DEADLINE)["id"]
    first = file(api, pid).json
    assert file(api, pid).status_code == 409
    # the discipline office watches, it does not ask or decide; an official does not decide
    assert file(api, pid, as_="jiwei").status_code == 403
    assert api.post(f"/api/extension-requests/{first['id']}/approve", as_="responsible", json={}).status_code == 403
    assert api.post(f"/api/extension-requests/{first['id']}/approve", as_="jiwei", json={}).status_code == 403
    assert api.post("/api/extension-requests/999/approve", as_="admin", json={}).status_code == 404
    with duban.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ExtensionRequest)) == 1
        assert session.get(Problem, pid).deadline.isoformat() == DEADLINE
        denials = session.scalar(select(func.count()).select_from(LedgerEntry)
                                 .where(LedgerEntry.action == "permission.denied"))
    assert denials == 3
    pending = api.get("/api/extension-requests?status=pending", as_="admin").json["items"]
    assert [r["id"] for r in pending] == [first["id"]]
    assert api.get("/api/extension-requests?status=maybe", as_="admin").status_code == 400


def test_tasks_due_at_the_deadline_follow_it(api, duban):
    from .helpers_flow import drive_to

    pid = api.register(deadline="2026-06-30")["id"]
    task = drive_to(api, pid, "Task_rectify")
    deadline = api.get(f"/api/problems/{pid}", as_="admin").json["plan"]["deadline"]  # as the approved plan set it
    assert task["due_at"].startswith(f"{deadline}T15:59:59")  # the end of that day, Beijing time, in UTC
    filed = file(api, pid, requested_deadline="2026-09-30").json
    api.post(f"/api/extension-requests/{filed['id']}/approve", as_="admin", json={})
    moved = api.ready_task(pid, "Task_rectify")
    assert moved["id"] == task["id"] and moved["due_at"].startswith("2026-09-30T15:59:59")
