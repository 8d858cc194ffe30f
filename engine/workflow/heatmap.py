"""Where a version's open work waits (热力图): per BPMN element, how many ready user tasks of
the version's instances wait there and the median time they have waited (by the engine's
clock, plain elapsed time), and the problems waiting at one element, a page at a time.

Cost: one grouped query counts the waiting tasks by element. On PostgreSQL the same query
takes the median (`percentile_cont` over the moments the tasks opened); elsewhere (SQLite) one
more query per element with waiting tasks reads the middle one or two moments by offset, in
the database. Nothing is read beyond the version's own ready tasks, and nothing is loaded
into memory but one row per element.

Waiting timer and message events are not counted: where an instance waits on an event is
only in its serialized state, which would have to be read instance by instance.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session

from ..models import HumanTask, Problem, ProcessDefinition, ProcessInstance, TaskState, Unit
from .serializer import specs_for


@dataclass(frozen=True)
class Spot:
    """One element's waiting work."""

    element_id: str
    name: str | None
    waiting: int
    median_seconds: int
    oldest_since: datetime


def elements(definition: ProcessDefinition) -> dict[str, str | None]:
    """The version's BPMN elements (subprocesses' included): id -> name; none for an
    unfinished draft (it has no spec, and nothing runs on it)."""
    if definition.spec is None:
        return {}
    spec, subprocess_specs = specs_for(definition)
    found: dict[str, str | None] = {}
    for process in (spec, *subprocess_specs.values()):
        for task_spec in process.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id:
                found[bpmn_id] = getattr(task_spec, "bpmn_name", None)
    return found


def _ready(definition_id: int):
    return (HumanTask.state == TaskState.READY, ProcessInstance.definition_id == definition_id)


def heat(session: Session, definition: ProcessDefinition, now: datetime) -> list[Spot]:
    """The elements where the version's instances wait, most waiting first."""
    postgres = session.get_bind().dialect.name == "postgresql"
    columns = [HumanTask.element_id, func.count(), func.min(HumanTask.created_at)]
    if postgres:
        columns.append(func.percentile_cont(0.5).within_group(extract("epoch", HumanTask.created_at)))
    rows = session.execute(select(*columns).join(ProcessInstance, HumanTask.instance_id == ProcessInstance.id)
                           .where(*_ready(definition.id)).group_by(HumanTask.element_id)).all()
    names = elements(definition) if rows else {}
    spots = []
    for row in rows:
        element_id, count, oldest = row[0], row[1], row[2]
        middle = float(row[3]) if postgres else _median_moment(session, definition.id, element_id, count)
        spots.append(Spot(element_id, names.get(element_id), count, max(0, round(now.timestamp() - middle)), oldest))
    return sorted(spots, key=lambda spot: (-spot.waiting, spot.element_id))


def _median_moment(session: Session, definition_id: int, element_id: str, count: int) -> float:
    """The median of the moments the element's ready tasks opened (epoch seconds), by offset."""
    moments = session.scalars(
        select(HumanTask.created_at).join(ProcessInstance, HumanTask.instance_id == ProcessInstance.id)
        .where(*_ready(definition_id), HumanTask.element_id == element_id)
        .order_by(HumanTask.created_at, HumanTask.id).offset((count - 1) // 2).limit(2 - count % 2)).all()
    return sum(moment.timestamp() for moment in moments) / len(moments)


@dataclass(frozen=True)
class Waiting:
    """A problem waiting at an element: its ready task there."""

    task_id: int
    problem_id: int
    code: str
    title: str
    lead_unit: str | None
    since: datetime
    light: str
    problem_light: str


def waiting_at(session: Session, definition: ProcessDefinition, element_id: str, page: int,
               per_page: int) -> tuple[list[Waiting], int]:
    """(a page of the problems waiting at the element, longest waiting first; how many in all)."""
    where = (*_ready(definition.id), HumanTask.element_id == element_id)
    total = session.scalar(select(func.count()).select_from(HumanTask)
                           .join(ProcessInstance, HumanTask.instance_id == ProcessInstance.id).where(*where))
    rows = session.execute(
        select(HumanTask.id, Problem.id, Problem.code, Problem.title, Unit.name, HumanTask.created_at,
               HumanTask.light, Problem.light)
        .join(ProcessInstance, HumanTask.instance_id == ProcessInstance.id)
        .join(Problem, HumanTask.problem_id == Problem.id)
        .outerjoin(Unit, Problem.lead_unit_id == Unit.id)
        .where(*where).order_by(HumanTask.created_at, HumanTask.id)
        .offset((page - 1) * per_page).limit(per_page)).all()
    return [Waiting(task_id, problem_id, code, title, unit, since, str(light.value if hasattr(light, "value") else light),
                    str(problem_light.value if hasattr(problem_light, "value") else problem_light))
            for task_id, problem_id, code, title, unit, since, light, problem_light in rows], total
