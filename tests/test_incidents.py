"""Failures are contained to their instance: a step that fails becomes an incident, every
other timer, the ladder, the lights, the notices and the bulletin go on, and incidents are
retried with back-off, never every cycle."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine import clock
from engine.models import InstanceStatus, LedgerEntry, Notification
from engine.scheduling.runner import Scheduler

from .helpers_incidents import chain, deploy, incidents_of, instance_of, script, task_state, timer, user

DEADLINE = "2026-03-20"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=clock.SHANGHAI)


def broken_and_healthy(api, failing: str = "x = undefined_name + 1") -> tuple[int, list[int]]:
    """One problem whose script after a one-hour timer fails, registered first (its timer is
    the earliest due), and two whose script works."""
    deploy(api, chain("broken", timer("Timer", "PT1H"), script("Script", failing), user("Task_after")))
    deploy(api, chain("healthy", timer("Timer", "PT1H"), script("Script", "x = 1"), user("Task_after")))
    broken = api.register(code="BROKEN-1", process_key="broken")["id"]
    clock.advance(timedelta(minutes=1))
    healthy = [api.register(code=f"OK-{i}", process_key="healthy")["id"] for i in range(2)]
    return broken, healthy


def actions(duban, problem_id: int) -> list[str]:
    with duban.db.reading() as session:
        return list(session.scalars(select(LedgerEntry.action).where(LedgerEntry.problem_id == problem_id)
                                    .order_by(LedgerEntry.id)))


def test_a_name_error_after_a_timer_is_one_incident_and_every_other_timer_fires(api, duban):
    broken, healthy = broken_and_healthy(api)
    clock.advance(timedelta(hours=2))
    woken = duban.wake_due()

    assert sorted(names for _, names in woken) == [["等待期"]] * 3  # the broken one's timer fired too
    assert [t["element_id"] for pid in healthy for t in api.get(f"/api/problems/{pid}", as_="admin").json[
        "current_tasks"]] == ["Task_after", "Task_after"]
    [incident] = woken.incidents
    assert (incident.problem_code, incident.element_id, incident.element_name, incident.error_type) == (
        "BROKEN-1", "Script", "计算", "NameError")
    assert "undefined_name" in incident.message and "line 1" in incident.message
    assert incident.attempts == 1 and incident.next_retry_at == clock.now() + timedelta(minutes=1)
    assert instance_of(duban, broken).status == InstanceStatus.ERROR
    assert task_state(duban, broken, "Script") == "ERROR"      # saved in its error state: the timer is spent
    assert actions(duban, broken)[-2:] == ["instance.timer_fired", "incident.opened"]
    with duban.db.reading() as session:  # the rectification office is told, in-app
        notices = session.scalars(select(Notification).where(Notification.kind == "incident.opened")).all()
    assert [(n.user_id, n.problem_id) for n in notices] == [(api.org["user:admin"], broken)]
    assert "BROKEN-1" in notices[0].subject and "NameError" in notices[0].body

    # not again before its back-off: nothing is due, however often the scheduler looks
    for _ in range(3):
        again = duban.wake_due()
        assert list(again) == [] and again.incidents == []
    assert incidents_of(duban)[0].attempts == 1

    clock.advance(timedelta(seconds=61))                     # 1 minute on: retried once, fails again
    retried = duban.wake_due()
    assert [(i.id, i.attempts) for i in retried.incidents] == [(incident.id, 2)]
    assert retried.incidents[0].next_retry_at == clock.now() + timedelta(minutes=2)
    assert duban.wake_due().incidents == []
    clock.advance(timedelta(minutes=2, seconds=1))
    assert [i.attempts for i in duban.wake_due().incidents] == [3]
    assert actions(duban, broken).count("incident.retried") == 2
    assert actions(duban, broken).count("instance.timer_fired") == 1  # the timer never fired twice


def test_the_back_off_doubles_up_to_its_cap(monkeypatch):
    from engine.incidents import Backoff

    monkeypatch.setenv("DUBAN_INCIDENT_RETRY_MINUTES", "2")
    monkeypatch.setenv("DUBAN_INCIDENT_RETRY_MAX_MINUTES", "60")
    backoff = Backoff.from_env()
    assert [backoff.after(n).total_seconds() / 60 for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert Backoff().after(100) == timedelta(hours=4)


def test_wake_and_sweep_exit_0_naming_the_incident_while_the_ladder_fires(api, duban, database_url, tmp_path):
    from click.testing import CliRunner

    from web.cli import main

    broken, _ = broken_and_healthy(api)
    api.register(deadline=DEADLINE)                                   # NL-2026-001, on the ladder
    env = {"DUBAN_DATABASE_URL": database_url, "DUBAN_INSTANCE_PATH": str(tmp_path / "cli")}
    woken = CliRunner().invoke(main, ["wake", "--now", "2026-03-02T12:00:00+08:00"], env=env)
    assert woken.exit_code == 0, woken.output
    assert woken.output.count(": 等待期") == 3
    [line] = [line for line in woken.output.splitlines() if line.startswith("incident ")]
    instance = instance_of(duban, broken)
    assert f"instance {instance.id}, problem BROKEN-1, Script（计算）: NameError: " in line
    assert "3 instance(s) woken, 1 incident(s)" in woken.output

    swept = CliRunner().invoke(main, ["sweep", "--now", "2026-03-25T09:00:00+08:00"], env=env)
    assert swept.exit_code == 0, swept.output
    assert "NL-2026-001  L1 提醒预警" in swept.output and "NL-2026-001  L2 催办" in swept.output
    assert "2 fired, 1 incident(s)" in swept.output            # retried (it is weeks later) and failed again
    assert "problem BROKEN-1, Script（计算）: NameError" in swept.output


def test_a_script_raising_system_exit_does_not_end_the_cycle(api, duban):
    broken, healthy = broken_and_healthy(api, failing="raise SystemExit")
    api.register(deadline=DEADLINE)
    clock.freeze(at("2026-03-25T18:00"))  # a Wednesday after 17:30: ladder, lights and bulletin all due
    results = Scheduler(duban).cycle("test")

    assert len(results["timers"]) == 3 and [i.error_type for i in results["timers"].incidents] == ["SystemExit"]
    assert [i.element_id for i in incidents_of(duban, broken)] == ["Script"]
    assert task_state(duban, broken, "Script") == "ERROR"      # not left READY to be run by the next step
    assert [f.level for f in results["ladder"]] == [1, 2]
    assert results["lights"] is not None and results["outbox"] is not None
    assert results["bulletin"] is not None and results["bulletin"].day.isoformat() == "2026-03-25"
    assert Scheduler(duban).cycle("again")["timers"] == []     # not retried before its back-off


def test_each_stage_of_the_cycle_is_its_own_unit_of_failure(api, duban, caplog):
    api.register(deadline=DEADLINE)
    clock.freeze(at("2026-03-25T18:00"))
    scheduler = Scheduler(duban)
    calls = []

    def lights_crash():
        calls.append(1)
        raise SystemExit("a stage that raises past `except Exception`")

    duban.current_lights = lights_crash
    first = scheduler.cycle("one")
    second = scheduler.cycle("two")
    assert calls == [1, 1] and first["lights"] is None
    assert [f.level for f in first["ladder"]] == [1, 2] and first["bulletin"] is not None
    assert second["outbox"] is not None
    logged = [r for r in caplog.records if r.name == "duban.scheduler" and "stage lights failed" in r.getMessage()]
    assert len(logged) == 1                                     # once, not once per cycle


def test_a_failing_step_in_a_parallel_wake_leaves_the_other_branches_going(api, duban):
    """An instance at an incident still has its other timers fired: here the failed branch is
    the only one, so the instance waits on nothing and is not due again."""
    broken, _ = broken_and_healthy(api)
    clock.advance(timedelta(hours=2))
    duban.wake_due()
    assert instance_of(duban, broken).next_wakeup_at is None
    plan = {w.id for w in Scheduler(duban).wakeups()}
    [incident] = incidents_of(duban, broken)
    assert f"incident:{incident.id}" in plan and f"timer:{instance_of(duban, broken).id}" not in plan


def test_only_a_real_shutdown_gets_past_a_step():
    from engine import incidents

    def interrupted():
        raise KeyboardInterrupt

    assert incidents.step(None, interrupted).error_type == "KeyboardInterrupt"   # a script's: contained
    incidents.request_shutdown()
    try:
        with pytest.raises(KeyboardInterrupt):
            incidents.step(None, interrupted)                                # Ctrl-C: let through
    finally:
        incidents._shutdown.clear()


def test_a_state_that_does_not_load_is_an_incident_of_its_own_and_the_others_fire(api, duban):
    """When the step's own transaction fails (here the stored state no longer loads), it is
    rolled back whole and a separate transaction records the incident; the instance is no
    longer due, and its retries count attempts."""
    broken, healthy = broken_and_healthy(api, failing="x = 1")
    with duban.db.transaction() as session:
        session.get(type(instance_of(duban, broken)), instance_of(duban, broken).id).state = {"spec": "gone"}
    clock.advance(timedelta(hours=2))
    woken = duban.wake_due()
    assert sorted(instance for instance, _ in woken) == sorted(instance_of(duban, pid).id for pid in healthy)
    [incident] = woken.incidents
    assert (incident.problem_code, incident.element_id, incident.attempts) == ("BROKEN-1", "process", 1)
    stored = instance_of(duban, broken)
    assert stored.status == InstanceStatus.ERROR and stored.next_wakeup_at is None
    assert stored.state == {"spec": "gone"}                                   # untouched: rolled back
    assert actions(duban, broken)[-1] == "incident.opened"
    assert duban.wake_due().incidents == []
    retried = api.post(f"/api/incidents/{incident.id}/retry", as_="admin")
    assert retried.status_code == 200 and (retried.json["status"], retried.json["attempts"]) == ("open", 2)
