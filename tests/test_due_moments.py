"""Due moments kept where they change: the sweep, the forecast and the scheduler's plan look
only at the problems whose next rung falls due (problem.ladder_due_at, indexed), a firing that
fails stays one failure, and the safety net puts right a moment that was not kept."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import event, select, update

from engine import clock, ledger
from engine.escalation import due_moments, firing, rules
from engine.models import Escalation, Problem
from engine.scheduling import safety_net
from engine.scheduling.plan import upcoming
from engine.scheduling.runner import Scheduler

DEADLINE = "2026-03-20"  # a Friday; the reminder falls due as Tue 17 March begins


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=clock.SHANGHAI)


_codes = iter(range(1, 10_000))


def register(api, deadline: str = DEADLINE) -> int:
    return api.register(code=f"DM-{next(_codes)}", deadline=deadline)["id"]


def moments(duban) -> dict[int, datetime | None]:
    with duban.db.reading() as session:
        return dict(session.execute(select(Problem.id, Problem.ladder_due_at)).all())


def candidates(duban) -> list[int]:
    with duban.db.reading() as session:
        return firing.candidates(session, clock.now())


def fired(duban) -> list[str]:
    with duban.db.reading() as session:
        return list(session.scalars(select(Escalation.key).order_by(Escalation.id)))


class Statements:
    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._one)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._one)

    def _one(self, *args):
        self.count += 1


def test_a_registered_problem_is_worked_out_once_then_read_by_its_moment(api, duban):
    pid = register(api, DEADLINE)
    assert moments(duban)[pid] == due_moments.TO_WORK_OUT
    Scheduler(duban).plan()
    assert moments(duban)[pid] == at("2026-03-17T00:00")  # the reminder, the next rung
    assert candidates(duban) == []                          # nothing due: the sweep looks at nobody
    clock.freeze(at("2026-03-17T09:00"))
    assert candidates(duban) == [pid]
    assert [f.level for f in duban.sweep()] == [1]
    assert moments(duban)[pid] == at("2026-03-21T00:00")  # worked out again after the firing: the next rung
    assert candidates(duban) == []


def test_a_deadline_moved_or_closed_is_worked_out_again(api, duban):
    pid = register(api, DEADLINE)
    duban.sweep()
    with duban.db.transaction() as session:
        session.get(Problem, pid).deadline = datetime(2026, 4, 30).date()
    assert moments(duban)[pid] == due_moments.TO_WORK_OUT
    duban.sweep()
    assert moments(duban)[pid] == at("2026-04-27T00:00")  # 3 working days before 30 April
    with duban.db.transaction() as session:
        session.get(Problem, pid).status = "closed"
    duban.sweep()
    assert moments(duban)[pid] is None


def test_new_rules_work_out_every_open_problem_again(api, duban):
    first = register(api, DEADLINE)
    second = register(api, "2026-05-29")
    duban.sweep()
    assert due_moments.TO_WORK_OUT not in moments(duban).values()
    with duban.db.transaction() as session:
        ladder = rules.current(session)
        rules.replace(session, {"rules": ladder.rules, "note": "再次发布"}, None)
    assert moments(duban)[first] == moments(duban)[second] == due_moments.TO_WORK_OUT


def test_the_cost_of_planning_and_sweeping_does_not_follow_the_problems_stored(api, duban):
    def measure() -> tuple[int, int]:
        scheduler = Scheduler(duban)
        scheduler.plan()  # works out what was registered
        with Statements(duban.db.engine) as planning:
            scheduler.plan()
        with Statements(duban.db.engine) as sweeping:
            duban.sweep()
        return planning.count, sweeping.count

    for _ in range(3):
        register(api)
    few = measure()
    for _ in range(15):
        register(api)
    many = measure()
    assert many == few, (few, many)


def test_a_firing_that_fails_stays_one_failure(api, duban, monkeypatch):
    broken = register(api, DEADLINE)
    good = register(api, DEADLINE)
    clock.freeze(at("2026-03-17T09:00"))
    real = firing.fire

    def fire(session, due, *args):
        if due.problem_id == broken:
            raise RuntimeError("the interview process could not be started")
        return real(session, due, *args)

    monkeypatch.setattr(firing, "fire", fire)
    with pytest.raises(RuntimeError):
        duban.sweep()
    assert fired(duban) == [f"p{good}:reminder:L1:d{DEADLINE}"]
    assert broken in candidates(duban)  # still due: the next sweep tries it again
    monkeypatch.setattr(firing, "fire", real)
    duban.sweep()
    assert fired(duban)[-1] == f"p{broken}:reminder:L1:d{DEADLINE}"


def test_the_safety_net_puts_right_a_moment_that_was_not_kept(api, duban):
    lost = register(api, DEADLINE)
    kept = register(api, DEADLINE)
    duban.sweep()
    with duban.db.transaction() as session:  # a change that failed to mark the problem
        session.execute(update(Problem.__table__).where(Problem.__table__.c.id == lost).values(ladder_due_at=None))
    clock.freeze(at("2026-03-17T09:00"))
    duban.sweep()
    assert fired(duban) == [f"p{kept}:reminder:L1:d{DEADLINE}"]
    scheduler = Scheduler(duban, safety_slice=1)
    scheduler.cycle("sweep")  # the first slice: the first problem
    assert fired(duban)[-1] == f"p{lost}:reminder:L1:d{DEADLINE}"
    assert scheduler.safety_after == lost
    assert safety_net.look_again(duban.db, kept, 1) == 0  # the round is over: it starts again


def test_a_plan_reads_each_kind_by_time_up_to_its_limit(api, duban):
    ids = [register(api, day) for day in ("2026-03-20", "2026-03-27", "2026-04-03")]
    Scheduler(duban).plan()
    with duban.db.reading() as session:
        ladder = rules.current(session)
        plan = upcoming(session, ladder, duban.current_calendar(session), clock.now(), limit=2)
    ladder_ids = [w.id for w in plan if w.id.startswith("ladder:")]
    # the first two problems' next rungs are read; the plan ends at the second one's, and the
    # third problem's rungs wait for the planning that the job at that moment runs
    assert all(f"p{ids[2]}:" not in w for w in ladder_ids), ladder_ids
    assert plan[-1].moment <= at("2026-03-24T00:00")


def test_the_forecast_gives_its_first_lines_read_from_as_many_problems_only(api, duban):
    ids = [register(api, deadline) for deadline in ("2026-03-20", "2026-03-27", "2026-04-03", "2026-04-10")]
    Scheduler(duban).plan()

    def lines(found):
        return [(f.problem_code, f.level, f.due_at) for f in found]

    everything = lines(duban.forecast(25))
    assert len(everything) > 4  # several rungs of several problems within the window
    for limit in (1, 2, 3, 4):
        assert lines(duban.forecast(25, limit)) == everything[:limit]
    # narrowed to a scope (as a region's dashboard is): that scope's lines only
    with duban.db.reading() as session:
        codes = set(session.scalars(select(Problem.code).where(Problem.id.in_(ids[1:3]))))
    narrowed = lines(duban.forecast(25, narrow=lambda statement: statement.where(Problem.id.in_(ids[1:3]))))
    assert narrowed == [line for line in everything if line[0] in codes] and narrowed
    assert lines(duban.forecast(25, 2, lambda statement: statement.where(Problem.id.in_(ids[1:3])))) == narrowed[:2]


def test_firings_commit_together_and_one_fired_meanwhile_is_skipped_alone(api, duban, monkeypatch):
    ids = [register(api, DEADLINE) for _ in range(3)]
    clock.freeze(at("2026-03-17T09:00"))
    real = firing.fire

    def fire(session, due, *args):
        if due.problem_id == ids[1]:  # another sweep fired this key a moment ago
            escalation = real(session, due, *args)
            session.add(Escalation(**{column: getattr(escalation, column) for column in (
                "key", "problem_id", "rule_code", "rule_name", "level", "rule_version", "trigger", "deadline",
                "due_at", "fired_at", "targets", "action", "instance_ids")}))
            session.flush()  # the unique key refuses the second
        return real(session, due, *args)

    monkeypatch.setattr(firing, "fire", fire)
    fired_now = duban.sweep()  # no error: a key fired meanwhile is not a failure
    assert sorted(f.problem_code for f in fired_now) == sorted(
        code for code, pid in codes(duban).items() if pid in (ids[0], ids[2]))
    assert fired(duban) == [f"p{ids[0]}:reminder:L1:d{DEADLINE}", f"p{ids[2]}:reminder:L1:d{DEADLINE}"]
    with duban.db.reading() as session:
        assert ledger.verify(session).intact  # the rolled-back savepoint left no link in the chain


def codes(duban) -> dict[str, int]:
    with duban.db.reading() as session:
        return dict(session.execute(select(Problem.code, Problem.id)).all())


@pytest.mark.parametrize("batch, budget", [(2, 60.0), (50, 0.0)])
def test_every_due_firing_fires_whatever_the_batch_and_its_time_budget(api, duban, monkeypatch, batch, budget):
    from engine import service

    monkeypatch.setattr(service, "FIRING_BATCH", batch)
    monkeypatch.setattr(service, "FIRING_BUDGET", budget)  # 0: one firing a transaction
    ids = [register(api, DEADLINE) for _ in range(5)]
    clock.freeze(at("2026-03-17T09:00"))
    assert len(duban.sweep()) == 5
    assert fired(duban) == [f"p{pid}:reminder:L1:d{DEADLINE}" for pid in ids]
    assert candidates(duban) == []


def test_a_city_to_be_worked_out_is_worked_out_a_slice_a_transaction_and_fires_the_same(api, duban, monkeypatch):
    """After a change of the rules every open problem is to be worked out: the sweep takes them
    a slice at a time, each slice its own transaction (other writers get their turn in between),
    and fires exactly what one look at all of them would have."""
    pids = [register(api, deadline) for deadline in ("2026-03-03", "2026-03-05", DEADLINE, "2026-03-10",
                                                    "2026-04-30", "2026-03-04", "2026-03-06")]
    clock.freeze(at("2026-03-09T09:00"))
    with duban.db.transaction() as session:
        due_moments.work_out_again(session)
    expected = sorted((f.problem_code, f.level) for f in duban.sweep(dry_run=True))
    assert expected  # some rungs are due
    monkeypatch.setattr(due_moments, "WORK_OUT_SLICE", 2)
    slices: list[int] = []
    to_work_out = due_moments.to_work_out

    def counted(session, narrow=None, limit=None):
        found = to_work_out(session, narrow, limit)
        if limit is not None:
            slices.append(len(found))
        return found

    monkeypatch.setattr(due_moments, "to_work_out", counted)
    fired_now = duban.sweep()
    assert sorted((f.problem_code, f.level) for f in fired_now) == expected
    assert len(fired(duban)) == len(expected)
    assert all(moment != due_moments.TO_WORK_OUT for pid, moment in moments(duban).items() if pid in pids)
    assert max(slices) == 2 and sum(slices) >= len(pids)  # two a transaction, every one of them
    assert duban.sweep() == []


def test_the_plan_works_out_a_slice_and_wakes_the_scheduler_for_the_rest(api, duban, monkeypatch):
    pids = [register(api, deadline) for deadline in ("2026-04-30", "2026-05-29", "2026-06-30", "2026-07-31", "2026-08-31")]
    monkeypatch.setattr(due_moments, "WORK_OUT_SLICE", 2)
    plan = Scheduler(duban).wakeups()
    assert [w.moment for w in plan if w.id == "ladder:work-out"] == [clock.now()]
    assert sum(moments(duban)[pid] == due_moments.TO_WORK_OUT for pid in pids) == 3  # two worked out
    duban.sweep()                                       # the cycle that wake-up runs: the rest, a slice at a time
    assert all(moments(duban)[pid] != due_moments.TO_WORK_OUT for pid in pids)
    assert "ladder:work-out" not in {w.id for w in Scheduler(duban).wakeups()}
