"""A backlog of due timers is shared with worker processes (engine/timer_workers.py): each timer
fires once whichever process fires it, a leader that lost its lease has its workers commit
nothing, and a worker that dies leaves its batch to the scheduler's own process."""
from __future__ import annotations

import os
import signal
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import update

from engine import clock, incident_desk
from engine.models import scheduler_lease
from engine.scheduling.lease import FencedOut, Lease

from .test_definitions import FIXTURE, deploy_xml, mini_process
from .test_metrics import scrape, value
from .test_scheduler_lease import past_the_timer, timers_fired

BACKLOG = 3 * incident_desk.WAKE_BATCH + 7  # more than SHARED_FROM batches: shared


@pytest.fixture
def backlog(api, duban, monkeypatch):
    if duban.db.is_sqlite:
        pytest.skip("SQLite has one writer: its timers are fired by one process")
    monkeypatch.setattr(incident_desk, "STARTED_FROM", incident_desk.SHARED_FROM)  # a backlog of tens will do
    assert deploy_xml(api, mini_process("wait_hour", "timeDuration:PT1H"), accept=FIXTURE).status_code == 201

    def make(tag: str) -> list[int]:
        return [api.register(process_key="wait_hour", code=f"TW-{tag}{n}")["id"] for n in range(BACKLOG)]
    yield make
    duban.incident_desk.dismiss_workers()


def _leading(duban) -> Lease:
    lease = Lease(duban.db.engine, seconds=60)
    assert lease.take()
    return lease


def _wake_as_leader(duban):
    """What the leading scheduler's timers stage does: wake the due instances, fenced by its lease."""
    lease = _leading(duban)
    try:
        with duban.db.fenced(lease):
            return duban.wake_due()
    finally:
        lease.give_up()


def test_a_backlog_is_shared_with_the_workers_and_each_timer_fires_once(api, duban, backlog):
    problems = backlog("A")
    before = scrape(api)[1]
    clock.advance(timedelta(hours=1, minutes=5))  # the workers follow the engine's (moved) clock
    woken = _wake_as_leader(duban)
    after = scrape(api)[1]  # the workers' timers are counted in the scheduler's own histogram, 5 min late
    count, within_a_minute = "duban_timer_lateness_seconds_count", 'duban_timer_lateness_seconds_bucket{le="60.0"}'
    assert value(after, count) == value(before, count) + BACKLOG
    assert value(after, within_a_minute) == value(before, within_a_minute)
    assert len(woken) == BACKLOG and len({instance_id for instance_id, _ in woken}) == BACKLOG
    assert woken.by_workers > 0, "the workers fired nothing"
    assert timers_fired(duban, problems) == Counter(problems)  # each once
    assert past_the_timer(duban, problems) == Counter(problems)
    assert duban.verify_ledger().intact


def test_a_leader_that_lost_its_lease_has_its_workers_commit_nothing(duban, backlog):
    problems = backlog("B")
    clock.advance(timedelta(hours=1, minutes=1))
    lease = _leading(duban)
    with duban.db.engine.begin() as connection:  # the lease ran out (the leader froze): another may lead
        connection.execute(update(scheduler_lease).values(expires_at=0.0))
    with pytest.raises(FencedOut), duban.db.fenced(lease):
        duban.wake_due()
    assert timers_fired(duban, problems) == Counter()
    assert past_the_timer(duban, problems) == Counter()


def test_a_worker_that_dies_leaves_the_backlog_to_the_schedulers_process(duban, backlog):
    first, second = backlog("C"), backlog("D")
    clock.advance(timedelta(hours=1, minutes=1))
    lease = _leading(duban)
    try:
        with duban.db.fenced(lease):
            assert len(duban.wake_due()) == 2 * BACKLOG  # the workers are up
        for pid in list(duban.incident_desk.workers._pool._processes):
            os.kill(pid, signal.SIGKILL)
        third = backlog("E")
        clock.advance(timedelta(hours=1, minutes=1))
        with duban.db.fenced(lease):
            woken = duban.wake_due()
    finally:
        lease.give_up()
    assert len(woken) == BACKLOG and woken.by_workers == 0
    assert duban.incident_desk.workers is None  # the next backlog starts new ones
    assert timers_fired(duban, first + second + third) == Counter(first + second + third)


def test_a_backlog_too_short_to_pay_for_starting_them_is_fired_without_them(duban, backlog, monkeypatch):
    """Starting the workers costs a second or two of a core each: a backlog shorter than
    STARTED_FROM batches is fired by the scheduler's process alone (they serve it once running)."""
    monkeypatch.setattr(incident_desk, "STARTED_FROM", 4)
    problems = backlog("F")
    clock.advance(timedelta(hours=1, minutes=1))
    woken = _wake_as_leader(duban)
    assert len(woken) == BACKLOG and woken.by_workers == 0 and duban.incident_desk.workers is None
    assert timers_fired(duban, problems) == Counter(problems)
