"""Failed sign-ins per user name, for the lockout (engine/sign_in.py)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class SignInThrottle(Base):
    """One row per user name that failed to sign in lately, whether an account of that name
    exists or not (so that the lockout tells nothing about which names exist). The name is
    kept only as a SHA-256 digest: people type passwords into the name field."""

    __tablename__ = "sign_in_throttle"

    name_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
