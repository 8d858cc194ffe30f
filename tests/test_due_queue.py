"""Timers that fall due while a backlog is fired go ahead of it (engine/incident_desk.py,
DueQueue): a burst of deadlines does not hold up the steady timers behind it, and one wake-up
still ends when timers keep falling due."""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from engine import clock, incident_desk, ledger
from engine.models import LedgerEntry, ProcessInstance
from engine.scheduling.plan import DUE_TIMERS
from engine.workflow.runtime import Runtime

from .test_definitions import FIXTURE, deploy_xml, mini_process
from .test_scheduler import live, wait_for  # noqa: F401 - live is a fixture


def _instances(duban, problem_ids: list[int]) -> list[int]:
    with duban.db.reading() as session:
        found = dict(session.execute(select(ProcessInstance.problem_id, ProcessInstance.id)
                                     .where(ProcessInstance.problem_id.in_(problem_ids))).all())
    return [found[p] for p in problem_ids]


def test_timers_fallen_due_during_a_backlog_fire_ahead_of_its_rest(api, duban, monkeypatch):
    assert deploy_xml(api, mini_process("wait_hour", "timeDuration:PT1H"), accept=FIXTURE).status_code == 201
    backlog = _instances(duban, [api.register(process_key="wait_hour", code=f"DQ-B{n}")["id"] for n in range(6)])
    clock.advance(timedelta(minutes=1))
    steady = _instances(duban, [api.register(process_key="wait_hour", code=f"DQ-S{n}")["id"] for n in range(2)])
    clock.advance(timedelta(hours=1, seconds=-30))  # the backlog is due, the steady ones in 30 s

    monkeypatch.setattr(incident_desk, "LOOK_AGAIN", 0)
    monkeypatch.setattr(incident_desk, "WAKE_BATCH", 2)
    monkeypatch.setattr(incident_desk, "WAKE_BUDGET", 600)  # whole batches, however loaded the machine
    looks = []
    head = incident_desk.DueQueue.head

    def moving_head(queue, count):
        looks.append(len(queue.ids))
        if len(looks) == 2:  # the first of the backlog fired: the steady ones fall due now
            clock.advance(timedelta(minutes=1))
        return head(queue, count)

    monkeypatch.setattr(incident_desk.DueQueue, "head", moving_head)
    order = [instance_id for instance_id, _names in duban.wake_due()]
    assert sorted(order) == sorted(backlog + steady)  # every one, once
    first = 1 if duban.db.is_sqlite else 2
    assert order[:first] == backlog[:first]
    assert sorted(order[first:first + 2]) == sorted(steady), (order, backlog, steady)
    assert order[first + 2:] == backlog[first:]


def test_a_wake_up_puts_ahead_at_most_as_many_as_its_backlog(api, duban, monkeypatch):
    """Timers falling due faster than they fire: the wake-up takes at most its backlog again,
    and ends; the rest are the next wake-up's."""
    assert deploy_xml(api, mini_process("wait_hour", "timeDuration:PT1H"), accept=FIXTURE).status_code == 201
    backlog = _instances(duban, [api.register(process_key="wait_hour", code=f"DQ-B{n}")["id"] for n in range(2)])
    for minute in range(1, 6):
        clock.advance(timedelta(minutes=1))
        api.register(process_key="wait_hour", code=f"DQ-L{minute}")
    clock.advance(timedelta(hours=1, minutes=-5, seconds=30))  # the two due; one more each minute after

    monkeypatch.setattr(incident_desk, "LOOK_AGAIN", 0)
    monkeypatch.setattr(incident_desk, "WAKE_BATCH", 1)
    head = incident_desk.DueQueue.head

    def moving_head(queue, count):
        clock.advance(timedelta(minutes=1))  # another falls due at every look
        return head(queue, count)

    monkeypatch.setattr(incident_desk.DueQueue, "head", moving_head)
    fired = duban.wake_due()
    assert len(fired) == 2 * len(backlog) and set(backlog) <= {i for i, _ in fired}


# -- the running scheduler: real APScheduler, the engine's clock running -----------------------

def _fired_at(duban, problem_ids: list[int]) -> dict[int, list]:
    with duban.db.reading() as session:
        rows = session.execute(select(LedgerEntry.problem_id, LedgerEntry.at).where(
            LedgerEntry.problem_id.in_(problem_ids), LedgerEntry.action == ledger.Action.TIMER_FIRED)).all()
    found: dict[int, list] = {problem_id: [] for problem_id in problem_ids}
    for problem_id, at in rows:
        found[problem_id].append(at)
    return found


def test_a_running_scheduler_fires_a_burst_and_what_falls_due_during_it_each_once(api, duban, live, monkeypatch):
    """A backlog due at one instant, fired slowly (each instance takes 0.2 s), while more timers
    fall due: those go ahead of the backlog's rest, and every timer fires exactly once, through
    the plans that the firings' commits ask for while the backlog runs."""
    assert deploy_xml(api, mini_process("wait_two", "timeDuration:PT2S"), accept=FIXTURE).status_code == 201
    monkeypatch.setattr(incident_desk, "LOOK_AGAIN", 0.1)
    monkeypatch.setattr(incident_desk, "WAKE_BATCH", 2)
    wake = Runtime.wake

    def slow_wake(runtime, session, instance):
        time.sleep(0.2)
        return wake(runtime, session, instance)

    monkeypatch.setattr(Runtime, "wake", slow_wake)
    clock.release()
    instant = clock.now()
    clock.freeze(instant)  # the backlog falls due at one instant, two seconds after it
    backlog = [api.register(process_key="wait_two", code=f"DQ-B{n}")["id"] for n in range(20)]
    clock.advance(timedelta(seconds=2))  # these fall due two seconds into the backlog's four
    steady = [api.register(process_key="wait_two", code=f"DQ-S{n}")["id"] for n in range(3)]
    clock.release()
    clock.advance(instant - clock.now())  # running again from the instant, however long registering took
    scheduler = live(duban)
    assert scheduler.leading.wait(10)

    everything = backlog + steady
    assert wait_for(lambda: all(_fired_at(duban, everything).values()), timeout=30), _fired_at(duban, everything)
    time.sleep(0.5)  # anything fired twice has had its time to
    fired = _fired_at(duban, everything)
    assert {problem_id: len(moments) for problem_id, moments in fired.items()} == {p: 1 for p in everything}
    backlog_fired = sorted(moments[0] for problem_id, moments in fired.items() if problem_id in backlog)
    due = instant + timedelta(seconds=4)
    # the steady ones fell due while the backlog fired (unless a loaded machine began it late):
    # they fire ahead of its rest
    during = backlog_fired[0] < due < backlog_fired[-1] - timedelta(seconds=1)
    assert not during or all(fired[problem_id][0] < backlog_fired[-1] for problem_id in steady), " ".join(
        f"{m[0]:%S.%f}{'S' if p in steady else 'B'}" for m, p in sorted((m, p) for p, m in fired.items()))


def test_wake_ups_that_fall_due_while_the_same_one_runs_are_queued_behind_it(duban, live):
    """`timer:due` planned again, twice, while the backlog it stands for still fires: APScheduler
    must queue both runs behind the first, not drop one (a dropped date job is gone). The first
    queued was due before the running one began, so it was served and returns at once; the
    second fell due after, so it runs."""
    clock.release()
    scheduler = live(duban)
    assert scheduler.leading.wait(10) and wait_for(lambda: scheduler.cycles >= 1)
    inside, go_on, runs = threading.Event(), threading.Event(), []

    def run_stage(stage, reason):
        if reason != DUE_TIMERS:
            return
        scheduler.stage_began[stage] = time.time()
        runs.append(reason)
        if len(runs) == 1:
            inside.set()
            go_on.wait(10)

    def put(what, run_at):
        scheduler._put(scheduler.aps, DUE_TIMERS, what, run_at)
        assert wait_for(lambda: scheduler.aps.get_job(DUE_TIMERS, jobstore="moments") is None, 5)  # handed on

    scheduler._run_stage = run_stage
    scheduler._plan = lambda: []  # no plan takes the jobs put here away
    with scheduler._job_lock:  # nor one in flight
        pass
    put("a backlog", datetime.now(UTC))
    assert inside.wait(5)
    put("planned late: due before the backlog's run began", datetime.now(UTC) - timedelta(seconds=1))
    time.sleep(0.01)
    put("timers due meanwhile", datetime.now(UTC))
    go_on.set()
    assert wait_for(lambda: len(runs) == 2, 5), runs
    time.sleep(0.2)
    assert len(runs) == 2


def test_a_running_schedulers_cycle_leaves_its_timers_to_their_executor(duban, live, monkeypatch):
    """A new leader's catch-up with a backlog of timers: the cycle queues the timers' stage on
    their own executor and goes on to the ladder, which does not wait for the backlog."""
    in_backlog, go_on, order = threading.Event(), threading.Event(), []

    def long_backlog():
        order.append("timers")
        in_backlog.set()
        go_on.wait(10)
        return incident_desk.Wakening()

    def sweep():
        order.append("ladder")
        return []

    monkeypatch.setattr(duban, "wake_due", long_backlog)
    monkeypatch.setattr(duban, "sweep", sweep)
    scheduler = live(duban)
    try:
        assert scheduler.leading.wait(10) and in_backlog.wait(10)
        assert wait_for(lambda: "ladder" in order, 5), order  # while the backlog still fires
        assert wait_for(lambda: scheduler.cycles >= 1, 5)
    finally:
        go_on.set()
