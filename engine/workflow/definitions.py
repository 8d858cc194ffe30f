"""Reading the deployed process definitions: their versions, and how many instances run on each
(what an administrator looks at before and after deploying a new version)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import HumanTask, InstanceStatus, ProcessDefinition, ProcessInstance, TaskState


@dataclass(frozen=True)
class Usage:
    """Instances of one version, by status."""

    running: int = 0
    completed: int = 0
    error: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.running + self.completed + self.error + self.cancelled


def versions(session: Session) -> list[ProcessDefinition]:
    """Every deployed version, by key, newest first within each key."""
    return list(session.scalars(select(ProcessDefinition)
                                .order_by(ProcessDefinition.key, ProcessDefinition.version.desc())))


def version(session: Session, key: str, number: int) -> ProcessDefinition | None:
    return session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                           ProcessDefinition.version == number)).first()


def usage(session: Session, definition_ids: list[int] | None = None) -> dict[int, Usage]:
    """Instances per definition id and status (ids without instances are left out)."""
    statement = (select(ProcessInstance.definition_id, ProcessInstance.status, func.count())
                 .group_by(ProcessInstance.definition_id, ProcessInstance.status))
    if definition_ids is not None:
        statement = statement.where(ProcessInstance.definition_id.in_(definition_ids))
    counts: dict[int, dict[str, int]] = {}
    for definition_id, status, count in session.execute(statement):
        counts.setdefault(definition_id, {})[InstanceStatus(status).value] = count
    return {definition_id: Usage(**by_status) for definition_id, by_status in counts.items()}


def waiting_at(session: Session, definition_id: int) -> dict[str, int]:
    """Ready user tasks of the version's running instances, by BPMN element id (where its
    instances wait now)."""
    rows = session.execute(select(HumanTask.element_id, func.count())
                           .join(ProcessInstance, HumanTask.instance_id == ProcessInstance.id)
                           .where(ProcessInstance.definition_id == definition_id,
                                  HumanTask.state == TaskState.READY)
                           .group_by(HumanTask.element_id))
    return {element_id: count for element_id, count in rows}
