"""When each problem's next rung of the ladder falls due by its deadline: `problem.ladder_due_at`,
indexed, so that the sweep, the forecast and the scheduler's plan read the problems whose rungs
fall due in a window instead of working out every open problem.

  None        nothing will fall due by the deadline (closed, no deadline, every rung settled);
  TO_WORK_OUT (long ago) to be worked out: the deadline, the status or `ladder_from` changed, a
              rung fired, a process raised an event, or the rules or the calendar changed;
  a moment    the next rung falls due then (at or before now: it is due and the sweep fires it).

With the next moment, every later rung the same survey found is stored (`ladder_rung`: key,
moment, level), replaced whenever the problem is worked out again; the rows of a problem to be
worked out are stale and not read. The forecast counts and pages them by moment.

Writes here go through the table, not the ORM, so that they are not taken for a change of a due
time (engine/scheduling/signal.py) and do not make the scheduler plan again for nothing."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable, Iterator

from sqlalchemy import bindparam, delete, event, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ..models import LadderRung, Problem, ProblemStatus
from ..models.base import LONG_AGO

TO_WORK_OUT = LONG_AGO
BATCH = 500
WORK_OUT_SLICE = 2000  # problems to be worked out in one transaction (after a change of the rules: every open one)


def batches(ids: Iterable[int], size: int = BATCH) -> Iterator[list[int]]:
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def due_by(session: Session, moment: datetime, narrow=None) -> list[int]:
    """The problems whose next rung falls due by `moment` or is to be worked out (indexed);
    `narrow` (Select -> Select) limits them to a scope."""
    statement = select(Problem.id).where(Problem.ladder_due_at <= moment)
    if narrow is not None:
        statement = narrow(statement)
    return list(session.scalars(statement.order_by(Problem.id)))


def due_between(session: Session, after: datetime, by: datetime) -> list[int]:
    """The problems whose next rung falls due after `after` and by `by` (indexed)."""
    return list(session.scalars(select(Problem.id).where(Problem.ladder_due_at > after, Problem.ladder_due_at <= by)
                                .order_by(Problem.id)))


def to_work_out(session: Session, narrow=None, limit: int | None = None) -> list[int]:
    """The problems to be worked out (indexed), the first `limit` of them by id if given;
    `narrow` (Select -> Select) limits them to a scope."""
    statement = select(Problem.id).where(Problem.ladder_due_at == TO_WORK_OUT)
    if narrow is not None:
        statement = narrow(statement)
    return list(session.scalars(statement.order_by(Problem.id).limit(limit)))


def any_to_work_out(session: Session, after: int | None = None) -> bool:
    """Whether any problem (with an id above `after`, if given) is to be worked out."""
    statement = select(Problem.id).where(Problem.ladder_due_at == TO_WORK_OUT)
    if after is not None:
        statement = statement.where(Problem.id > after)
    return session.scalar(statement.limit(1)) is not None


def any_due(session: Session, now: datetime) -> bool:
    """Whether any problem has a rung due by `now` (not one to be worked out) (indexed)."""
    return session.scalar(select(Problem.id).where(Problem.ladder_due_at > TO_WORK_OUT, Problem.ladder_due_at <= now)
                          .limit(1)) is not None


def next_after(session: Session, now: datetime, until: datetime, limit: int) -> list[tuple[int, datetime]]:
    """The first `limit` problems whose next rung falls due after `now` and by `until`, soonest first."""
    return list(session.execute(select(Problem.id, Problem.ladder_due_at)
                                .where(Problem.ladder_due_at > now, Problem.ladder_due_at <= until)
                                .order_by(Problem.ladder_due_at, Problem.id).limit(limit)).all())


_store = (update(Problem.__table__).where(Problem.__table__.c.id == bindparam("problem_id"))
          .values(ladder_due_at=bindparam("moment")))


def store(session: Session, moments: dict[int, datetime | None], rungs: dict[int, list] | None = None) -> None:
    """Write each problem's next due moment (one statement for the lot) and, given `rungs`
    (problem id -> the `Due`s after now the same survey found), replace those problems' stored
    rungs: a delete and an insert a batch. The moments are written first, so that on PostgreSQL
    a second transaction storing the same problem waits on its row until this one commits, and
    then deletes what this one inserted."""
    if moments:
        session.execute(_store, [{"problem_id": problem_id, "moment": moment}
                                 for problem_id, moment in sorted(moments.items())])
    if rungs:
        store_rungs(session, rungs)


def until_fired(later: dict[int, datetime | None], due: Iterable) -> dict[int, datetime | None]:
    """The moments to store for problems surveyed: each one's next moment after now (`later`),
    but for one with a rung due (`due`, `Due`s), the earliest of those: it stays due until the
    rung fires or is held."""
    moments = dict(later)
    for item in due:
        moments[item.problem_id] = min(item.moment, moments.get(item.problem_id) or item.moment)
    return moments


def held(session: Session, problem: Problem, now: datetime) -> None:
    """A rung due now is held (an organisation gap, which its own wake-up fires once the heads
    are entered): the problem's next moment is its next rung after now, as the survey that
    found the rung due stored it, unless a firing marked it to be worked out meanwhile."""
    if problem.ladder_due_at == TO_WORK_OUT:
        return
    session.flush()
    problem.ladder_due_at = session.scalar(select(func.min(LadderRung.moment)).where(
        LadderRung.problem_id == problem.id, LadderRung.moment > now))


def store_rungs(session: Session, rungs: dict[int, list]) -> None:
    """Replace the stored rungs of the problems in `rungs` with those given (`Due`s)."""
    table = LadderRung.__table__
    for batch in batches(sorted(rungs)):
        session.execute(delete(table).where(table.c.problem_id.in_(batch)))
        rows = {due.key: {"key": due.key, "problem_id": problem_id, "moment": due.moment, "level": due.rule["level"]}
                for problem_id in batch for due in rungs[problem_id]}
        if rows:
            session.execute(insert(table), list(rows.values()))


def still_due(session: Session, problem_id: int, moment: datetime) -> None:
    """A rung due at `moment` failed to fire: its problem stays due then, for the next sweep
    (unless it was marked to be worked out meanwhile, which is due too and keeps its mark)."""
    session.execute(update(Problem.__table__).where(
        Problem.__table__.c.id == problem_id,
        or_(Problem.__table__.c.ladder_due_at.is_(None), Problem.__table__.c.ladder_due_at != TO_WORK_OUT))
        .values(ladder_due_at=moment))


def work_out_again(session: Session, first_id: int | None = None, last_id: int | None = None) -> int:
    """Mark the open problems (those with ids in [first_id, last_id], if given) to be worked out
    again: after a change of the rules or the calendar, and as the scheduler's safety net."""
    statement = update(Problem.__table__).where(Problem.__table__.c.status != ProblemStatus.CLOSED.value)
    if first_id is not None:
        statement = statement.where(Problem.__table__.c.id >= first_id)
    if last_id is not None:
        statement = statement.where(Problem.__table__.c.id <= last_id)
    return session.execute(statement.values(ladder_due_at=TO_WORK_OUT)).rowcount


def mark(problem: Problem) -> None:
    """This problem's place on the ladder changed (a firing, an event): work it out again."""
    problem.ladder_due_at = TO_WORK_OUT


def _changed(target, value, old, initiator):
    if value != old:
        target.ladder_due_at = TO_WORK_OUT


for _attribute in (Problem.deadline, Problem.status, Problem.ladder_from):
    event.listen(_attribute, "set", _changed)
