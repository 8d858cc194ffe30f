"""When each rule of the ladder falls due for a problem, counted in working days."""
from __future__ import annotations

from dataclasses import dataclass
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
