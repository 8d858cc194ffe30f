"""Migrating running instances to another version: a renamed task follows in place (its due
time counted again from when it was opened), an added task is followed, a removed waiting
task goes where the administrator chose; every migrated state loads; the dry run changes
nothing; the scheduler's timers are recomputed."""
from __future__ import annotations

from datetime import timedelta

from engine import clock
from engine.models import InstanceStatus, ProcessInstance
from engine.scheduling import plan as schedule_plan
from engine.workflow import migration
from engine.workflow.serializer import specs_for

from .helpers_incidents import deploy, incidents_of
from .helpers_repair import V1, V2, entries, flow, instance, ready_rows, reloads, rows, timer, user


_codes = iter(range(1, 10_000))


def register(api, key: str = "repairable") -> int:
    return api.register(process_key=key, code=f"RP-2026-{next(_codes):03d}")["id"]


def at(api, pid: int, *elements: str) -> None:
    """Complete the problem's ready task at each element in turn."""
    for element in elements:
        api.complete(api.ready_task(pid, element), "admin", {})


def three_instances(api):
    deploy(api, V1)
    signing = register(api)
    clock.advance(timedelta(hours=3))
    reviewing = register(api)
    at(api, reviewing, "Task_sign")
    on_old = register(api)
    at(api, on_old, "Task_sign", "Task_review")
    deploy(api, V2)
    return signing, reviewing, on_old


def migrate(api, body: dict, version: int = 1):
    return api.post(f"/api/process-definitions/repairable/versions/{version}/migration", as_="admin", json=body)


def test_the_dry_run_maps_each_waiting_task_and_changes_nothing(api, duban):
    signing, reviewing, on_old = three_instances(api)
    before = [rows(duban, pid) for pid in (signing, reviewing, on_old)]
    response = migrate(api, {"to_version": 2})
    assert response.status_code == 200, response.json
    plan = response.json
    assert (plan["open_instances"], plan["dry_run"], plan["from_version"], plan["to_version"]) == (3, True, 1, 2)
    by_element = {e["mapping"]["element_id"]: e for e in plan["elements"]}
    assert by_element["Task_sign"]["mapping"]["how"] == "renamed"
    assert by_element["Task_sign"]["mapping"]["target_name"] == "签收确认"
    assert by_element["Task_review"]["mapping"]["target_id"] == "Task_review"
    assert by_element["Task_old"]["mapping"]["how"] == "none" and by_element["Task_old"]["ready"] == 1
    assert [a["id"] for a in plan["added"]] == ["Task_new"]
    tokens = {i["instance_id"]: [(t["element_id"], t["mapping"]["target_id"]) for t in i["tokens"]]
              for i in plan["instances"]}
    assert sorted(tokens.values()) == [[("Task_old", None)], [("Task_review", "Task_review")],
                                       [("Task_sign", "Task_sign")]]
    assert [rows(duban, pid) for pid in (signing, reviewing, on_old)] == before
    assert instance(duban, signing).definition.version == 1
    paged = migrate(api, {"to_version": 2, "per_page": 1, "page": 3}).json
    assert len(paged["instances"]) == 1 and paged["open_instances"] == 3


def test_renamed_added_and_removed_tasks_migrate_and_every_state_loads(api, duban):
    signing, reviewing, on_old = three_instances(api)
    [sign_row] = ready_rows(duban, signing)
    opened = sign_row.created_at
    assert sign_row.due_at == opened + timedelta(days=2)

    # the removed task needs a choice: without one that instance stays, named; the others go
    first = migrate(api, {"to_version": 2, "dry_run": False, "reason": "版本2修正"})
    assert first.status_code == 200, first.json
    outcome = {r["instance_id"]: r for r in first.json["results"]}
    assert outcome[instance(duban, on_old).id]["outcome"] == "needs_choice"
    assert "Task_old" in outcome[instance(duban, on_old).id]["message"]
    assert first.json["remaining"] == 1
    assert instance(duban, on_old).definition.version == 1

    second = migrate(api, {"to_version": 2, "dry_run": False, "reason": "版本2修正",
                           "choices": {"Task_old": "Task_new"}})
    assert [r["outcome"] for r in second.json["results"]] == ["migrated"]
    assert second.json["remaining"] == 0

    for pid in (signing, reviewing, on_old):
        assert instance(duban, pid).definition.version == 2
        reloads(duban, pid)                                             # every migrated state loads

    # renamed: the same task row, renamed, due counted from when it was opened
    [renamed] = ready_rows(duban, signing)
    assert (renamed.id, renamed.spiff_task_id, renamed.name) == (sign_row.id, sign_row.spiff_task_id, "签收确认")
    assert renamed.due_at == opened + timedelta(days=5)
    assert entries(duban, signing, "task.due_recomputed")[-1]["reason"] == "migrated to version 2"
    # removed: the old task cancelled, the chosen one assigned
    assert rows(duban, on_old)[-2:] == [("Task_old", "旧步骤", "cancelled"), ("Task_new", "新步骤", "ready")]
    [new_row] = ready_rows(duban, on_old)
    assert new_row.due_at == clock.now() + timedelta(days=1)
    # added: followed by an instance that has not passed it yet
    at(api, signing, "Task_sign")
    assert [r.element_id for r in ready_rows(duban, signing)] == ["Task_new"]
    at(api, reviewing, "Task_review")
    assert instance(duban, reviewing).status == InstanceStatus.COMPLETED

    [entry] = entries(duban, on_old, "instance.migrated")
    assert (entry["reason"], entry["from_version"], entry["to_version"]) == ("版本2修正", 1, 2)
    assert entry["tokens"] == [{"element": "Task_old", "name": "旧步骤", "state": "ready", "to": "Task_new",
                                "how": "chosen"}]


def test_a_finished_task_removed_from_the_new_version_leaves_a_state_that_loads(api, duban):
    deploy(api, V1)
    pid = register(api)
    at(api, pid, "Task_sign", "Task_review", "Task_old")  # completed: process over
    v1_open = register(api)
    at(api, v1_open, "Task_sign", "Task_review")
    deploy(api, flow("repairable", user("Task_sign", "签收"), user("Task_review", "审核"), user("Task_old", "旧步骤"),
                     user("Task_last", "最后")))
    # version 3 drops Task_review, which the open instance has passed
    deploy(api, flow("repairable", user("Task_sign", "签收"), user("Task_old", "旧步骤")))
    response = migrate(api, {"to_version": 3, "dry_run": False, "reason": "去掉审核"})
    assert [r["outcome"] for r in response.json["results"]] == ["migrated"], response.json
    workflow = reloads(duban, v1_open)
    assert "Task_review" not in {t.task_spec.name for t in workflow.get_tasks()}
    assert entries(duban, v1_open, "instance.migrated")[0]["removed_history"] == ["Task_review"]
    at(api, v1_open, "Task_old")
    assert instance(duban, v1_open).status == InstanceStatus.COMPLETED


def test_a_waiting_timer_keeps_its_moment_and_the_scheduler_plans_it(api, duban):
    deploy(api, flow("waiting", timer("Timer", "PT48H"), user("Task_after", "之后")))
    pid = register(api, "waiting")
    due = instance(duban, pid).next_wakeup_at
    assert due == clock.now() + timedelta(hours=48)
    clock.advance(timedelta(hours=10))
    deploy(api, flow("waiting", timer("Timer", "PT48H"), user("Task_after", "之后办理"), user("Task_more", "补充")))
    response = api.post(f"/api/process-instances/{instance(duban, pid).id}/migrate", as_="admin",
                        json={"to_version": 2, "reason": "补充步骤"})
    assert response.status_code == 200, response.json
    assert instance(duban, pid).next_wakeup_at == due                       # not restarted
    with duban.db.reading() as session:
        wakeups = {w.id: w.moment for w in schedule_plan.upcoming(session, duban.escalation_rules(),
                                                                  duban.runtime.calendar, clock.now())}
    assert wakeups[f"timer:{instance(duban, pid).id}"] >= due
    clock.advance(timedelta(hours=39))
    duban.wake_due()
    assert [r.name for r in ready_rows(duban, pid)] == ["之后办理"]


def test_the_migration_module_plans_from_specs_alone(api, duban):
    deploy(api, V1)
    deploy(api, V2)
    with duban.db.reading() as session:
        from engine.workflow import definitions as deployed
        v1, v2 = (specs_for(deployed.version(session, "repairable", n))[0] for n in (1, 2))
    mappings = migration.spec_mappings(v1, v2)
    assert {k: m.how for k, m in mappings.items() if k.startswith("Task")} == {
        "Task_sign": "renamed", "Task_review": "same", "Task_old": "none"}


def test_an_instance_that_cannot_migrate_becomes_an_incident_and_the_others_go_on(api, duban):
    deploy(api, V1)
    good = register(api)
    bad = register(api)
    with duban.db.transaction() as session:                     # a state this engine cannot read
        row = session.get(ProcessInstance, instance(duban, bad).id)
        row.state = {"format": "duban-0"}
    deploy(api, V2)
    plan = migrate(api, {"to_version": 2}).json
    assert [i["error"] is not None for i in plan["instances"]] == [False, True]
    response = migrate(api, {"to_version": 2, "dry_run": False, "reason": "升级"})
    results = {r["instance_id"]: r for r in response.json["results"]}
    assert results[instance(duban, good).id]["outcome"] == "migrated"
    failed = results[instance(duban, bad).id]
    assert failed["outcome"] == "failed" and "duban-0" in failed["message"]
    [incident] = incidents_of(duban, bad)
    assert (incident.error_type, incident.status.value, incident.next_retry_at) == ("MigrationError", "open", None)
    assert instance(duban, bad).definition.version == 1 and instance(duban, good).definition.version == 2
    assert response.json["remaining"] == 1


def test_a_task_whose_lane_changed_is_reassigned_in_place(api, duban):
    deploy(api, flow("handover", user("Task_check", "核查", due="P3D")))
    pid = register(api, "handover")
    [before] = ready_rows(duban, pid)
    assert before.candidate_role.value == "admin"
    deploy(api, flow("handover", user("Task_check", "核查", due="P3D"), lane="纪委监委"))
    response = api.post(f"/api/process-instances/{instance(duban, pid).id}/migrate", as_="admin",
                        json={"to_version": 2, "reason": "改由纪委监委核查"})
    assert response.status_code == 200, response.json
    [after] = ready_rows(duban, pid)
    assert (after.id, after.lane, after.candidate_role.value) == (before.id, "纪委监委", "discipline")
    assert after.due_at == before.due_at                                   # same task, same start, same due
    [task] = response.json["detail"]["tasks"]
    assert (task["before"]["lane"], task["after"]["lane"]) == ("环督办", "纪委监委")
