"""The notification outbox (通知): one row per recipient and channel.

Rows are written in the transaction of the event they announce, so an escalation and its
notices commit together or not at all. In-app rows are delivered by being written (unread
until read_at is set); email and webhook rows wait as `pending` for the sender
(`engine.notifications.deliver_pending`), which claims them, sends them, and retries with
backoff until they are `sent` or, after the last attempt, `failed`.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, str_enum
from .organization import Official, User
from .problem import Problem


class Channel(enum.StrEnum):
    INAPP = "inapp"      # 站内通知: the user's list in the app
    EMAIL = "email"      # SMTP
    WEBHOOK = "webhook"  # a gateway for SMS or WeCom (企业微信)


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt at next_attempt_at
    SENDING = "sending"  # claimed by a sender until next_attempt_at (then another may retry it)
    SENT = "sent"        # delivered; in-app rows are sent when written
    FAILED = "failed"    # the last attempt failed too; last_error says why


class Notification(Base):
    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_due", "status", "next_attempt_at"),
        Index("ix_notification_inbox", "user_id", "channel", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, 16))
    status: Mapped[NotificationStatus] = mapped_column(str_enum(NotificationStatus, 16))
    kind: Mapped[str] = mapped_column(String(40), index=True)  # escalation, task_assigned, task_sent_back, process_notice...
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    official_id: Mapped[int | None] = mapped_column(ForeignKey("official.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(200))  # the email address it was written for
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problem.id"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User | None] = relationship()
    official: Mapped[Official | None] = relationship()
    problem: Mapped[Problem | None] = relationship()

    @property
    def unread(self) -> bool:
        return self.channel == Channel.INAPP and self.read_at is None
