"""Signing in, guarded: a user name is locked for a while after repeated failures, and an
unknown name costs and answers exactly what a wrong password does.

- Failures are counted per user name (a SHA-256 digest of it, case-folded), whether an
  account of that name exists or not, on the engine's clock: `lockout_failures` failures
  within `lockout_minutes` lock the name for `lockout_minutes`, during which even the right
  password is refused. A success clears the count.
- Every attempt that is not locked runs one argon2 verification: against the account's hash,
  or against a dummy hash of the same cost when there is no such account (or it is disabled),
  so the response time does not tell which names exist.
- Sessions and tokens end server-side: an account's `session_epoch` is written into each page
  session and its `token_epoch` into each API token; bumping them (sign-out: sessions; new
  password or deactivation: both) makes every earlier session or token worthless.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from . import accounts, clock
from .errors import Locked, Unauthenticated
from .models import User
from .models.sign_in import SignInThrottle
from .settings import SignInSettings

WRONG = "wrong username or password"


def name_digest(username: str) -> str:
    return hashlib.sha256(username.strip().casefold().encode("utf-8", "surrogatepass")).hexdigest()


def _account(session: Session, username: str) -> User | None:
    """The account of that exact name; a name no account can have (too long, control
    characters, lone surrogates) is not looked up."""
    if not username or len(username) > 60 or not username.isprintable() or any(
            "\ud800" <= ch <= "\udfff" for ch in username):
        return None
    return session.scalars(select(User).where(User.username == username)).first()


def attempt(session: Session, username: str, password: str, policy: SignInSettings) -> tuple[User | None, Exception | None]:
    """Try a user name and password inside the caller's transaction: the signed-in account,
    or the refusal to raise once the transaction (which records the failure) has committed."""
    now = clock.now()
    digest = name_digest(username)
    row = session.get(SignInThrottle, digest, with_for_update=True)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        return None, _locked(row.locked_until, now)
    user = _account(session, username)
    verified = accounts.verify_password(user.password_hash if user is not None else None, password)
    if verified and user is not None and user.active:
        if row is not None:
            session.delete(row)
        return user, None
    return None, _failed(session, row, digest, now, policy)


def _failed(session: Session, row: SignInThrottle | None, digest: str, now: datetime,
            policy: SignInSettings) -> Exception:
    window = timedelta(minutes=policy.lockout_minutes)
    _forget_old(session, now, window)
    if row is None:
        row = SignInThrottle(name_digest=digest, failures=0, window_started_at=now)
        session.add(row)
    elif now - row.window_started_at >= window or row.locked_until is not None:
        row.failures, row.window_started_at, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= policy.lockout_failures:
        row.locked_until = now + window
        session.flush()
        return _locked(row.locked_until, now)
    session.flush()
    return Unauthenticated(WRONG)


def _forget_old(session: Session, now: datetime, window: timedelta) -> None:
    """Rows that neither count nor lock any more."""
    session.execute(delete(SignInThrottle).where(
        SignInThrottle.window_started_at < now - window,
        or_(SignInThrottle.locked_until.is_(None), SignInThrottle.locked_until < now)))


def _locked(until: datetime, now: datetime) -> Locked:
    seconds = max(1, int((until - now).total_seconds() + 0.999))
    minutes = (seconds + 59) // 60
    return Locked(f"too many failed sign-ins for this user name; try again in {minutes} minute"
                  f"{'s' if minutes != 1 else ''}", retry_after=seconds)


# -- sessions ------------------------------------------------------------------------------------


def session_stamp(user: User) -> dict:
    """What a new page session carries: the account's epoch and when it began (the engine's
    clock, seconds)."""
    moment = clock.now().timestamp()
    return {"epoch": user.session_epoch, "since": moment, "seen": moment}


def session_current(user: User, stamp: dict, policy: SignInSettings) -> bool:
    """Whether a page session is still good: the account's epoch has not moved since it
    began, it is younger than `session_hours` and was used within `idle_minutes`."""
    try:
        epoch, since, seen = int(stamp["epoch"]), float(stamp["since"]), float(stamp["seen"])
    except (KeyError, TypeError, ValueError):
        return False
    now = clock.now().timestamp()
    return (epoch == user.session_epoch and now < since + policy.session_hours * 3600
            and now < seen + policy.idle_minutes * 60)


def end_sessions(user: User, tokens: bool = False) -> None:
    """Make every page session (and, with `tokens`, every API token) of the account worthless."""
    user.session_epoch = (user.session_epoch or 0) + 1
    if tokens:
        user.token_epoch = (user.token_epoch or 0) + 1
