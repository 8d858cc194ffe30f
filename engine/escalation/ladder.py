"""When each rule of the ladder falls due for a problem, counted in working days."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from .. import clock
from ..calendar import WorkingCalendar
from ..models import Problem, ProblemStatus
from .rules import Ladder


@dataclass(frozen=True)
class Due:
    """A rule that falls (or fell) due for a problem at `moment`, by one of its triggers."""

    problem_id: int
    rule: dict
    trigger: dict
    moment: datetime
    deadline: date | None
    key: str
    event_id: int | None = None
    passed_over: tuple["Due", ...] = ()   # the rungs this one enters the ladder in place of


def shift_working(calendar: WorkingCalendar, day: date, count: int) -> date:
    """The date `count` working days after `day` (before it when negative); 0 is `day`."""
    return calendar.shift(day, count)


def start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), clock.SHANGHAI).astimezone(clock.UTC)


def deadline_key(problem: Problem, rule: dict, deadline: date | None) -> str:
    """The idempotency key: one firing per problem, rule, level and deadline, whichever of the
    rule's triggers (days overdue, a repeat, an event from a process) gets there first. A
    moved deadline (延期) may fire the ladder again; a problem without a deadline (长期坚持)
    fires each rule once at most."""
    return f"p{problem.id}:{rule['code']}:L{rule['level']}:d{deadline.isoformat() if deadline else 'none'}"


def deadline_dues(problem: Problem, ladder: Ladder, calendar: WorkingCalendar) -> list[Due]:
    """The moments the deadline triggers of every rule fall due for `problem`."""
    if problem.deadline is None or problem.status == ProblemStatus.CLOSED:
        return []
    dues = []
    for rule in ladder.rules:
        moments = []
        for trigger in rule["triggers"]:
            if trigger["kind"] == "before_deadline":
                moments.append((start_of(shift_working(calendar, problem.deadline, -trigger["working_days"])), trigger))
            elif trigger["kind"] == "overdue":
                last_day = shift_working(calendar, problem.deadline, trigger["working_days"])
                moments.append((start_of(last_day + timedelta(days=1)), trigger))
        if moments:
            moment, trigger = min(moments, key=lambda pair: pair[0])
            dues.append(Due(problem.id, rule, trigger, moment, problem.deadline, deadline_key(problem, rule, problem.deadline)))
    return dues


def entering(problem: Problem, dues: list[Due], settled: set[str]) -> list[Due]:
    """The problem's deadline dues as the ladder fires them, those `settled` (fired or passed
    over) left out. Counted from `problem.ladder_from` (the moment of registration, or an
    import's grace date): the rungs due at or before it are its backlog, and only the highest
    of them fires, at `ladder_from`, passing over the others (they are recorded with it and
    never fire); the rungs due after it fire at their own moment. A problem registered before
    its deadline has no backlog (at most the reminder, which then fires alone)."""
    if problem.ladder_from is None:
        return [due for due in dues if due.key not in settled]
    backlog = [due for due in dues if due.moment <= problem.ladder_from]
    later = [due for due in dues if due.moment > problem.ladder_from and due.key not in settled]
    if not backlog:
        return later
    top = max(backlog, key=lambda due: (due.rule["level"], due.moment))
    if top.key in settled:
        return later  # entered already
    below = tuple(due for due in backlog if due is not top and due.key not in settled)
    return [replace(top, moment=problem.ladder_from, passed_over=below), *later]


def entry_rung(problem: Problem, ladder: Ladder, calendar: WorkingCalendar) -> Due | None:
    """The rung a problem not registered yet would enter the ladder at, at its `ladder_from`
    (the dry run of an import): None when nothing is due by then."""
    if problem.ladder_from is None:
        return None
    first = entering(problem, deadline_dues(problem, ladder, calendar), set())
    return first[0] if first and first[0].moment == problem.ladder_from else None


def overdue_working_days(problem: Problem, calendar: WorkingCalendar, now: datetime) -> int:
    """Working days past the deadline by `now` (0 when not overdue)."""
    if problem.deadline is None:
        return 0
    today, day, count = now.astimezone(clock.SHANGHAI).date(), problem.deadline, 0
    while day < today:
        day += timedelta(days=1)
        if calendar.is_working_day(day) and day < today:
            count += 1
    return count
