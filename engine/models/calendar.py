"""The working-day calendar as administrators enter it: the yearly holiday arrangement
(节假日安排) declared year by year, and single days overridden (放假 / 调休上班)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime
from .organization import User


class CalendarYear(Base):
    """A year in which administrators entered something. `declared`: its whole arrangement is
    entered, so its dates are no longer provisional. `revision` goes up by one with every
    change to the year; their sum is the calendar's revision, which every process compares
    with the one it loaded (rows are never deleted, so the sum only grows)."""

    __tablename__ = "calendar_year"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    declared: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(String(200))  # e.g. the State Council notice it follows
    revision: Mapped[int] = mapped_column(Integer, default=1)
    declared_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    declared_by: Mapped[User | None] = relationship(foreign_keys=[declared_by_id])
    changed_by: Mapped[User | None] = relationship(foreign_keys=[changed_by_id])


class CalendarOverride(Base):
    """One date marked working or not by an administrator; it beats chinese_calendar."""

    __tablename__ = "calendar_override"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    year: Mapped[int] = mapped_column(ForeignKey("calendar_year.year"), index=True)
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(100))  # 春节, 调休上班 ...
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)

    entered_by: Mapped[User | None] = relationship()
