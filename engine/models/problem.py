"""A problem found by an inspection, its chain of responsibility and its plan
(一个问题、一套方案、一本台账、一名责任人)."""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Column, Date, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import LONG_AGO, Base, UTCDateTime, str_enum
from .organization import Official, Region, Unit


class LabelledEnum(enum.StrEnum):
    """An enum whose members carry the Chinese word the users use."""

    def __new__(cls, value: str, label: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def parse(cls, text: str):
        """A member from its code or its Chinese label; ValueError otherwise."""
        for member in cls:
            if text in (member.value, member.label):
                return member
        raise ValueError(text)


class ProblemSource(LabelledEnum):
    CENTRAL = "central", "中央生态环境保护督察"
    PROVINCIAL = "provincial", "省级生态环境保护督察"
    LOOK_BACK = "look_back", "回头看"
    YANGTZE_FILM = "yangtze_film", "长江经济带生态环境警示片"
    PETITION = "petition", "信访"
    SELF_CHECK = "self_check", "自查"


class ProblemCategory(LabelledEnum):
    WATER = "water", "水"
    AIR = "air", "大气"
    SOIL = "soil", "土壤"
    SOLID_WASTE = "solid_waste", "固废"
    ECOLOGY = "ecology", "生态"
    NOISE = "noise", "噪声"
    OTHER = "other", "其他"


class DeadlineKind(LabelledEnum):
    IMMEDIATE = "immediate", "立行立改"
    BY_DATE = "by_date", "限期整改"
    LONG_TERM = "long_term", "长期坚持"


class ProblemStatus(LabelledEnum):
    REGISTERED = "registered", "已交办"
    PLANNING = "planning", "方案编制"
    RECTIFYING = "rectifying", "整改中"
    ACCEPTING = "accepting", "验收中"
    PUBLIC_NOTICE = "public_notice", "公示中"
    CLOSED = "closed", "已销号"


class Light(LabelledEnum):
    """The traffic light (红黄绿灯) of a problem or a task; see engine/lights.py."""

    GREEN = "green", "绿灯"
    YELLOW = "yellow", "黄灯"
    RED = "red", "红灯"
    CLOSED = "closed", "已办结"


problem_cooperating_unit = Table(
    "problem_cooperating_unit",
    Base.metadata,
    Column("problem_id", ForeignKey("problem.id", ondelete="CASCADE"), primary_key=True),
    Column("unit_id", ForeignKey("unit.id"), primary_key=True),
)


class Problem(Base):
    __tablename__ = "problem"
    # the dashboard's breakdowns (by region, lead unit, source and batch, each by light) are
    # counted from this index alone, in its order, without reading the table or sorting
    __table_args__ = (Index("ix_problem_breakdown", "region_id", "lead_unit_id", "source", "batch", "light"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    source: Mapped[ProblemSource] = mapped_column(str_enum(ProblemSource), index=True)
    batch: Mapped[str] = mapped_column(String(60), index=True)
    category: Mapped[ProblemCategory] = mapped_column(str_enum(ProblemCategory), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))

    # the chain of responsibility (四级联动)
    leading_official_id: Mapped[int | None] = mapped_column(ForeignKey("official.id"))
    lead_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    responsible_official_id: Mapped[int] = mapped_column(ForeignKey("official.id"), index=True)
    industry_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))

    # the plan (整改方案)
    target: Mapped[str | None] = mapped_column(Text)
    measures: Mapped[str | None] = mapped_column(Text)
    deadline_kind: Mapped[DeadlineKind] = mapped_column(str_enum(DeadlineKind), default=DeadlineKind.BY_DATE)
    deadline: Mapped[date | None] = mapped_column(Date, index=True)
    # a plan submitted by the chain and not yet approved (待审核方案): {"target", "measures",
    # "deadline_kind", "deadline", "task_id", "submitted_at"}; it becomes the plan above only when
    # a task marked `approvesPlan` approves it. `pending_plan_state` is "pending" while it waits,
    # "returned" once sent back (退回: kept, shown as what was sent back).
    pending_plan: Mapped[dict | None] = mapped_column(JSON)
    pending_plan_state: Mapped[str | None] = mapped_column(String(16))

    status: Mapped[ProblemStatus] = mapped_column(str_enum(ProblemStatus), default=ProblemStatus.REGISTERED, index=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # the moment from which the escalation ladder counts (set at registration: the moment itself,
    # or an import's grace date); the rungs that fell due at or before it collapse into one
    # firing, the highest, at this moment (engine/escalation/ladder.py). None: counted from the
    # deadline alone.
    ladder_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    light: Mapped[Light] = mapped_column(str_enum(Light, 8), default=Light.GREEN, index=True)
    # when `light` next changes with time alone (None: never); LONG_AGO until first worked out
    light_changes_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=LONG_AGO, index=True)
    # when the next rung of the escalation ladder falls due for it by its deadline (None: none
    # will; LONG_AGO: to be worked out, after a change of deadline, status, rules or calendar, a
    # firing or an event from a process); engine/escalation/due_moments.py keeps it
    ladder_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=LONG_AGO, index=True)

    region: Mapped[Region] = relationship()
    leading_official: Mapped[Official | None] = relationship(foreign_keys=[leading_official_id])
    lead_unit: Mapped[Unit] = relationship(foreign_keys=[lead_unit_id])
    responsible_official: Mapped[Official] = relationship(foreign_keys=[responsible_official_id])
    industry_unit: Mapped[Unit | None] = relationship(foreign_keys=[industry_unit_id])
    cooperating_units: Mapped[list[Unit]] = relationship(secondary=problem_cooperating_unit, order_by=Unit.id)
    sites: Mapped[list["Site"]] = relationship(back_populates="problem", cascade="all, delete-orphan", order_by="Site.id")
    milestones: Mapped[list["Milestone"]] = relationship(back_populates="problem", cascade="all, delete-orphan",
                                                         order_by="Milestone.due")


class Site(Base):
    """One place (点位) of a problem, closed on its own."""

    __tablename__ = "site"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    problem: Mapped[Problem] = relationship(back_populates="sites")


class Milestone(Base):
    """A staged target (阶段性目标) of long work, checked month by month."""

    __tablename__ = "milestone"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    due: Mapped[date] = mapped_column(Date)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    problem: Mapped[Problem] = relationship(back_populates="milestones")


class EvidenceFile(Base):
    """A file offered as evidence (佐证材料), stored once per content under instance/evidence.
    Until `submitted_at` it is a draft of its task: listed on the task page, deletable."""

    __tablename__ = "evidence_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # a draft of the task it was uploaded for (task_id, field) until the task's completion
    # submits it; a file stored on the problem directly is submitted when stored
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id"), index=True)
    field: Mapped[str | None] = mapped_column(String(100))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
