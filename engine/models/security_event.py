"""The security log (安全审计日志): sign-ins and their failures, lockouts, account and role
changes, tokens, deployments, rule and calendar changes, exports; append-only and chained by
hash like the ledger (engine/security_log.py)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class SecurityEvent(Base):
    __tablename__ = "security_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)  # engine/security_log.py, Kind
    result: Mapped[str] = mapped_column(String(16), index=True)  # success, failure
    subject_id: Mapped[int | None] = mapped_column(Integer, index=True)  # the account acting, when known
    subject: Mapped[str] = mapped_column(String(100), index=True)  # its user name, or how the name was typed
    object: Mapped[str | None] = mapped_column(String(200))  # what was acted on: "user:12", "process:rectification"
    source: Mapped[str | None] = mapped_column(String(64))  # the client's address
    method: Mapped[str | None] = mapped_column(String(40))  # password, password+totp, ldap, oidc, command line
    details: Mapped[dict] = mapped_column(JSON)  # never a password, never a token
    request_id: Mapped[str | None] = mapped_column(String(64))
    # unique: two events can never claim the same predecessor, so the chain cannot fork
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64))
