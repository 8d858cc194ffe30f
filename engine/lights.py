"""Traffic lights (红黄绿灯) of problems and human tasks.

green: on schedule. yellow: the deadline is near (from the start of the day N working days
before it) or, for a problem, a milestone (阶段性目标) is past its date and not done. red: the
deadline day has ended (a task: its due moment has passed) and the work is not done. closed:
the problem is closed (销号), the task completed or cancelled. A problem without a deadline
(长期坚持) is green unless it misses a milestone.

The light is stored on the row (indexed, so that a dashboard filters and counts by it) and
kept current where the row is written (the runtime sets it after every step of a process).
Each row also carries `light_changes_at`, the next moment its light changes with the passing
of time alone (None: never; long ago: not yet worked out). `catch_up` brings every row whose
moment has come up to date through that indexed column, so a read shows the light that holds
now whether or not a scheduler ran, at a cost that follows what changed; the scheduler runs
`refresh` at `next_change` as well.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from sqlalchemy import event, func, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session, selectinload

from .calendar import WorkingCalendar
from .clock import SHANGHAI
from .errors import Invalid
from .models import HumanTask, Light, Milestone, Problem, ProblemStatus, TaskState
from .models.base import LONG_AGO
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
    if change := _set(problem, "problem", problem.id, problem.status != ProblemStatus.CLOSED,
                      lambda: problem_thresholds(problem, calendar, rules), now):
        changes.append(change)
    for task in tasks:
        if change := _update_task(task, calendar, now, rules):
            changes.append(change)
    return changes


def _update_task(task: HumanTask, calendar: WorkingCalendar, now: datetime, rules: LightRules) -> LightChange | None:
    return _set(task, "task", task.problem_id, task.state == TaskState.READY,
                lambda: task_thresholds(task, calendar, rules), now)


def _set(row, kind: str, problem_id: int, running: bool, thresholds, now: datetime) -> LightChange | None:
    """Give a problem or a task the colour it has at `now` and the next moment it changes (a
    row no longer running is CLOSED for good); the change of colour, if any."""
    if running:
        found = thresholds()
        colour = _colour(found, now)
        moment = _next(found, colour, now)
    else:
        colour, moment = Light.CLOSED, None
    if row.light_changes_at != moment:
        row.light_changes_at = moment
    if row.light == colour:
        return None
    change = LightChange(kind, row.id, problem_id, row.light, colour)
    row.light = colour
    return change


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
        if change := _update_task(task, calendar, now, rules):
            changes.append(change)
    session.flush()
    return changes


# A write to what decides a light (deadline, status, a milestone, a task's due time or state)
# leaves it "to be worked out" unless `update` works it out in the same transaction.
def _to_work_out(target, value, old, initiator):
    if value != old:
        target.light_changes_at = LONG_AGO


def _milestone_changed(target, value, old, initiator):
    if value != old and target.problem is not None:
        target.problem.light_changes_at = LONG_AGO


for _attribute in (Problem.deadline, Problem.status, HumanTask.due_at, HumanTask.state):
    event.listen(_attribute, "set", _to_work_out)
for _attribute in (Milestone.due, Milestone.done_at):
    event.listen(_attribute, "set", _milestone_changed)


def stale(session: Session, now: datetime) -> bool:
    """Whether some row's light has changed by `now` and is not yet stored (indexed look)."""
    return any(session.scalar(select(model.id).where(model.light_changes_at <= now).limit(1)) is not None
               for model in (Problem, HumanTask))


def catch_up(session: Session, calendar: WorkingCalendar, now: datetime,
             rules: LightRules | None = None) -> list[LightChange]:
    """Bring up to date the rows whose light has changed by `now` and only those (found through
    the indexed `light_changes_at`); what changed."""
    rules = rules or load_rules()
    changes = []
    # FOR NO KEY UPDATE (PostgreSQL): the rows are changed, not their keys, so a writer adding a
    # ledger entry or a task that refers to the problem (a key-share lock) does not wait for this
    due = session.scalars(select(Problem).where(Problem.light_changes_at <= now)
                          .options(selectinload(Problem.milestones)).order_by(Problem.id)
                          .with_for_update(key_share=True))
    for problem in due:
        changes += update(problem, (), calendar, now, rules)
    for task in session.scalars(select(HumanTask).where(HumanTask.light_changes_at <= now)
                                .order_by(HumanTask.id).with_for_update(key_share=True)):
        if change := _update_task(task, calendar, now, rules):
            changes.append(change)
    session.flush()
    return changes


def next_change(session: Session, now: datetime) -> datetime | None:
    """The earliest moment at which a light changes with time alone (indexed): `now` when some
    row's light has changed by now and is not stored yet (`catch_up` brings it up to date)."""
    if stale(session, now):
        return now
    return min((moment for model in (Problem, HumanTask)
                if (moment := session.scalar(select(func.min(model.light_changes_at))
                                             .where(model.light_changes_at > now))) is not None), default=None)


def work_out_again(session: Session, first_id: int, last_id: int) -> None:
    """Mark the lights of the problems with ids in [first_id, last_id] and of their tasks to be
    worked out again (the scheduler's safety net: `catch_up` then works them out)."""
    problem, task = Problem.__table__, HumanTask.__table__
    session.execute(sql_update(problem).where(problem.c.id >= first_id, problem.c.id <= last_id,
                                          or_(problem.c.status != ProblemStatus.CLOSED.value,
                                              problem.c.light != Light.CLOSED.value))
                    .values(light_changes_at=LONG_AGO))
    session.execute(sql_update(task).where(task.c.problem_id >= first_id, task.c.problem_id <= last_id,
                                       or_(task.c.state == TaskState.READY.value, task.c.light != Light.CLOSED.value))
                    .values(light_changes_at=LONG_AGO))


def counts(session: Session, statement, column) -> dict[str, int]:
    """How many rows of `statement` (a select of problems or tasks) show each colour."""
    inner = statement.order_by(None).subquery()
    rows = session.execute(select(inner.c[column.key], func.count()).group_by(inner.c[column.key])).all()
    found = {light.value: 0 for light in Light}
    for light, count in rows:
        found[Light(light).value] = count
    found["total"] = sum(found.values())
    return found
