"""Traffic lights (红黄绿灯) of problems and human tasks.

green: on schedule. yellow: the deadline is near (from the start of the day N working days
before it) or, for a problem, a milestone (阶段性目标) is past its date and not done. red: the
deadline day has ended (a task: its due moment has passed) and the work is not done. closed:
the problem is closed (销号), the task completed or cancelled. A problem without a deadline
(长期坚持) is green unless it misses a milestone.

The light is stored on the row (indexed, so that a dashboard filters and counts by it) and
kept current where the row is written (the runtime sets it after every step of a process)
and by `refresh`, which the scheduler runs at `next_change`, the next moment a light changes
with the passing of time alone.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from .calendar import WorkingCalendar
from .clock import SHANGHAI
from .errors import Invalid
from .models import HumanTask, Light, Problem, ProblemStatus, TaskState
from .settings import CONFIG_DIR

DEFAULT_FILE = CONFIG_DIR / "lights.toml"
SEVERITY = {Light.GREEN: 0, Light.YELLOW: 1, Light.RED: 2}


@dataclass(frozen=True)
class LightRules:
    problem_yellow_days: int = 5
    task_yellow_days: int = 1


@lru_cache(maxsize=4)
def load_rules(path: Path = DEFAULT_FILE) -> LightRules:
    """config/lights.toml, checked (read once per process)."""
    if not path.exists():
        return LightRules()
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    values = {}
    for table, key in (("problem", "problem_yellow_days"), ("task", "task_yellow_days")):
        section = data.get(table, {})
        unknown = set(section) - {"yellow_within_working_days"}
        if unknown:
            raise Invalid(f"{path.name}: unknown key in [{table}]", {f"{table}.{k}": ["unknown key"] for k in unknown})
        if "yellow_within_working_days" in section:
            value = section["yellow_within_working_days"]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 60:
                raise Invalid(f"{path.name}: [{table}] yellow_within_working_days is a whole number from 0 to 60",
                              {f"{table}.yellow_within_working_days": ["a whole number from 0 to 60"]})
            values[key] = value
    return LightRules(**values)


# -- one row ---------------------------------------------------------------------------------

def _local_date(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def problem_thresholds(problem: Problem, calendar: WorkingCalendar, rules: LightRules) -> list[tuple[datetime, Light]]:
    """The moments from which an open problem shows at least a colour."""
    found = []
    if problem.deadline is not None:
        found.append((calendar.start_of_day(calendar.shift(problem.deadline, -rules.problem_yellow_days)), Light.YELLOW))
        found.append((calendar.start_of_day(problem.deadline + timedelta(days=1)), Light.RED))
    for milestone in problem.milestones:
        if milestone.done_at is None:
            found.append((calendar.start_of_day(milestone.due + timedelta(days=1)), Light.YELLOW))
    return found


def task_thresholds(task: HumanTask, calendar: WorkingCalendar, rules: LightRules) -> list[tuple[datetime, Light]]:
    if task.due_at is None:
        return []
    due_day = _local_date(task.due_at)
    return [(calendar.start_of_day(calendar.shift(due_day, -rules.task_yellow_days)), Light.YELLOW),
            (task.due_at, Light.RED)]


def _colour(thresholds: Iterable[tuple[datetime, Light]], now: datetime) -> Light:
    reached = [light for moment, light in thresholds if moment <= now]
    return max(reached, key=SEVERITY.__getitem__, default=Light.GREEN)


def light_of(problem: Problem, calendar: WorkingCalendar, now: datetime, rules: LightRules | None = None) -> Light:
    if problem.status == ProblemStatus.CLOSED:
        return Light.CLOSED
    return _colour(problem_thresholds(problem, calendar, rules or load_rules()), now)


def task_light_of(task: HumanTask, calendar: WorkingCalendar, now: datetime, rules: LightRules | None = None) -> Light:
    if task.state != TaskState.READY:
        return Light.CLOSED
    return _colour(task_thresholds(task, calendar, rules or load_rules()), now)


def _next(thresholds: Iterable[tuple[datetime, Light]], current: Light, now: datetime) -> datetime | None:
    later = [moment for moment, light in thresholds
             if moment > now and SEVERITY[light] > SEVERITY.get(current, 3)]
    return min(later, default=None)


# -- keeping them current --------------------------------------------------------------------

@dataclass(frozen=True)
class LightChange:
    kind: str  # "problem" or "task"
    id: int
    problem_id: int
    before: Light
    after: Light


def update(problem: Problem, tasks: Iterable[HumanTask], calendar: WorkingCalendar, now: datetime,
           rules: LightRules | None = None) -> list[LightChange]:
    """Set the lights of a problem and of some of its tasks (in the caller's transaction)."""
    rules = rules or load_rules()
    changes = []
    colour = light_of(problem, calendar, now, rules)
    if problem.light != colour:
        changes.append(LightChange("problem", problem.id, problem.id, problem.light, colour))
        problem.light = colour
    for task in tasks:
        colour = task_light_of(task, calendar, now, rules)
        if task.light != colour:
            changes.append(LightChange("task", task.id, task.problem_id, task.light, colour))
            task.light = colour
    return changes


def _open_problems(session: Session):
    return session.scalars(select(Problem).where(or_(Problem.status != ProblemStatus.CLOSED,
                                                     Problem.light != Light.CLOSED))
                           .options(selectinload(Problem.milestones)).order_by(Problem.id))


def _open_tasks(session: Session):
    return session.scalars(select(HumanTask).where(or_(HumanTask.state == TaskState.READY,
                                                       HumanTask.light != Light.CLOSED)).order_by(HumanTask.id))


def refresh(session: Session, calendar: WorkingCalendar, now: datetime,
            rules: LightRules | None = None) -> list[LightChange]:
    """Give every row whose light is not final the colour it has at `now`; what changed."""
    rules = rules or load_rules()
    changes = []
    for problem in _open_problems(session):
        changes += update(problem, (), calendar, now, rules)
    for task in _open_tasks(session):
        colour = task_light_of(task, calendar, now, rules)
        if task.light != colour:
            changes.append(LightChange("task", task.id, task.problem_id, task.light, colour))
            task.light = colour
    session.flush()
    return changes


def next_change(session: Session, calendar: WorkingCalendar, now: datetime,
                rules: LightRules | None = None) -> datetime | None:
    """The earliest moment after `now` at which a light changes with time alone."""
    rules = rules or load_rules()
    moments = []
    for problem in _open_problems(session):
        if problem.status != ProblemStatus.CLOSED:
            thresholds = problem_thresholds(problem, calendar, rules)
            moments.append(_next(thresholds, _colour(thresholds, now), now))
    for task in session.scalars(select(HumanTask).where(HumanTask.state == TaskState.READY,
                                                        HumanTask.due_at.is_not(None))):
        thresholds = task_thresholds(task, calendar, rules)
        moments.append(_next(thresholds, _colour(thresholds, now), now))
    return min((m for m in moments if m is not None), default=None)


def counts(session: Session, statement, column) -> dict[str, int]:
    """How many rows of `statement` (a select of problems or tasks) show each colour."""
    inner = statement.order_by(None).subquery()
    rows = session.execute(select(inner.c[column.key], func.count()).group_by(inner.c[column.key])).all()
    found = {light.value: 0 for light in Light}
    for light, count in rows:
        found[Light(light).value] = count
    found["total"] = sum(found.values())
    return found
