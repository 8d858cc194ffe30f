"""Repairing incidents and open instances through the API: retry, move (redo and skip),
migrate to a fixed version and cancel, each written to the ledger with who and why; bad input
answered with a 4xx naming the field and nothing changed."""
from __future__ import annotations

from engine import clock
from engine.models import IncidentStatus, InstanceStatus
from engine.scheduling import plan as schedule_plan

from .helpers_incidents import deploy, fix_data, incidents_of
from .helpers_repair import entries, flow, instance, ready_rows, reloads, rows, script, user

_codes = iter(range(1, 10_000))

BROKEN = flow("fragile", user("Task_first", "签收"), script("Script", "total = count * 2"), user("Task_after", "办理"))
FIXED = flow("fragile", user("Task_first", "签收"), script("Script", "total = 2"), user("Task_after", "办理"))


def register(api, key: str = "fragile") -> int:
    return api.register(process_key=key, code=f"RA-2026-{next(_codes):03d}")["id"]


def stuck(api, duban) -> tuple[int, dict]:
    """A problem whose process stopped at the failing script: (problem id, its incident)."""
    pid = register(api)
    response = api.complete(api.ready_task(pid, "Task_first"), "admin", {})
    return pid, response.json["incident"]


def test_an_incident_stuck_on_a_broken_version_is_repaired_by_migrating_to_the_fixed_one(api, duban):
    deploy(api, BROKEN)
    pid, incident = stuck(api, duban)
    deploy(api, FIXED)
    response = api.post(f"/api/incidents/{incident['id']}/migrate", as_="admin",
                        json={"to_version": 2, "reason": "脚本已修正"})
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["action"], body["status"], body["version"], body["incident"]) == ("migrated", "running", 2, None)
    assert [t["element_id"] for t in body["current_tasks"]] == ["Task_after"]
    [row] = incidents_of(duban, pid)
    assert (row.status, row.resolution, row.note) == (IncidentStatus.RESOLVED, "migrated", "脚本已修正")
    [entry] = entries(duban, pid, "instance.migrated")
    assert (entry["reason"], entry["incident"], entry["_actor"]) == ("脚本已修正", incident["id"], entry["_actor"])
    assert entry["_actor"] != "系统"
    assert entries(duban, pid, "incident.resolved")[-1]["resolution"] == "migrated"
    reloads(duban, pid)


def test_an_incident_is_repaired_by_retry_after_its_cause_is_fixed(api, duban):
    deploy(api, BROKEN)
    pid, incident = stuck(api, duban)
    failed = api.post(f"/api/incidents/{incident['id']}/retry", as_="admin", json={"reason": "先试一次"})
    assert (failed.json["status"], entries(duban, pid, "incident.retried")[-1]["reason"]) == ("open", "先试一次")
    fix_data(duban, pid, "Script", count=4)
    response = api.post(f"/api/incidents/{incident['id']}/retry", as_="admin", json={"reason": "已补数据"})
    assert (response.json["status"], response.json["resolution"], response.json["note"]) == ("resolved", "retried", "已补数据")
    assert entries(duban, pid, "incident.resolved")[-1]["note"] == "已补数据"


def test_an_incident_is_repaired_by_moving_its_token_past_the_failing_step(api, duban):
    deploy(api, BROKEN)
    pid, incident = stuck(api, duban)
    response = api.post(f"/api/incidents/{incident['id']}/move", as_="admin",
                        json={"to_element": "Task_after", "reason": "跳过计算"})
    assert response.status_code == 200, response.json
    assert [t["element_id"] for t in response.json["current_tasks"]] == ["Task_after"]
    assert response.json["detail"]["direction"] in ("skip", "jump")
    [row] = incidents_of(duban, pid)
    assert (row.status, row.resolution) == (IncidentStatus.RESOLVED, "moved")
    [entry] = entries(duban, pid, "instance.moved")
    assert (entry["from"], entry["to"], entry["reason"]) == ("Script", "Task_after", "跳过计算")
    assert instance(duban, pid).status == InstanceStatus.RUNNING


def test_a_healthy_instance_is_sent_back_a_step_and_forward_again(api, duban):
    deploy(api, flow("steps", user("A", "甲"), user("B", "乙"), user("C", "丙")))
    pid = register(api, "steps")
    api.complete(api.ready_task(pid, "A"), "admin", {})
    instance_id = instance(duban, pid).id
    back = api.post(f"/api/process-instances/{instance_id}/move", as_="admin", json={"to_element": "A", "reason": "重做签收"})
    assert back.status_code == 200, back.json
    assert back.json["detail"]["direction"] == "redo"
    assert [r.element_id for r in ready_rows(duban, pid)] == ["A"]
    assert rows(duban, pid) == [("A", "甲", "completed"), ("B", "乙", "cancelled"), ("A", "甲", "ready")]
    skip = api.post(f"/api/process-instances/{instance_id}/move", as_="admin", json={"to_element": "C", "reason": "跳过"})
    assert skip.json["detail"] == {"from": "A", "to": "C", "direction": "skip", "skipped": ["B"]}
    assert [r.element_id for r in ready_rows(duban, pid)] == ["C"]
    api.complete(api.ready_task(pid, "C"), "admin", {})
    assert instance(duban, pid).status == InstanceStatus.COMPLETED
    assert [e["reason"] for e in entries(duban, pid, "instance.moved")] == ["重做签收", "跳过"]


def upcoming(duban) -> set[str]:
    """The ids of the scheduler's wake-ups as it would plan them now."""
    with duban.db.reading() as session:
        return {w.id for w in schedule_plan.upcoming(session, duban.escalation_rules(), duban.runtime.calendar,
                                                     clock.now())}


def test_cancelling_an_incident_ends_the_instance_and_keeps_the_problem(api, duban):
    deploy(api, BROKEN)
    pid, incident = stuck(api, duban)
    assert f"incident:{incident['id']}" in upcoming(duban)               # its automatic retry is planned
    response = api.post(f"/api/incidents/{incident['id']}/cancel", as_="admin", json={"reason": "问题已另案处理"})
    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["current_tasks"]) == ("cancelled", [])
    [row] = incidents_of(duban, pid)
    assert (row.status, row.resolution, row.note) == (IncidentStatus.RESOLVED, "cancelled", "问题已另案处理")
    assert instance(duban, pid).next_wakeup_at is None
    assert f"incident:{incident['id']}" not in upcoming(duban)           # and gone with the process
    problem = api.get(f"/api/problems/{pid}", as_="admin").json
    assert problem["code"].startswith("RA-") and problem["incidents"] == []
    assert entries(duban, pid, "instance.cancelled")[0]["reason"] == "问题已另案处理"
    again = api.post(f"/api/process-instances/{instance(duban, pid).id}/cancel", as_="admin", json={"reason": "再次"})
    assert again.status_code == 409


def test_bad_repairs_are_refused_by_field_and_change_nothing(api, duban):
    deploy(api, BROKEN)
    deploy(api, flow("other", user("X", "其他")))
    pid, incident = stuck(api, duban)
    before = rows(duban, pid)
    door = f"/api/incidents/{incident['id']}"
    unknown = api.post(f"{door}/move", as_="admin", json={"to_element": "Nowhere", "reason": "试试"})
    assert unknown.status_code == 400 and "Nowhere" in unknown.json["errors"]["to_element"][0]
    no_reason = api.post(f"{door}/move", as_="admin", json={"to_element": "Task_after"})
    assert no_reason.status_code == 400 and "reason" in no_reason.json["errors"]
    blank = api.post(f"{door}/cancel", as_="admin", json={"reason": "   "})
    assert blank.status_code == 400 and "reason" in blank.json["errors"]
    other = api.post(f"{door}/migrate", as_="admin", json={"to_version": 1, "process": "other", "reason": "换流程"})
    assert other.status_code == 400 and "other" in other.json["errors"]["process"][0]
    missing = api.post(f"{door}/migrate", as_="admin", json={"to_version": 9, "reason": "不存在"})
    assert missing.status_code == 400 and "9" in missing.json["errors"]["to_version"][0]
    same = api.post(f"{door}/migrate", as_="admin", json={"to_version": 1, "reason": "同版本"})
    assert same.status_code == 400 and "to_version" in same.json["errors"]
    bulk = api.post("/api/process-definitions/fragile/versions/1/migration", as_="admin",
                    json={"to_version": 1, "dry_run": False, "reason": "x"})
    assert bulk.status_code == 400 and "to_version" in bulk.json["errors"]
    choice = api.post("/api/process-definitions/other/versions/1/migration", as_="admin",
                      json={"to_version": 1})
    assert choice.status_code == 400
    assert api.post(f"{door}/cancel", json={"reason": "x"}).status_code == 401
    assert api.post(f"{door}/cancel", as_="responsible", json={"reason": "x"}).status_code == 403
    assert api.post("/api/process-definitions/fragile/versions/1/migration", as_="responsible",
                    json={"to_version": 1}).status_code == 403
    assert api.post("/api/incidents/999999/cancel", as_="admin", json={"reason": "x"}).status_code == 404
    assert rows(duban, pid) == before
    [row] = incidents_of(duban, pid)
    assert row.status == IncidentStatus.OPEN
    assert entries(duban, pid, "instance.moved") == entries(duban, pid, "instance.cancelled") == []


def test_moves_on_the_shipped_process_arm_boundary_timers_and_every_state_loads(api, duban):
    pid = api.register(code="RA-2026-900")["id"]                        # the rectification process
    instance_id = instance(duban, pid).id

    def move(to: str, reason: str = "调整"):
        response = api.post(f"/api/process-instances/{instance_id}/move", as_="admin",
                            json={"to_element": to, "reason": reason})
        assert response.status_code == 200, response.json
        reloads(duban, pid)
        return response.json

    forward = move("Task_rectify")                                        # skip sign-off and the plan
    assert [t["element_id"] for t in forward["current_tasks"]] == ["Task_rectify"]
    assert instance(duban, pid).next_wakeup_at is not None               # the monthly boundary timer armed
    assert move("Task_site_inspection")["current_tasks"][0]["element_id"] == "Task_site_inspection"
    assert instance(duban, pid).next_wakeup_at is None                   # the boundary timer went with it
    assert incidents_of(duban, pid) == []
    back = move("Task_sign", "重新签收")
    assert [t["element_id"] for t in back["current_tasks"]] == ["Task_sign"]
    gateway = api.post(f"/api/process-instances/{instance_id}/move", as_="admin",
                       json={"to_element": "BoundaryEvent_monthly", "reason": "x"})
    assert gateway.status_code == 400 and "to_element" in gateway.json["errors"]


def test_a_draft_is_no_target_of_a_migration(api, duban):
    deploy(api, BROKEN)
    pid, incident = stuck(api, duban)
    draft = api.post("/api/process-definitions?draft=true&comment=未定稿", as_="admin", data=FIXED.encode(),
                     content_type="application/xml")
    assert draft.status_code == 201 and draft.json["status"] == "draft", draft.json
    one = api.post(f"/api/incidents/{incident['id']}/migrate", as_="admin", json={"to_version": 2, "reason": "试迁"})
    assert one.status_code == 400 and "draft" in one.json["errors"]["to_version"][0]
    bulk = api.post("/api/process-definitions/fragile/versions/1/migration", as_="admin",
                    json={"to_version": 2, "dry_run": True})
    assert bulk.status_code == 400 and "draft" in bulk.json["errors"]["to_version"][0]
    assert instance(duban, pid).definition.version == 1
