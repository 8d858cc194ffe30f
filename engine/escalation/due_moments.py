"""When each problem's next rung of the ladder falls due by its deadline: `problem.ladder_due_at`,
indexed, so that the sweep, the forecast and the scheduler's plan read the problems whose rungs
fall due in a window instead of working out every open problem.

  None        nothing will fall due by the deadline (closed, no deadline, every rung settled);
  TO_WORK_OUT (long ago) to be worked out: the deadline, the status or `ladder_from` changed, a
              rung fired, a process raised an event, or the rules or the calendar changed;
  a moment    the next rung falls due then (at or before now: it is due and the sweep fires it).

Writes here go through the table, not the ORM, so that they are not taken for a change of a due
time (engine/scheduling/signal.py) and do not make the scheduler plan again for nothing."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable, Iterator

from sqlalchemy import bindparam, event, select, update
from sqlalchemy.orm import Session

from ..models import Problem, ProblemStatus
from ..models.base import LONG_AGO

TO_WORK_OUT = LONG_AGO
BATCH = 500


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


def first_due_by(session: Session, moment: datetime, limit: int, narrow=None) -> list[tuple[int, datetime]]:
    """The first `limit` problems whose next rung falls due by `moment` (those to be worked out
    first), soonest first (indexed); `narrow` (Select -> Select) limits them to a scope."""
    statement = select(Problem.id, Problem.ladder_due_at).where(Problem.ladder_due_at <= moment)
    if narrow is not None:
        statement = narrow(statement)
    return list(session.execute(statement.order_by(Problem.ladder_due_at, Problem.id).limit(limit)).all())


def to_work_out(session: Session) -> list[int]:
    return list(session.scalars(select(Problem.id).where(Problem.ladder_due_at == TO_WORK_OUT).order_by(Problem.id)))


def next_after(session: Session, now: datetime, until: datetime, limit: int) -> list[tuple[int, datetime]]:
    """The first `limit` problems whose next rung falls due after `now` and by `until`, soonest first."""
    return list(session.execute(select(Problem.id, Problem.ladder_due_at)
                                .where(Problem.ladder_due_at > now, Problem.ladder_due_at <= until)
                                .order_by(Problem.ladder_due_at, Problem.id).limit(limit)).all())


_store = (update(Problem.__table__).where(Problem.__table__.c.id == bindparam("problem_id"))
          .values(ladder_due_at=bindparam("moment")))


def store(session: Session, moments: dict[int, datetime | None]) -> None:
    """Write each problem's next due moment (one statement for the lot)."""
    if moments:
        session.execute(_store, [{"problem_id": problem_id, "moment": moment}
                                 for problem_id, moment in sorted(moments.items())])


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
