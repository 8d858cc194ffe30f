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
from sqlalchemy import select, text, update

from engine import clock
from engine.models import HumanTask, LedgerEntry, SignInThrottle, scheduler_lease
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


def timers_fired(duban, problem_ids) -> Counter:
    """How many times each problem's instance fired a timer (the ledger's entries)."""
    with duban.db.reading() as session:
        return Counter(session.scalars(select(LedgerEntry.problem_id).where(
            LedgerEntry.problem_id.in_(problem_ids), LedgerEntry.action == "instance.timer_fired")))


def past_the_timer(duban, problem_ids) -> Counter:
    """How many tasks after the timer each problem's instance has (one: it passed it once)."""
    with duban.db.reading() as session:
        return Counter(session.scalars(select(HumanTask.problem_id).where(
            HumanTask.problem_id.in_(problem_ids), HumanTask.element_id == "Task_after")))


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
        assert wait_for(lambda: past_the_timer(duban, short + long).total() == 6, timeout=40), timers_fired(duban, short + long)

        os.kill(processes[0].pid, signal.SIGCONT)
        assert wait_for(lambda: "standing by" in logs[0].read_text(), timeout=20), logs[0].read_text()
        time.sleep(1.0)
        assert timers_fired(duban, short + long) == Counter({pid: 1 for pid in short + long})
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


def test_a_leader_cut_from_the_database_leads_again_and_fires_each_timer_once(api, duban, settings, database_url,
                                                                               tmp_path):
    """`duban scheduler` leading while every connection it has is terminated by the server,
    again and again for several seconds (a failover, a firewall cutting it off): it survives,
    holds or takes the lease again, and the timers due during the cuts fire, each once."""
    if not database_url.startswith("postgresql"):
        pytest.skip("connections terminated by the server: PostgreSQL's")
    from sqlalchemy import create_engine, text

    assert deploy_xml(api, mini_process("wait_short", "timeDuration:PT3S"), accept=FIXTURE).status_code == 201
    clock.release()
    env = dict(duban_env(database_url, settings.instance_path), DUBAN_SCHEDULER_LEASE_SECONDS="3")
    log = tmp_path / "scheduler.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([str(BIN / "duban"), "scheduler"], env=env, stdout=out, stderr=subprocess.STDOUT)
    killer = create_engine(database_url)
    try:
        lease = Lease(duban.db.engine)
        assert wait_for(lambda: f":{process.pid}:" in (lease.state()["holder"] or ""), timeout=60), log.read_text()
        problems = [api.register(process_key="wait_short", code=f"CUT-{n}")["id"] for n in range(3)]
        cut = 0
        until = time.monotonic() + 5
        while time.monotonic() < until:
            with killer.connect() as connection:
                cut += connection.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name LIKE 'duban scheduler %'")).scalar()
            time.sleep(0.3)
        assert cut > 0, "the scheduler's connections were not found by their application_name"
        assert wait_for(lambda: past_the_timer(duban, problems).total() == 3, timeout=40), (timers_fired(duban, problems),
                                                                            log.read_text()[-3000:])
        assert process.poll() is None, log.read_text()[-3000:]
        assert wait_for(lambda: f":{process.pid}:" in (lease.state()["holder"] or ""), timeout=20)
        time.sleep(1.0)
        assert timers_fired(duban, problems) == Counter({pid: 1 for pid in problems})
        print(f"\n{cut} scheduler connections terminated; it leads again and fired each timer once")
    finally:
        killer.dispose()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _job_store(duban, lease):
    """A paused APScheduler holding the wake-ups' store fenced by `lease`, as a leader's does."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from engine.scheduling.job_store import FencedJobStore
    from engine.scheduling.runner import JOB_TABLE

    engine = duban.db.engine.execution_options(duban_writer=True) if duban.db.is_sqlite else duban.db.engine
    store = FencedJobStore(lease, engine=engine, tablename=JOB_TABLE)
    aps = BackgroundScheduler(jobstores={"moments": store})
    aps.start(paused=True)
    return aps, store


def test_a_leader_that_lost_its_lease_leaves_the_next_ones_wake_ups_alone(duban):
    """The wake-ups' store passes from leader to leader. A leader that froze and woke up after
    another took the lease finds no wake-up due, and neither deletes nor adds one: the new
    leader's jobs stay for it to run."""
    from datetime import datetime, timedelta, timezone

    old, new = Lease(duban.db.engine, seconds=0.5), Lease(duban.db.engine, seconds=30)
    assert old.take()
    old_aps, old_store = _job_store(duban, old)
    assert wait_for(new.take, timeout=5, step=0.05), "the lease did not expire"
    new_aps, new_store = _job_store(duban, new)
    try:
        due = datetime.now(timezone.utc) - timedelta(seconds=1)
        new_aps.add_job("engine.scheduling.runner:fire_due", "date", run_date=due, args=("ladder:x", due.timestamp()),
                        id="ladder:x", jobstore="moments")
        assert [job.id for job in new_store.get_due_jobs(datetime.now(timezone.utc))] == ["ladder:x"]

        assert old_store.get_due_jobs(datetime.now(timezone.utc)) == []
        assert old_store.get_next_run_time() > datetime.now(timezone.utc)  # it looks again later
        old_aps.remove_job("ladder:x", jobstore="moments")  # what its APScheduler does after running a job
        assert new_store.lookup_job("ladder:x") is not None
        with pytest.raises(FencedOut):
            old_aps.add_job("engine.scheduling.runner:fire_due", "date", run_date=due, args=("ladder:y", None),
                            id="ladder:y", jobstore="moments")
        assert new_store.lookup_job("ladder:y") is None

        new_aps.remove_job("ladder:x", jobstore="moments")  # the holder's own deletions go through
        assert new_store.lookup_job("ladder:x") is None
    finally:
        for aps in (old_aps, new_aps):
            aps.shutdown(wait=False)
        new.give_up()


def test_a_leader_frozen_inside_a_job_store_transaction_does_not_keep_the_lease(duban):
    """The store's lease check share-locks the lease row until its transaction ends. A leader
    frozen inside such a transaction is ended by the server after the lease's length, and a
    standby takes the lease then (not when the frozen one wakes)."""
    import threading

    if duban.db.is_sqlite:
        pytest.skip("on SQLite a writer frozen anywhere holds the whole database")
    old, new = Lease(duban.db.engine, seconds=0.5), Lease(duban.db.engine, seconds=30)
    assert old.take()
    aps, store = _job_store(duban, old)
    connection = duban.db.engine.connect()
    try:
        connection.begin()
        assert store._held(connection)  # ...and the process freezes here, its transaction open
        took = threading.Event()

        def take():
            if wait_for(lambda: _try(new), timeout=20, step=0.05):
                took.set()
        standby = threading.Thread(target=take, daemon=True)
        standby.start()
        standby.join(10)
        assert took.is_set(), "the standby could not take the lease from a leader frozen in the job store"
    finally:
        connection.invalidate()
        connection.close()
        aps.shutdown(wait=False)
        new.give_up()


def test_a_leader_frozen_inside_its_renewal_does_not_keep_the_lease(duban):
    """A leader frozen between renewing the lease and committing holds the lease row's lock:
    the server ends it after the lease's length, and a standby takes the lease then (its
    taking waits a second at most for the row each try, never for good)."""
    import threading

    if duban.db.is_sqlite:
        pytest.skip("on SQLite a writer frozen anywhere holds the whole database")
    old, new = Lease(duban.db.engine, seconds=0.5), Lease(duban.db.engine, seconds=30)
    assert old.take()
    statement = (update(scheduler_lease).where(old._mine(scheduler_lease))
                 .values(expires_at=old._now + old.seconds).returning(scheduler_lease.c.fencing))
    connection = duban.db.engine.connect()
    try:
        connection.begin()
        assert old._renewing(connection, statement)  # ...and the process freezes here, the row locked
        took, tries = threading.Event(), []

        def take():
            def one_try():
                began = time.monotonic()
                taken = _try(new)
                tries.append(time.monotonic() - began)
                return taken
            if wait_for(one_try, timeout=20, step=0.05):
                took.set()
        standby = threading.Thread(target=take, daemon=True)
        standby.start()
        standby.join(10)
        assert took.is_set(), "the standby could not take the lease from a leader frozen in its renewal"
        assert max(tries) < 3, tries
    finally:
        connection.invalidate()
        connection.close()
        new.give_up()


def test_a_session_holding_the_expired_leases_row_with_a_statement_running_is_ended_by_the_standby(duban, caplog):
    """The idle bound ends a frozen leader's session only while it is idle. One whose statement
    still runs (waiting on a lock, writing a result its frozen process does not read) keeps the
    lease row locked: the standby whose taking waited for the row ends that session once the
    lease has expired, says in the log what it was doing, and leads at its next try."""
    import threading

    if duban.db.is_sqlite:
        pytest.skip("on SQLite a writer frozen anywhere holds the whole database")
    old, new = Lease(duban.db.engine, seconds=0.5), Lease(duban.db.engine, seconds=30)
    assert old.take()
    connection = duban.db.engine.connect()
    busy = threading.Event()

    def frozen_with_a_statement_running():
        try:
            with connection.begin():
                old.begin(connection)
                assert old.holds(connection, old.fencing)  # the row share-locked, as a fenced check does
                busy.set()
                connection.execute(text("SELECT pg_sleep(60)"))  # active, not idle: no idle bound ends it
        except Exception:  # noqa: BLE001 - ended by the standby, as the test wants
            pass
    holder = threading.Thread(target=frozen_with_a_statement_running, daemon=True)
    holder.start()
    try:
        assert busy.wait(5)
        began = time.monotonic()
        with caplog.at_level("WARNING", logger="duban.scheduler"):
            assert wait_for(lambda: _try(new), timeout=20, step=0.2), "the standby never took the lease"
        assert time.monotonic() - began < 15
        assert any("pg_sleep" in record.getMessage() and "ended" in record.getMessage() for record in caplog.records), \
            [record.getMessage() for record in caplog.records]
        holder.join(10)
        assert not holder.is_alive()
    finally:
        connection.invalidate()
        connection.close()
        new.give_up()


def _try(lease: Lease) -> bool:
    try:
        return lease.take()
    except Exception:  # noqa: BLE001 - the row still locked: the next try
        return False


def test_a_short_leases_transaction_survives_a_pause_between_its_statements(duban):
    """The idle bound is the lease's length but never under a few seconds: a loaded machine
    that pauses a second between two statements of a half-second lease's transaction keeps it."""
    if duban.db.is_sqlite:
        pytest.skip("the idle bound is PostgreSQL's")
    lease = Lease(duban.db.engine, seconds=0.5)
    with duban.db.engine.begin() as connection:
        lease.begin(connection, waiting=True)
        time.sleep(1.2)
        assert connection.execute(text("SELECT 1")).scalar() == 1


def test_a_new_leader_ends_the_sessions_its_frozen_predecessor_left_running(duban, caplog):
    """A `duban scheduler` frozen with a statement running keeps that session's locks (here the
    ledger's): no idle bound ends an active session. The scheduler that takes its expired lease
    ends every session of that process (found by its application name) and logs what each was
    doing, so that its own work does not wait for the frozen one to wake."""
    import threading

    from sqlalchemy import create_engine

    from engine.db import scheduler_name
    from engine.ledger import _PG_LOCK_KEY

    if duban.db.is_sqlite:
        pytest.skip("on SQLite a writer frozen anywhere holds the whole database")
    old = Lease(duban.db.engine, seconds=0.5, holder="elsewhere:4242:0badcafe")
    assert old.take()
    frozen = create_engine(duban.db.url, connect_args={"application_name": scheduler_name("elsewhere", 4242)})
    busy, ended = threading.Event(), threading.Event()

    def frozen_with_a_statement_running():
        try:
            with frozen.begin() as connection:
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
                busy.set()
                connection.execute(text("SELECT pg_sleep(60)"))
        except Exception:  # noqa: BLE001 - ended by the new leader, as the test wants
            ended.set()
    holder = threading.Thread(target=frozen_with_a_statement_running, daemon=True)
    holder.start()
    new = Lease(duban.db.engine, seconds=30)
    try:
        assert busy.wait(10)
        with caplog.at_level("WARNING", logger="duban.scheduler"):
            assert wait_for(lambda: _try(new), timeout=10, step=0.2), "the lease did not expire"
        assert ended.wait(10), "the frozen scheduler's session still runs"
        with duban.db.engine.begin() as connection:  # the ledger's lock is free again
            assert connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}).scalar()
        said = [record.getMessage() for record in caplog.records]
        assert any("elsewhere:4242:0badcafe" in line and "pg_sleep" in line and "ended" in line for line in said), said
    finally:
        new.give_up()
        frozen.dispose()
