"""Deployed process definitions, their running instances, and the human tasks they open."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import LONG_AGO, Base, UTCDateTime, str_enum
from .organization import Role, Unit, User
from .problem import Light, Problem


class DefinitionStatus(enum.StrEnum):
    """A draft is stored and editable but starts nothing; a published version may be current."""

    DRAFT = "draft"
    PUBLISHED = "published"


class ProcessDefinition(Base):
    """One version of a process. The *current* version of a key (the one new problems and the
    ladder start on) is its published version published last; rollback publishes an older one
    again (engine/workflow/versions.py)."""

    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("key", "version"), UniqueConstraint("key", "publication", name="uq_process_definition_key_publication"),
                      Index("ix_process_definition_key_status", "key", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    bpmn_xml: Mapped[str] = mapped_column(Text)
    forms: Mapped[dict] = mapped_column(JSON)          # BPMN element id -> form-js schema
    # the parsed spec, serialized once per version; None for an unfinished draft
    spec: Mapped[dict | None] = mapped_column(JSON)
    checksum: Mapped[str] = mapped_column(String(64))
    # what the process is for (engine/workflow/purpose.py): problem, escalation, interview,
    # accountability; None when the diagram declares nothing and sets no problemStatus
    purpose: Mapped[str | None] = mapped_column(String(20))
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(Text)  # 版本说明
    # the form files deployed with the diagram (file name -> text), so that publishing a draft
    # checks again exactly what was deployed
    form_files: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[DefinitionStatus] = mapped_column(str_enum(DefinitionStatus, 16), default=DefinitionStatus.PUBLISHED,
                                                     server_default="published")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # the order of publication within the key (1, 2, …): the highest is current, whatever the
    # clock says (the engine's clock can be moved back; two publications can share a moment)
    publication: Mapped[int | None] = mapped_column(Integer)
    # an unfinished draft (a diagram that cannot be deployed yet, kept to be finished in the
    # editor): the findings of its last check (Finding.as_dict), its errors stopping its
    # publication; None for a version that parses
    findings: Mapped[list | None] = mapped_column(JSON)

    @property
    def unfinished(self) -> bool:
        return self.findings is not None

    deployed_by: Mapped[User | None] = relationship(foreign_keys=[deployed_by_id])
    published_by: Mapped[User | None] = relationship(foreign_keys=[published_by_id])


class InstanceStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    ERROR = "error"
    CANCELLED = "cancelled"  # ended by an administrator (终止流程), the reason in the ledger


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    # the dashboard counts a process's instances by status (in scope: by problem) from this index alone
    __table_args__ = (Index("ix_process_instance_definition_status", "definition_id", "status", "problem_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id"), index=True)
    # for processes the ladder starts: the firing, and the official a case is about (问责对象)
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalation.id"), index=True)
    subject_official_id: Mapped[int | None] = mapped_column(ForeignKey("official.id"))
    status: Mapped[InstanceStatus] = mapped_column(str_enum(InstanceStatus, 16), index=True)
    state: Mapped[dict] = mapped_column(JSON)          # the workflow's state, without its spec
    next_wakeup_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    definition: Mapped[ProcessDefinition] = relationship()
    problem: Mapped[Problem] = relationship()
    tasks: Mapped[list["HumanTask"]] = relationship(back_populates="instance", order_by="HumanTask.id")

    # optimistic lock: a save based on a stale read fails instead of overwriting
    __mapper_args__ = {"version_id_col": version}


class TaskState(enum.StrEnum):
    READY = "ready"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class HumanTask(Base):
    """A user task of a running instance, as the people assigned to it see it."""

    __tablename__ = "human_task"
    # 我的待办 and the 待办 panel: a user's ready tasks are those assigned to them, to one of their
    # units or to one of their roles; each way has an index that counts them by light and lists
    # them soonest due first without reading the table; a task for a unit or a role is rare, so
    # those two index only such tasks (the planner then knows each way's share of the tasks)
    __table_args__ = (Index("ix_human_task_assignee_ready", "assignee_id", "state", "light", "due_at"),
                      Index("ix_human_task_unit_ready", "candidate_unit_id", "state", "light", "due_at",
                            sqlite_where=text("candidate_unit_id IS NOT NULL"),
                            postgresql_where=text("candidate_unit_id IS NOT NULL")),
                      Index("ix_human_task_role_ready", "candidate_role", "state", "light", "due_at",
                            sqlite_where=text("candidate_role IS NOT NULL"),
                            postgresql_where=text("candidate_role IS NOT NULL")))

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id"), index=True)
    spiff_task_id: Mapped[str] = mapped_column(String(36), unique=True)
    element_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str] = mapped_column(String(60))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    candidate_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    candidate_role: Mapped[Role | None] = mapped_column(str_enum(Role, 16))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    state: Mapped[TaskState] = mapped_column(str_enum(TaskState, 16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    data: Mapped[dict | None] = mapped_column(JSON)
    light: Mapped[Light] = mapped_column(str_enum(Light, 8), default=Light.GREEN, index=True)
    light_changes_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=LONG_AGO, index=True)

    instance: Mapped[ProcessInstance] = relationship(back_populates="tasks")
    problem: Mapped[Problem] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    candidate_unit: Mapped[Unit | None] = relationship()
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])
