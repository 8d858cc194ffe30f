"""The second factor of sign-in (TOTP, engine/second_factor.py): a user's secret once enrolled,
their one-time recovery codes, and the security settings the security administrator keeps."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class SecondFactor(Base):
    __tablename__ = "second_factor"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))  # base32 (RFC 6238), sealed with SM4 (engine/sealed.py)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # None: enrolment not confirmed
    last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the last code's time step: no replay


class RecoveryCode(Base):
    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the code: it is shown once, kept never
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SecuritySetting(Base):
    """Settings the security administrator keeps (and `duban demo` sets for the demo)."""

    __tablename__ = "security_setting"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON)
