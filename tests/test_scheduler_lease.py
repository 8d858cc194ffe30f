"""The scheduler's lease: one holder at a time by the database's clock, a new holder fences the
old one out of every commit, and a leader frozen by SIGSTOP is replaced within the lease and
fires nothing when it wakes.

The lease runs on real time by design (a frozen process, a VM pause, a host whose clock is
off: the database's clock judges), so these tests use leases of a fraction of a second, or a
few seconds for the processes."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy import select

from engine import clock
from engine.models import HumanTask, LedgerEntry, SignInThrottle
from engine.scheduling import leadership as leadership_module
from engine.scheduling.lease import FencedOut, Lease
from engine.scheduling.runner import Scheduler

from .served import BIN, duban_env
from .test_definitions import FIXTURE, deploy_xml, mini_process
from .test_scheduler import DEADLINE, at, fired, wait_for


def _mark(duban, lease, name: str) -> None:
    """A fenced transaction writing one harmless row."""
    with duban.db.fenced(lease), duban.db.transaction() as session:
        session.add(SignInThrottle(name_digest=name, failures=1, window_started_at=clock.now()))


def _marks(duban) -> set[str]:
    with duban.db.reading() as session:
        return set(session.scalars(select(SignInThrottle.name_digest)))


def test_one_holder_at_a_time_and_the_next_one_fences_the_last(duban):
    first, second = Lease(duban.db.engine, seconds=0.5), Lease(duban.db.engine, seconds=0.5)
    assert first.take() and not second.take()
    _mark(duban, first, "first-while-holding")
    assert first.renew()

    assert wait_for(second.take, timeout=5, step=0.05), "the lease did not expire"
    assert second.fencing == first.fencing + 1
    with pytest.raises(FencedOut):
        _mark(duban, first, "first-after-losing")  # it was frozen, say, and does not know yet
    assert not first.renew() and first.fencing is None
    _mark(duban, second, "second")
    assert _marks(duban) == {"first-while-holding", "second"}

    last = second.fencing
    second.give_up()  # a clean stop: taken again at once, with a new fencing number
    assert first.take() and first.fencing == last + 1
    assert first.state()["holder"] == first.holder


def test_a_leader_whose_lease_was_taken_commits_nothing_and_stands_down(api, duban, settings):
    """A leader that slept past its lease (as after SIGSTOP) runs its next cycle fenced out: no
    escalation commits, it stops leading, and the one now holding the lease fires the rungs."""
    from engine.service import Duban

    api.register(deadline=DEADLINE)
    clock.freeze(at("2026-03-23T10:00"))  # the reminder and the urging are due
    old = Scheduler(duban, leadership=leadership_module.for_database(duban.db.engine, 0.5))
    assert old.leadership.acquire()
    old.leading.set()
    other = Duban(settings)
    try:
        new = Scheduler(other, leadership=leadership_module.for_database(other.db.engine, 30))
        assert wait_for(new.leadership.acquire, timeout=5, step=0.05)
        old.on_job("woke up")
        assert fired(duban) == [] and not old.leading.is_set() and old.leadership.fenced_out.is_set()
        new.leading.set()
        new.on_job("took over")
        assert [level for level, _ in fired(duban)] == [1, 2]
        new.leadership.release()
    finally:
        other.db.dispose()


def _timers(duban, problem_ids) -> Counter:
    with duban.db.reading() as session:
        return Counter(session.scalars(select(LedgerEntry.problem_id).where(
            LedgerEntry.problem_id.in_(problem_ids), LedgerEntry.action == "instance.timer_fired")))


def _after(duban, problem_ids) -> int:
    """How many of these problems' instances have passed their timer (their next task is ready)."""
    with duban.db.reading() as session:
        return len(session.scalars(select(HumanTask.problem_id).where(
            HumanTask.problem_id.in_(problem_ids), HumanTask.element_id == "Task_after")).all())


def test_a_frozen_leader_is_replaced_and_fires_nothing_when_it_wakes(api, duban, settings, database_url, tmp_path):
    """Two `duban scheduler` processes; the leader is frozen (SIGSTOP) for longer than its lease.
    The standby leads within the lease plus its retry and fires the timers that fell due in
    the gap; the old leader, woken (SIGCONT), fires nothing and stands by. Every timer fired
    once."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a frozen SQLite writer holds the whole database; the processes' test is PostgreSQL's")
    assert deploy_xml(api, mini_process("wait_short", "timeDuration:PT4S"), accept=FIXTURE).status_code == 201
    assert deploy_xml(api, mini_process("wait_long", "timeDuration:PT14S"), accept=FIXTURE).status_code == 201
    clock.release()
    env = dict(duban_env(database_url, settings.instance_path), DUBAN_SCHEDULER_LEASE_SECONDS="3")
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    processes = []
    try:
        for log in logs[:1]:
            with open(log, "wb") as out:
                processes.append(subprocess.Popen([str(BIN / "duban"), "scheduler"], env=env, stdout=out,
                                                  stderr=subprocess.STDOUT))
        lease = Lease(duban.db.engine)
        assert wait_for(lambda: f":{processes[0].pid}:" in (lease.state()["holder"] or ""), timeout=60), \
            logs[0].read_text()
        with open(logs[1], "wb") as out:
            processes.append(subprocess.Popen([str(BIN / "duban"), "scheduler"], env=env, stdout=out,
                                              stderr=subprocess.STDOUT))
        assert wait_for(lambda: "scheduler started" in logs[1].read_text(), timeout=60), logs[1].read_text()

        short = [api.register(process_key="wait_short", code=f"FZ-S{n}")["id"] for n in range(3)]
        long = [api.register(process_key="wait_long", code=f"FZ-L{n}")["id"] for n in range(3)]
        time.sleep(0.5)  # the leader hears of them and plans
        frozen_at = time.monotonic()
        os.kill(processes[0].pid, signal.SIGSTOP)

        # the short timers fall due 4 s after registering, inside the gap: fired by the new leader
        assert wait_for(lambda: f":{processes[1].pid}:" in (lease.state()["holder"] or ""), timeout=30)
        took_over = time.monotonic() - frozen_at
        assert took_over < 3 + 2 + 3, took_over  # the lease, the standby's retry, a loaded machine
        assert wait_for(lambda: _after(duban, short + long) == 6, timeout=40), _timers(duban, short + long)

        os.kill(processes[0].pid, signal.SIGCONT)
        assert wait_for(lambda: "standing by" in logs[0].read_text(), timeout=20), logs[0].read_text()
        time.sleep(1.0)
        assert _timers(duban, short + long) == Counter({pid: 1 for pid in short + long})
        assert f":{processes[1].pid}:" in lease.state()["holder"]
        print(f"\nthe standby led {took_over:.1f} s after the leader froze (lease 3 s, retry 2 s)")
    finally:
        for process in processes:
            try:
                os.kill(process.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
