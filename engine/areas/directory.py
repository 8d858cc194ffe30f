"""Signing in with the office's directory account (统一身份认证, engine/directory.py), and
the re-check an API token of such an account makes.

When ldap.toml is configured, a name that is not a local account's (origin "local": the
break-glass administrator keeps their password here) is the directory's: the lockout is
asked first (a locked name never reaches the directory, so Duban cannot lock anyone out of
the office's directory), then the directory, outside any transaction; then one transaction
admits the person (engine/external_accounts.py), asks for the second factor as for local
accounts, and records the outcome with its security events. A refusal commits what it
changed (a failure counted, an account disabled) before it is raised.

A part of the Duban facade (engine/service.py)."""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import clock, external_accounts, second_factor, security_log, sso_settings
from .. import sign_in as guarded_sign_in
from ..directory import ORIGIN, DirectoryUnavailable
from ..errors import Locked, Unauthenticated
from ..external_accounts import NotAdmitted
from ..models import Role, User
from ..security_log import Kind

log = logging.getLogger("duban.directory")


class DirectoryActions:
    directory = None  # engine.directory.Directory when DUBAN_LDAP_CONFIG is set

    def signs_in_with_directory(self, username: str) -> bool:
        """Whether this name signs in through the directory: it is configured and no local
        account has the name."""
        if self.directory is None:
            return False
        with self.db.reading() as session:
            user = guarded_sign_in._account(session, username)
            return user is None or user.origin != external_accounts.LOCAL

    def directory_sign_in(self, username: str, password: str, door: str = "api", code: str | None = None,
                          agent: str | None = None, replaces: str | None = None) -> tuple[User, object]:
        """As `sign_in`, with the directory checking the password; method "ldap" (or "ldap+totp").
        The password is the directory's: Duban's expiry and history do not apply to it."""
        policy = self.settings.sign_in
        with self.db.reading() as session:
            locked = guarded_sign_in.locked(session, username)
        if locked is not None:
            with self.db.transaction() as session:
                self._directory_refused(session, username, door, "locked")
            raise locked
        try:
            verdict = self.directory.authenticate(username, password)
        except DirectoryUnavailable:
            with self.db.transaction() as session:
                self._directory_refused(session, username, door, "directory unreachable")
            raise
        for attempt in range(2):
            try:
                return self._directory_admit(username, verdict, door, code, policy, agent, replaces)
            except IntegrityError:  # two first failures of one name at once: count again
                if attempt:
                    raise Unauthenticated(guarded_sign_in.WRONG) from None
        raise AssertionError("unreachable")

    def _directory_admit(self, username, verdict, door, code, policy, agent=None, replaces=None
                         ) -> tuple[User, object]:
        gone = self._gone_from_directory(username) if verdict.identity is None and not verdict.found else None
        refusal: Exception | None = None
        with self.db.transaction() as session:
            if verdict.identity is None:
                if not verdict.found and gone is not None:  # the directory no longer has the person
                    user = session.get(User, gone)
                    if user is not None:
                        external_accounts.refuse(session, user, "not_in_directory")
                refusal = guarded_sign_in.failed(session, username, policy)
                self._directory_refused(session, username, door, "wrong name or password", refusal)
            else:
                try:
                    user = external_accounts.admit(session, verdict.identity)
                except NotAdmitted as refused:
                    refusal = refused
                    self._directory_refused(session, username, door, refused.reason,
                                            subject=verdict.identity.username)
                else:
                    user.directory_checked_at = clock.now()
                    used: list[str] = []
                    try:
                        self._second_factor_check(session, code, used)(user)
                    except Unauthenticated as needed:
                        refusal = needed
                        if getattr(needed, "counts", False):
                            failure = guarded_sign_in.failed(session, username, policy)
                            refusal = failure if isinstance(failure, Locked) else needed
                        self._directory_refused(session, username, door, _reason(needed), refusal,
                                                subject=user.username)
                    else:
                        method = "+".join([ORIGIN, *used])
                        page = self._begin_page_session(session, user, agent, replaces) if door == "page" else None
                        if door == "page" and page is None:
                            refusal = self._session_limit_refusal(session)
                            self._directory_refused(session, username, door, "too many sessions", refusal,
                                                    subject=user.username)
                        else:
                            guarded_sign_in.succeeded(session, username)
                            security_log.record(session, Kind.SIGN_IN, actor=user, method=method,
                                                details={"door": door})
                            if door == "api":
                                security_log.record(session, Kind.TOKEN_ISSUED, actor=user, method=method)
                                return user, self.tokens.issue(user)
                            return user, page
        raise refusal

    def _gone_from_directory(self, username: str) -> int | None:
        """The directory account of this name, when the directory no longer has its person
        (asked by the account's DN: a name the directory does not know may be a linked
        account's Duban name, whose person is still there under another login name)."""
        with self.db.reading() as session:
            row = session.execute(select(User.id, User.external_id).where(
                User.origin == ORIGIN, User.username == username, User.active.is_(True))).first()
        if row is None or not row.external_id:
            return None
        try:
            return row.id if self.directory.lookup(dn=row.external_id).identity is None else None
        except DirectoryUnavailable:
            return None

    def _directory_refused(self, session, username: str, door: str, reason: str, refusal: Exception | None = None,
                           subject: str | None = None) -> None:
        name = subject or security_log.typed_name(session, username)
        security_log.record(session, Kind.SIGN_IN, subject=name, result=security_log.FAILURE, method=ORIGIN,
                            details={"door": door, "reason": reason})
        if isinstance(refusal, second_factor.SecondFactorNeeded) and refusal.counts:
            security_log.record(session, Kind.SECOND_FACTOR_FAILED, subject=name, result=security_log.FAILURE,
                                method="totp", object=f"user:{name}")
        if getattr(refusal, "just_now", False):
            security_log.record(session, Kind.LOCKED, subject=name, result=security_log.FAILURE, method=ORIGIN,
                                object=f"user:{name}", details={"minutes": self.settings.sign_in.lockout_minutes})

    def directory_recheck(self, user_id: int) -> bool:
        """For a token of a directory account: whether the directory still vouches for the
        person, asked again when it last did more than recheck_minutes ago. A person it no
        longer finds, or whose groups map to no role, is refused (account disabled, its
        sessions and tokens ended); their roles follow the groups. A directory that cannot
        be asked (down, or direct bind without a service account) leaves the token good and
        is asked again after recheck_minutes."""
        if self.directory is None:
            return True
        with self.db.reading() as session:
            row = session.execute(select(User.origin, User.external_id, User.directory_checked_at)
                                  .where(User.id == user_id)).first()
        if row is None or row.origin != ORIGIN:
            return True
        every = timedelta(minutes=self.directory.config.recheck_minutes)
        now = clock.now()
        if row.directory_checked_at is not None and now - row.directory_checked_at < every:
            return True
        try:
            verdict = self.directory.lookup(dn=row.external_id)
        except DirectoryUnavailable as down:
            log.warning("re-check of account %s not possible: %s", user_id, "; ".join(down.errors.get("directory", [])))
            verdict = None
        with self.db.transaction() as session:
            user = session.get(User, user_id)
            if user is None:
                return False
            user.directory_checked_at = now
            if verdict is None:
                return True
            if verdict.identity is None:
                external_accounts.refuse(session, user, "not_in_directory")
                return False
            try:
                external_accounts.admit(session, verdict.identity)
            except NotAdmitted:
                return False
            return bool(user.active)

    # -- the security administrator's view of 统一身份认证 (engine/sso_settings.py) ------------------

    def _security_administrator_or_refused(self, user_id: int, what: str) -> None:
        with self.db.reading() as session:
            allowed = self.actor(session, user_id).has_role(Role.SECURITY_ADMIN)
        if not allowed:
            self.deny(user_id, what, "security_setting", "single sign-on")

    def single_sign_on(self, user_id: int, provider=None) -> dict:
        """The directory and OpenID Connect settings in force (no secret), for the security
        administrator alone; `provider` is the web's engine.oidc.Provider, if one is configured."""
        self._security_administrator_or_refused(user_id, "read the single sign-on settings")
        return sso_settings.view(self.directory.config if self.directory else None,
                                 provider.config if provider else None)

    def check_single_sign_on(self, user_id: int, provider=None) -> list[sso_settings.Check]:
        """Ask the directory's servers and the provider now (the security administrator alone)."""
        self._security_administrator_or_refused(user_id, "check the single sign-on settings")
        return sso_settings.check(self.directory, provider)


def _reason(needed: Exception) -> str:
    if isinstance(needed, second_factor.SecondFactorNeeded):
        return ("enrolment needed" if needed.enrol else "second factor wrong" if needed.counts
                else "second factor needed")
    return "refused"
