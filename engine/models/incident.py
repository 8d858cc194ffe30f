"""Incidents: a step of a process instance that failed (a script, a condition, a timer,
anything SpiffWorkflow raised), kept with the element, the error and the attempts to run it
again, until a retry gets the instance going (see engine/incidents.py)."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, str_enum
from .organization import User
from .problem import Problem
from .process import ProcessInstance

MESSAGE_LENGTH = 2000
ERROR_TYPE_LENGTH = 100


class IncidentStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Incident(Base):
    __tablename__ = "incident"
    # the scheduler reads the open incidents by their next retry
    __table_args__ = (Index("ix_incident_status_next_retry_at", "status", "next_retry_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id"), index=True)
    element_id: Mapped[str] = mapped_column(String(100))          # the BPMN element that failed ("process": unknown)
    element_name: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[str | None] = mapped_column(String(36))        # SpiffWorkflow's task, when known
    error_type: Mapped[str] = mapped_column(String(ERROR_TYPE_LENGTH))
    message: Mapped[str] = mapped_column(String(MESSAGE_LENGTH))
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime)     # the first failure
    last_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer)                 # failed runs of the step, the first included
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[IncidentStatus] = mapped_column(str_enum(IncidentStatus, 16), index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))  # None: the scheduler
    # how it was resolved (retried, moved, migrated, cancelled) and the person's reason
    resolution: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(MESSAGE_LENGTH))

    instance: Mapped[ProcessInstance] = relationship()
    problem: Mapped[Problem] = relationship()
    resolved_by: Mapped[User | None] = relationship()
