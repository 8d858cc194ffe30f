"""Extension requests (延期申请): filed on a problem before its deadline, decided by the office.

An approved request moves the problem's deadline; the ladder then counts from the new one
(a firing's key names its deadline, so the old deadline's firings stay on record and the new
deadline's rungs fire in their turn).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, str_enum
from .organization import User
from .problem import LabelledEnum, Problem


class ExtensionStatus(LabelledEnum):
    PENDING = ("pending", "待审批")
    APPROVED = ("approved", "已批准")
    REFUSED = ("refused", "不予批准")


class ExtensionRequest(Base):
    __tablename__ = "extension_request"
    __table_args__ = (Index("ix_extension_request_problem_status", "problem_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id"))
    status: Mapped[ExtensionStatus] = mapped_column(str_enum(ExtensionStatus, 16))
    current_deadline: Mapped[date] = mapped_column(Date)
    requested_deadline: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_deadline: Mapped[date | None] = mapped_column(Date)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(String(1000))

    problem: Mapped[Problem] = relationship()
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
