"""Signing in, guarded: a user name is locked for a while after repeated failures, and an
unknown name costs and answers exactly what a wrong password does.

- Failures are counted per user name (a SHA-256 digest of it, case-folded), whether an
  account of that name exists or not, on the engine's clock: `lockout_failures` failures
  within `lockout_minutes` lock the name for `lockout_minutes`, during which even the right
  password is refused. A success clears the count.
- Every attempt that is not locked runs one argon2 verification: against the account's hash,
  or against a dummy hash of the same cost when there is no such account (or it is disabled),
  so the response time does not tell which names exist.
- Sessions and tokens end server-side: page sessions are rows (engine/sessions.py) and an
  account's `token_epoch` is written into each API token; `end_sessions` (new password,
  deactivation) ends every page session and, with `tokens`, every earlier token.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
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


def attempt(session: Session, username: str, password: str, policy: SignInSettings,
            second=None) -> tuple[User | None, Exception | None]:
    """Try a user name and password inside the caller's transaction: the signed-in account,
    or the refusal to raise once the transaction (which records the failure) has committed.
    `second(user)`, after a right password, checks the second factor: what it raises is the
    refusal, and a wrong code (its `counts`) is a failure towards the lockout like a wrong password."""
    now = clock.now()
    digest = name_digest(username)
    row = session.get(SignInThrottle, digest, with_for_update=True)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        return None, _locked(row.locked_until, now)
    user = _account(session, username)
    verified = accounts.verify_password(user.password_hash if user is not None else None, password)
    if verified and user is not None and user.active:
        if second is not None:
            try:
                second(user)
            except Unauthenticated as needed:
                if getattr(needed, "counts", False):
                    failure = _failed(session, row, digest, now, policy)
                    return None, failure if isinstance(failure, Locked) else needed
                return None, needed
        if row is not None:
            session.delete(row)
        return user, None
    return None, _failed(session, row, digest, now, policy)


def locked_until(session: Session, users: list[User]) -> dict[int, datetime]:
    """Which of these accounts are locked now, and until when."""
    now = clock.now()
    digests = {name_digest(user.username): user.id for user in users}
    rows = session.scalars(select(SignInThrottle).where(SignInThrottle.name_digest.in_(list(digests)),
                                                        SignInThrottle.locked_until > now))
    return {digests[row.name_digest]: row.locked_until for row in rows}


def unlock(session: Session, user: User) -> bool:
    """Lift the account's lockout and forget its failures (the security administrator, 解锁);
    whether it was locked."""
    row = session.get(SignInThrottle, name_digest(user.username), with_for_update=True)
    if row is None:
        return False
    was_locked = row.locked_until is not None and row.locked_until > clock.now()
    session.delete(row)
    session.flush()
    return was_locked


def locked(session: Session, username: str) -> Locked | None:
    """The refusal when the name is locked now (a sign-in checked elsewhere, the directory's,
    asks this before it asks the directory)."""
    now = clock.now()
    row = session.get(SignInThrottle, name_digest(username))
    if row is not None and row.locked_until is not None and row.locked_until > now:
        return _locked(row.locked_until, now)
    return None


def failed(session: Session, username: str, policy: SignInSettings) -> Exception:
    """A failure checked elsewhere (the directory said the password is wrong) counts towards
    the name's lockout as a wrong local password does: the refusal to raise after commit."""
    digest = name_digest(username)
    now = clock.now()
    row = session.get(SignInThrottle, digest, with_for_update=True)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        return _locked(row.locked_until, now)
    return _failed(session, row, digest, now, policy)


def succeeded(session: Session, username: str) -> None:
    """A success checked elsewhere clears the name's count."""
    row = session.get(SignInThrottle, name_digest(username), with_for_update=True)
    if row is not None:
        session.delete(row)


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
        locked = _locked(row.locked_until, now)
        locked.just_now = True  # this failure locked the name (the security log says so)
        return locked
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


def end_sessions(user: User, tokens: bool = False, reason: str = "all_ended", because: str | None = None,
                 actor: User | None = None, subject: str | None = None) -> None:
    """End every page session of the account (engine/sessions.py) and, with `tokens`, make
    every API token it holds worthless, a security event (`tokens_revoked`) saying `because`
    (by `actor`, or `subject` where no account acts);
    `session_epoch` moves too (what ends them all)."""
    from sqlalchemy.orm import object_session

    from . import sessions

    user.session_epoch = (user.session_epoch or 0) + 1
    session = object_session(user)
    if tokens:
        user.token_epoch = (user.token_epoch or 0) + 1
        if session is not None and user.id is not None:
            revoked(session, user, because or reason, actor=actor, subject=subject)
    if session is not None and user.id is not None:
        sessions.end_all(session, user.id, reason)


def revoked(session: Session, user: User, because: str, actor: User | None = None,
            subject: str | None = None) -> None:
    """The security event of an account's API tokens made worthless (its token epoch moved)."""
    from . import security_log

    security_log.record(session, security_log.Kind.TOKENS_REVOKED, actor=actor, subject=subject,
                        object=f"user:{user.username}",
                        details={"because": because})
