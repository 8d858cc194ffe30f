"""Page sessions kept on the server (engine/models/user_session.py): the cookie carries a
random id (32 bytes, URL-safe), the table its SHA-256 digest, who, when it began, when it was
last used (moved at most once a minute), the address and browser it came from, and when and
why it ended.

A session is live while it has not ended, was used within the policy's idle time and is
younger than DUBAN_SESSION_HOURS. At sign-in the policy's limit of live sessions per account
holds: beyond it the oldest ends ("end_oldest") or the sign-in is refused ("refuse"); the
account's sessions ended more than 30 days before are removed then (the security log keeps what
happened).
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from . import clock, request_id
from .models import User, UserSession
from .session_policy import Policy

TOUCH_SECONDS = 60  # last_seen_at moves at most this often
KEPT_ENDED = timedelta(days=30)  # an ended session's row is removed at its account's next sign-in after this

AGENT_LENGTH = 200

# why a session ended
SIGNED_OUT = "signed_out"
IDLE = "idle"
EXPIRED = "expired"            # older than DUBAN_SESSION_HOURS
ENDED_ELSEWHERE = "ended_by_user"  # its owner ended it from another session
LIMIT = "session_limit"        # the oldest, ended by a sign-in beyond the limit
ALL_ENDED = "all_ended"        # new password, deactivation, a reset second factor


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Limits:
    idle: timedelta
    hours: timedelta

    @classmethod
    def of(cls, policy: Policy, session_hours: float) -> "Limits":
        return cls(timedelta(minutes=policy.idle_minutes), timedelta(hours=session_hours))

    def why_over(self, row: UserSession, now: datetime) -> str | None:
        """Why a session not yet marked ended is over by now, or None while it is live."""
        if now - row.started_at >= self.hours:
            return EXPIRED
        if now - row.last_seen_at >= self.idle:
            return IDLE
        return None


def begin(session: Session, user: User, limits: Limits, policy: Policy, agent: str | None = None
          ) -> tuple[str | None, list[UserSession]]:
    """A new page session for the account (its raw id, for the cookie) and the sessions the limit
    ended; (None, live sessions) when the policy refuses a sign-in beyond the limit."""
    now = clock.now()
    session.execute(delete(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at < now - KEPT_ENDED))
    live = live_sessions(session, user.id, limits, now)
    ended: list[UserSession] = []
    over = len(live) + 1 - policy.max_sessions
    if over > 0:
        if policy.session_mode == "refuse":
            return None, live
        for row in live[:over]:  # oldest first
            end(row, LIMIT, now)
            ended.append(row)
    raw = secrets.token_urlsafe(32)
    agent = (agent or "")[:AGENT_LENGTH] or None
    session.add(UserSession(token_digest=digest(raw), user_id=user.id, started_at=now, last_seen_at=now,
                            source=request_id.source(), user_agent=agent))
    session.flush()
    return raw, ended


def live_sessions(session: Session, user_id: int, limits: Limits, now: datetime | None = None) -> list[UserSession]:
    """The account's live sessions, oldest first; those found over (idle, too old) are marked
    ended on the way (in the caller's transaction, when it writes)."""
    now = now or clock.now()
    rows = session.scalars(select(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
                           .order_by(UserSession.started_at, UserSession.id)).all()
    live = []
    for row in rows:
        reason = limits.why_over(row, now)
        if reason is None:
            live.append(row)
        else:
            end(row, reason, now)
    return live


def find(session: Session, raw: str | None) -> UserSession | None:
    if not raw or not isinstance(raw, str) or len(raw) > 100:
        return None
    return session.scalars(select(UserSession).where(UserSession.token_digest == digest(raw))).first()


def end(row: UserSession, reason: str, now: datetime | None = None) -> None:
    if row.ended_at is None:
        row.ended_at, row.ended_reason = now or clock.now(), reason


def end_all(session: Session, user_id: int, reason: str, keep: int | None = None) -> int:
    """End every live session of the account (but `keep`, a session's row id); how many."""
    statement = (update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
                 .values(ended_at=clock.now(), ended_reason=reason).execution_options(synchronize_session=False))
    if keep is not None:
        statement = statement.where(UserSession.id != keep)
    return session.execute(statement).rowcount or 0
