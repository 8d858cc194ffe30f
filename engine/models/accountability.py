"""The accountability record (问责记录): one row per decision on one official.

Rows are written once, when the decision task of an accountability case is completed, and
never changed or deleted (终身追究): the migration adds database triggers that refuse DELETE
and UPDATE on the table, and the API has no path that would try.
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

    def in_force(self, today: date) -> bool:
        """Whether the influence period (影响期) still runs on `today`."""
        return self.influence_until is not None and self.decision_date <= today < self.influence_until
