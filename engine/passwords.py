"""Passwords over time (the session and password policy, engine/session_policy.py): when one
expires, which earlier ones may not come back, and who must change theirs before anything else.

- `set_password` is the one way a password is set (by its owner, by an administrator, at an
  account's creation): the hash, its time, the history row, and `must_change_password` when an
  administrator set it and the policy forces a change.
- `due(user, policy)`: "password_change_required" (an administrator set it) or
  "password_expired" (older than the policy's days), or None. An account whose password time
  is not recorded (seeded with a shared hash: the demo) does not expire.
- `reused(session, user, password, policy)`: whether `password` is one of the last N.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import accounts, clock
from .models import PasswordHistory, User
from .session_policy import BOUNDS, Policy

EXPIRED = "password_expired"
CHANGE_REQUIRED = "password_change_required"
KEPT = BOUNDS["password_history"][1]  # history rows kept per account at most


def due(user: User, policy: Policy) -> str | None:
    if user.must_change_password and policy.force_change:
        return CHANGE_REQUIRED
    if policy.password_days and user.password_changed_at is not None and \
            clock.now() - user.password_changed_at >= timedelta(days=policy.password_days):
        return EXPIRED
    return None


def expires_at(user: User, policy: Policy):
    if not policy.password_days or user.password_changed_at is None:
        return None
    return user.password_changed_at + timedelta(days=policy.password_days)


def reused(session: Session, user: User, password: str, policy: Policy) -> bool:
    """Whether `password` is the account's current one or one of the policy's last N (0: any
    password may come back)."""
    if policy.password_history == 0:
        return False
    if accounts.verify_password(user.password_hash, password):
        return True
    hashes = session.scalars(select(PasswordHistory.password_hash).where(PasswordHistory.user_id == user.id)
                             .order_by(PasswordHistory.id.desc()).limit(policy.password_history + 1)).all()
    earlier = [h for h in hashes if h != user.password_hash][:policy.password_history - 1]  # with the current: N
    return any(accounts.verify_password(h, password) for h in earlier)


def set_password(session: Session, user: User, password: str, by_administrator: bool, policy: Policy) -> None:
    """Set the account's password (already checked against the password rules and, by its
    owner, the history). The password it replaces joins the history first if it is not there
    (an account seeded with a hash, or from before the history was kept)."""
    newest = session.scalar(select(PasswordHistory.password_hash).where(PasswordHistory.user_id == user.id)
                            .order_by(PasswordHistory.id.desc()).limit(1))
    if user.password_hash and newest != user.password_hash:
        session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash,
                                    set_at=user.password_changed_at or clock.now()))
    user.password_hash = accounts.hash_password(password)
    record(session, user)
    user.must_change_password = bool(by_administrator and policy.force_change)


def record(session: Session, user: User) -> None:
    """The account's current hash into its history, with the time it was set."""
    now = clock.now()
    user.password_changed_at = now
    session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash, set_at=now))
    session.flush()
    old = session.scalars(select(PasswordHistory.id).where(PasswordHistory.user_id == user.id)
                          .order_by(PasswordHistory.id.desc()).offset(KEPT)).all()
    if old:
        session.execute(delete(PasswordHistory).where(PasswordHistory.id.in_(old)))
