"""The daily bulletin (一天一通报) as issued: one row per day, its figures fixed in `content`."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class BulletinRecord(Base):
    __tablename__ = "bulletin"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)            # the Beijing date it reports
    number: Mapped[int] = mapped_column(Integer, unique=True)       # 第N期, in order of issue
    made_at: Mapped[datetime] = mapped_column(UTCDateTime)
    made_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))  # None: the scheduler
    made_by: Mapped[str] = mapped_column(String(60))                # a name, or 系统
    content: Mapped[dict] = mapped_column(JSON)                     # engine.bulletin.Bulletin.to_content()
