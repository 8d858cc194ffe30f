"""Page sessions, passwords over time and the session and password policy (会话与口令策略):
the security administrator's policy, one's own sessions (我的会话), changing one's own
password, and what a page request asks of its session (engine/sessions.py,
engine/passwords.py, engine/session_policy.py).

A part of the Duban facade (engine/service.py): each method one action, one transaction."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import clock, password_policy, passwords, security_log, session_policy, sessions
from .. import sign_in as guarded_sign_in
from ..errors import Conflict, Forbidden, Invalid, Locked, NotFound, Unauthenticated
from ..models import Role, SecurityEvent, User, UserSession
from ..security_log import Kind


class SessionLimitReached(Conflict):
    """A page sign-in beyond the policy's limit of sessions, in the "refuse" mode (409)."""

    code = "session_limit"


class PasswordChangeNeeded(Forbidden):
    """The password was right but must be changed first: `code` is "password_expired" or
    "password_change_required" (403 from POST /api/auth/token; the pages ask for a new one)."""

    def __init__(self, reason: str):
        self.code = reason
        message = ("the password has expired: set a new one (POST /api/auth/password or the sign-in page)"
                   if reason == passwords.EXPIRED else
                   "the password was set by an administrator and must be changed first: set a new one "
                   "(POST /api/auth/password or the sign-in page)")
        super().__init__(message, {"password": [message]})


class SessionOver(Unauthenticated):
    """A page session found over (idle, too old): `row_id` and `reason` for closing it."""

    def __init__(self, row_id: int, reason: str):
        self.row_id, self.reason = row_id, reason
        super().__init__("the session has ended; sign in again")


@dataclass(frozen=True)
class PageSignIn:
    """What a page sign-in gives the page: the session's raw id (for the cookie), whether the
    password must be changed first, and the 鉴别警示: the previous successful sign-in (time and
    address) and how many failed since."""

    session_id: str
    password_due: str | None
    previous_at: datetime | None
    previous_source: str | None
    failures_since: int


@dataclass(frozen=True)
class PageSession:
    user: User
    row_id: int
    password_due: str | None
    touch: bool  # last seen a minute ago or more: to be moved


@dataclass(frozen=True)
class SessionView:
    id: int
    started_at: datetime
    last_seen_at: datetime
    source: str | None
    user_agent: str | None
    current: bool


def previous_sign_in(session: Session, user: User) -> tuple[datetime | None, str | None, int]:
    """The account's last successful sign-in before now (time, address) and the failed ones
    since (all that the log keeps, when there was none)."""
    last = session.execute(select(SecurityEvent.id, SecurityEvent.at, SecurityEvent.source).where(
        SecurityEvent.kind == str(Kind.SIGN_IN), SecurityEvent.result == security_log.SUCCESS,
        SecurityEvent.subject_id == user.id).order_by(SecurityEvent.id.desc()).limit(1)).first()
    failures = select(func.count()).select_from(SecurityEvent).where(
        SecurityEvent.kind == str(Kind.SIGN_IN), SecurityEvent.result == security_log.FAILURE,
        SecurityEvent.subject == user.username)
    if last is not None:
        failures = failures.where(SecurityEvent.id > last.id)
    return (last.at if last else None), (last.source if last else None), session.scalar(failures) or 0


class SessionActions:
    # -- the policy --------------------------------------------------------------------------

    def _policy(self, session: Session) -> session_policy.Policy:
        return session_policy.current(session, self.settings.sign_in)

    def _limits(self, policy: session_policy.Policy) -> sessions.Limits:
        return sessions.Limits.of(policy, self.settings.sign_in.session_hours)

    def policy_in_force(self) -> session_policy.Policy:
        """The policy as it holds now (what a page tells its user about their sessions)."""
        with self.db.reading() as session:
            return self._policy(session)

    def session_policy(self, user_id: int) -> session_policy.Policy:
        """The session and password policy (the security administrator alone)."""
        with self.db.reading() as session:
            if self.actor(session, user_id).has_role(Role.SECURITY_ADMIN):
                return self._policy(session)
        self.deny(user_id, "read the session and password policy", "security_setting", session_policy.SETTING)

    def replace_session_policy(self, user_id: int, data: Any) -> session_policy.Policy:
        """Change the policy (the security administrator alone): `data` names some or all of its
        fields; Invalid naming each field at fault changes nothing. A change is a security
        event holding what changed."""
        with self.db.transaction() as session:
            actor = self.actor(session, user_id)
            if actor.has_role(Role.SECURITY_ADMIN):
                before = self._policy(session)
                after = session_policy.checked(data, before)
                changed = {k: {"from": v, "to": after.as_dict()[k]} for k, v in before.as_dict().items()
                           if after.as_dict()[k] != v}
                session_policy.store(session, after)
                security_log.record(session, Kind.POLICY_CHANGED, actor=actor, object="session and password policy",
                                    details={"changed": changed})
                return after
        self.deny(user_id, "change the session and password policy", "security_setting", session_policy.SETTING)

    # -- page sessions ---------------------------------------------------------------------------

    def _begin_page_session(self, session: Session, user: User, agent: str | None,
                            replaces: str | None = None) -> PageSignIn | None:
        """A new page session for a signed-in account, under the policy's limit (None: the
        policy refuses it); the 鉴别警示 read before this sign-in is recorded. `replaces`: the
        raw id of the session this browser held until now, which ends (signed out)."""
        before = sessions.find(session, replaces)
        if before is not None:
            sessions.end(before, sessions.SIGNED_OUT)
        policy = self._policy(session)
        previous = previous_sign_in(session, user)
        raw, ended = sessions.begin(session, user, self._limits(policy), policy, agent)
        if raw is None:
            return None
        for row in ended:
            security_log.record(session, Kind.SESSION_ENDED, actor=user, object=f"session:{row.id}",
                                details={"reason": sessions.LIMIT, "max_sessions": policy.max_sessions})
        return PageSignIn(raw, passwords.due(user, policy), *previous)

    def open_page_session(self, user_id: int, agent: str | None, replaces: str | None = None) -> PageSignIn:
        """A page session for an account the identity provider signed in (engine/oidc.py, which
        recorded the sign-in); SessionLimitReached when the policy refuses one more."""
        with self.db.transaction() as session:
            page = self._begin_page_session(session, session.get(User, user_id), agent, replaces)
            if page is not None:
                return page
            refusal = self._session_limit_refusal(session)
        raise refusal

    def session_user(self, session: Session, raw: str | None) -> PageSession:
        """The account of a page session (its cookie's raw id), while the session is live:
        Unauthenticated when there is none or it ended, SessionOver when it is found idle or too
        old (close it with `close_page_session`)."""
        row = sessions.find(session, raw)
        if row is None or row.ended_at is not None:
            raise Unauthenticated("the session has ended; sign in again")
        policy = self._policy(session)
        now = clock.now()
        reason = self._limits(policy).why_over(row, now)
        if reason is not None:
            raise SessionOver(row.id, reason)
        user = self.actor(session, row.user_id)
        return PageSession(user, row.id, passwords.due(user, policy),
                           now - row.last_seen_at >= timedelta(seconds=sessions.TOUCH_SECONDS))

    def touch_page_session(self, row_id: int) -> None:
        """The session was used now (its idle time starts again)."""
        with self.db.transaction() as session:
            row = session.get(UserSession, row_id)
            if row is not None and row.ended_at is None:
                row.last_seen_at = clock.now()

    def close_page_session(self, row_id: int, reason: str) -> None:
        """Mark a session found idle or too old as ended (a security event)."""
        with self.db.transaction() as session:
            row = session.get(UserSession, row_id, with_for_update=True)
            if row is not None and row.ended_at is None:
                sessions.end(row, reason)
                user = session.get(User, row.user_id)
                security_log.record(session, Kind.SESSION_ENDED, actor=user, object=f"session:{row.id}",
                                    details={"reason": reason})

    def my_sessions(self, user_id: int, current_row: int | None = None) -> list[SessionView]:
        """The caller's live page sessions, newest first (`current_row`: the one asking)."""
        with self.db.transaction() as session:  # writes: sessions found over are marked ended
            self.actor(session, user_id)
            rows = sessions.live_sessions(session, user_id, self._limits(self._policy(session)))
            return [SessionView(r.id, r.started_at, r.last_seen_at, r.source, r.user_agent, r.id == current_row)
                    for r in reversed(rows)]

    def end_my_session(self, user_id: int, row_id: int) -> None:
        """End one of the caller's own page sessions (NotFound for any other, or an ended one)."""
        with self.db.transaction() as session:
            user = self.actor(session, user_id)
            row = session.get(UserSession, row_id)
            if row is None or row.user_id != user.id or row.ended_at is not None:
                raise NotFound(f"no live session {row_id} of yours")
            sessions.end(row, sessions.ENDED_ELSEWHERE)
            security_log.record(session, Kind.SESSION_ENDED, actor=user, object=f"session:{row.id}",
                                details={"reason": sessions.ENDED_ELSEWHERE})

    def end_other_sessions(self, user_id: int, current_row: int | None) -> int:
        """End every page session of the caller but `current_row` (退出其他会话); how many."""
        with self.db.transaction() as session:
            user = self.actor(session, user_id)
            count = sessions.end_all(session, user.id, sessions.ENDED_ELSEWHERE, keep=current_row)
            if count:
                security_log.record(session, Kind.SESSION_ENDED, actor=user, object="other sessions",
                                    details={"reason": sessions.ENDED_ELSEWHERE, "count": count})
            return count

    # -- passwords -----------------------------------------------------------------------------

    def _change_password(self, session: Session, user: User, new_password: Any, keep_row: int | None,
                         field: str = "new_password") -> None:
        if not isinstance(new_password, str) or not new_password:
            raise Invalid("the password has errors", {field: ["must not be empty"]})
        broken = password_policy.problems(new_password, user.username)
        if broken is not None:
            error = Invalid("the password has errors", {field: [broken.message]})
            error.reason = broken
            raise error
        policy = self._policy(session)
        if passwords.reused(session, user, new_password, policy):
            message = (f"must not be one of your last {policy.password_history} passwords"
                       if policy.password_history > 1 else "must not be your current password")
            error = Invalid("the password has errors", {field: [message]})
            error.reason = password_policy.Reason("password_reused", message, {"count": policy.password_history})
            raise error
        passwords.set_password(session, user, new_password, by_administrator=False, policy=policy)
        user.token_epoch = (user.token_epoch or 0) + 1  # tokens issued with the old password end
        guarded_sign_in.revoked(session, user, "password_changed", actor=user)
        sessions.end_all(session, user.id, sessions.ALL_ENDED, keep=keep_row)
        security_log.record(session, Kind.PASSWORD_CHANGED, actor=user, object=f"user:{user.username}")

    def change_password(self, user_id: int, current_password: Any, new_password: Any,
                        keep_row: int | None = None) -> None:
        """The owner changes their password: the current one (Invalid naming
        `current_password` when wrong, counted towards the lockout like a failed sign-in, and a
        security event; Locked once the name is locked), a new one that keeps the password rules and is none of
        the last N (naming `new_password`). Other page sessions (all but `keep_row`) and every
        API token end."""
        with self.db.transaction() as session:
            user = self.actor(session, user_id)
            # as at sign-in: a wrong current password counts towards the name's lockout
            checked, refusal = guarded_sign_in.attempt(
                session, user.username, current_password if isinstance(current_password, str) else "",
                self.settings.sign_in)
            if checked is not None:
                self._change_password(session, user, new_password, keep_row)
                return
            security_log.record(session, Kind.PASSWORD_CHANGED, actor=user, result=security_log.FAILURE,
                                object=f"user:{user.username}",
                                details={"reason": "locked" if isinstance(refusal, Locked) else "current password wrong"})
        if isinstance(refusal, Locked):
            raise refusal
        raise Invalid("the current password is wrong", {"current_password": ["is wrong"]})

    def change_password_signed_out(self, username: str, password: str, new_password: Any,
                                   code: str | None = None) -> None:
        """POST /api/auth/password: an expired (or administrator-set) password changed without a
        token; the name, password and second factor are checked as at sign-in (a failure counts
        towards the lockout and is recorded)."""
        with self.db.transaction() as session:
            user, refusal = guarded_sign_in.attempt(session, username, password, self.settings.sign_in,
                                                    self._second_factor_check(session, code, []))
            if user is not None:
                self._change_password(session, user, new_password, None)
                return
            self._record_refused_sign_in(session, username, "api", refusal)
        raise refusal
