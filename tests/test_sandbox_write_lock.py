"""A script runs before its action takes SQLite's write lock (engine/workflow/sandbox/
rehearsal.py): while a runaway script runs to its limit, in a completion, a timer's wake-up,
a registration or an incident's retry, another writer of the same database never waits for
it; the action then ends as before, at the script's incident, in one transaction."""
from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import pytest

from bench.contention import sqlite_writer
from engine import clock
from engine.settings import ScriptLimits

from .helpers_incidents import chain, script, timer
from .helpers_incidents import deploy as deploy_chain
from .helpers_sandbox import diagram, incident_text, start, submit

LIMITS = ScriptLimits(cpu_seconds=0.8, memory_mb=160, data_bytes=20_000, workers=2)
RUNAWAY = "while True:\n    pass"
PATIENCE = 0.4  # the longest another writer may wait; the runaway alone takes twice that


def patient(took: float, longest: float) -> bool:
    """The other writer waited for a short transaction, not for the script: under PATIENCE, or,
    on a machine so loaded that everything is slower (the action's own transaction was seen
    to hold the lock 0.63 s of a 1.55 s registration), under half of the whole action (held
    through the script, the lock would keep it waiting for nearly all of it)."""
    return longest < max(PATIENCE, took / 2)


@pytest.fixture
def settings(settings):
    return replace(settings, scripts=LIMITS)


@pytest.fixture(autouse=True)
def sqlite_only(backend):
    if backend != "sqlite":
        pytest.skip("PostgreSQL locks rows, not the database: a script in a transaction keeps no other writer out")


def while_another_writer_writes(duban, action):
    """Run `action()` while another connection takes the write lock every 20 ms: (its result,
    seconds it took, the other writer's longest wait in seconds)."""
    with sqlite_writer(duban.db.url.removeprefix("sqlite:///"), pause=0.02, timeout=60) as waits:
        began = time.monotonic()
        try:
            result = action()
        finally:
            took = time.monotonic() - began
    assert waits, "the other writer never wrote"
    return result, took, max(waits)


def test_a_completion_runs_its_runaway_script_outside_the_write_lock(api, duban):
    task = start(api, diagram("runaway_completion", script=RUNAWAY))
    (response, _), took, longest = while_another_writer_writes(duban, lambda: submit(api, task))
    assert "CPU" in incident_text(response, "Task_script")
    assert took >= LIMITS.cpu_seconds and patient(took, longest), (took, longest)
    done = api.get(f"/api/tasks/{task['id']}", as_="admin").json
    assert done["state"] == "completed" and done["data"] == {"answer": "x"}


def test_a_timer_wakes_its_runaway_script_outside_the_write_lock(api, duban):
    deploy_chain(api, chain("runaway_after_timer", timer("Timer", "PT1H"), script("Task_script", RUNAWAY)))
    api.register(code="LOCK-TIMER", process_key="runaway_after_timer")
    clock.advance(timedelta(hours=2))
    woken, took, longest = while_another_writer_writes(duban, duban.wake_due)
    assert [names for _, names in woken] == [["等待期"]]
    assert [i.element_id for i in woken.incidents] == ["Task_script"]
    assert took >= LIMITS.cpu_seconds and patient(took, longest), (took, longest)


def test_a_registration_and_a_retry_run_their_runaway_script_outside_the_write_lock(api, duban):
    deploy_chain(api, chain("runaway_at_start", script("Task_script", RUNAWAY)))
    answer, took, longest = while_another_writer_writes(
        duban, lambda: api.register(code="LOCK-START", process_key="runaway_at_start"))
    assert [i["element_id"] for i in answer["incidents"]] == ["Task_script"]
    assert took >= LIMITS.cpu_seconds and patient(took, longest), (took, longest)

    incident_id = answer["incidents"][0]["id"]
    retried, took, longest = while_another_writer_writes(
        duban, lambda: api.post(f"/api/incidents/{incident_id}/retry", as_="admin"))
    assert retried.status_code == 200, retried.json
    assert retried.json["attempts"] == 2 and retried.json["error_type"] == "ScriptLimitExceeded", retried.json
    assert took >= LIMITS.cpu_seconds and patient(took, longest), (took, longest)
