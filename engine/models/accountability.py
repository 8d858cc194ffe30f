"""The accountability record (问责记录): one row per decision on one official, and one row
per outcome of an appeal (申诉) on a decision.

Rows are written once, when the decision task (or the appeal's review) of an accountability
case is completed, and never changed or deleted (终身追究): the migrations add database
triggers that refuse DELETE and UPDATE on both tables, and the API has no path that would
try. A revoked or changed decision stays as it was decided; its revision says from which day
its influence period (影响期) no longer runs, and a change is a new decision row.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, str_enum
from .escalation import Escalation
from .organization import Official, User
from .problem import LabelledEnum, Problem
from .process import HumanTask, ProcessInstance


class AccountabilityCategory(LabelledEnum):
    PARTY = "party", "党内问责"            # 《中国共产党问责条例》, Party discipline
    GOVERNMENT = "government", "政务处分"  # 《公职人员政务处分法》


class AccountabilityDecision(Base):
    __tablename__ = "accountability_decision"
    __table_args__ = (UniqueConstraint("human_task_id", "form"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    official_id: Mapped[int] = mapped_column(ForeignKey("official.id"), index=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id"), index=True)
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalation.id"), index=True)
    process_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    human_task_id: Mapped[int] = mapped_column(ForeignKey("human_task.id"))
    category: Mapped[AccountabilityCategory] = mapped_column(str_enum(AccountabilityCategory, 16))
    form: Mapped[str] = mapped_column(String(40))          # the code in config/accountability.toml
    form_label: Mapped[str] = mapped_column(String(40))    # 诫勉, 记过 ... as decided
    decision_no: Mapped[str | None] = mapped_column(String(100))   # 决定文号
    decision_date: Mapped[date] = mapped_column(Date)              # the influence period runs from it
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # when it was recorded
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    influence_months: Mapped[int] = mapped_column(Integer)          # 影响期; 0: no fixed period
    influence_until: Mapped[date | None] = mapped_column(Date)      # the first day it no longer bars promotion
    basis: Mapped[str | None] = mapped_column(Text)                 # 问责事实与依据

    official: Mapped[Official] = relationship()
    problem: Mapped[Problem] = relationship()
    escalation: Mapped[Escalation | None] = relationship()
    instance: Mapped[ProcessInstance] = relationship()
    task: Mapped[HumanTask] = relationship()
    decided_by: Mapped[User | None] = relationship()

    revisions: Mapped[list["AccountabilityRevision"]] = relationship(
        foreign_keys="AccountabilityRevision.decision_id", order_by="AccountabilityRevision.id", viewonly=True)
    changed_from: Mapped[list["AccountabilityRevision"]] = relationship(   # the appeal that made this one
        foreign_keys="AccountabilityRevision.replacement_id", order_by="AccountabilityRevision.id", viewonly=True)

    @property
    def ended_by(self) -> "AccountabilityRevision | None":
        """The appeal outcome that revoked or changed this decision (None: it stands)."""
        return next((r for r in self.revisions if r.outcome != RevisionOutcome.UPHELD), None)

    @property
    def ended_on(self) -> date | None:
        """The day its influence period stops running because an appeal revoked or changed it."""
        ended = self.ended_by
        return ended.decision_date if ended else None

    def in_force(self, today: date) -> bool:
        """Whether the influence period (影响期) still runs on `today`: it has begun, has not run
        out and no appeal has revoked or changed the decision by then."""
        ended_on = self.ended_on
        return (self.influence_until is not None and self.decision_date <= today < self.influence_until
                and (ended_on is None or today < ended_on))


class RevisionOutcome(LabelledEnum):
    UPHELD = "upheld", "维持原决定"   # the appeal is dismissed (申诉不成立)
    REVOKED = "revoked", "撤销"      # the decision is revoked
    CHANGED = "changed", "变更"      # the decision is changed to a lighter form (a new decision row)


class AccountabilityRevision(Base):
    """What the review of an appeal (申诉复查) decided about one decision. Written once."""

    __tablename__ = "accountability_revision"
    __table_args__ = (UniqueConstraint("decision_id", "human_task_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("accountability_decision.id"), index=True)
    outcome: Mapped[RevisionOutcome] = mapped_column(str_enum(RevisionOutcome, 16))
    replacement_id: Mapped[int | None] = mapped_column(ForeignKey("accountability_decision.id"))  # CHANGED: the new one
    appealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)   # when the official appealed
    appeal_reason: Mapped[str | None] = mapped_column(Text)             # the official's grounds (申诉理由)
    decision_no: Mapped[str | None] = mapped_column(String(100))        # 申诉处理决定文号
    decision_date: Mapped[date] = mapped_column(Date)   # a revocation or change takes effect on it
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str | None] = mapped_column(Text)                    # 复查意见
    process_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    human_task_id: Mapped[int] = mapped_column(ForeignKey("human_task.id"))

    decision: Mapped[AccountabilityDecision] = relationship(foreign_keys=[decision_id])
    replacement: Mapped[AccountabilityDecision | None] = relationship(foreign_keys=[replacement_id])
    decided_by: Mapped[User | None] = relationship()
