"""Reading the deployed process definitions: their versions, and how many instances run on each
(what an administrator looks at before and after deploying a new version)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from .. import paging
from ..models import InstanceStatus, ProcessDefinition, ProcessInstance


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


def _versions(key: str | None = None):
    statement = select(ProcessDefinition).options(selectinload(ProcessDefinition.deployed_by),
                                                  selectinload(ProcessDefinition.published_by))
    if key is not None:
        statement = statement.where(ProcessDefinition.key == key)
    return statement.order_by(ProcessDefinition.key, ProcessDefinition.version.desc())


def listing(session: Session, key: str | None = None) -> list[dict]:
    """Every version (of `key`, or of every process), newest first within each key, as plain
    data: status, whether it is current (or an unfinished draft, with the findings that stop
    its publication), its note (版本说明), who deployed and published it and when, and how
    many instances are open on it — three queries, whatever the number of
    instances."""
    rows = session.scalars(_versions(key)).all()
    return _described(session, rows, usage(session, [row.id for row in rows] if key is not None else None))


def page(session: Session, number: int, size: int) -> paging.Paged:
    """One page of `listing()` (every process's versions, in its order), counted and sliced
    in SQL; the usage counted for that page's versions only."""
    found = paging.page(session, _versions(), number, size)
    return paging.Paged(_described(session, found.items, usage(session, [row.id for row in found.items])),
                        found.total)


def _described(session: Session, rows, counts: dict[int, Usage]) -> list[dict]:
    from .versions import current_ids

    in_force = current_ids(session)
    return [{"id": row.id, "key": row.key, "name": row.name, "version": row.version, "checksum": row.checksum,
             "deployed_by": row.deployed_by.username if row.deployed_by else None,
             "deployed_by_name": row.deployed_by.display_name if row.deployed_by else None,
             "deployed_at": row.deployed_at, "user_tasks": sorted(row.forms), "purpose": row.purpose,
             "status": row.status.value, "unfinished": row.unfinished, "findings": row.findings or [],
             "current": row.id in in_force, "comment": row.comment, "published_at": row.published_at,
             "published_by": row.published_by.username if row.published_by else None,
             "published_by_name": row.published_by.display_name if row.published_by else None,
             "usage": counts.get(row.id, Usage()),
             "open_instances": counts.get(row.id, Usage()).running + counts.get(row.id, Usage()).error}
            for row in rows]
