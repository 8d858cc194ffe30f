"""Accounts that sign in through the office's identity platform (统一身份认证): an LDAP or
Active Directory server (engine/directory.py) or an OpenID Connect provider.

The platform vouches for a person (`Identity`: where from, their id there, login name, name,
email, employee number 工号) and says which Duban roles their groups map to. `admit` turns
that into the Duban account they act as, in the caller's transaction:

1. the account already linked to that identity (origin and external id), else
2. the account of the official with the same employee number, which is linked from now on, else
3. a new account under the login name, linked to the official with that employee number if
   there is one. A local account of the same name is never taken over (it may be the
   break-glass administrator): the sign-in is refused, naming the clash.

The platform is the source of the roles: at every sign-in the account's roles become the
mapped ones (grants and revocations are security events). A person the platform no longer
vouches for (disabled, removed, or in no mapped group) is `refuse`d: their account is
disabled and every page session and API token of it ends. A later good sign-in through the
platform enables it again, but only when the platform disabled it: an account the system
administrator disabled stays disabled.

Local accounts (origin "local") keep their passwords here; linked accounts have none (no
password typed at the local form can match), so each person signs in one way only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import accounts, clock, ledger, sign_in
from .errors import Unauthenticated
from .ledger import Action
from .models import SEPARATED_ADMINS, Official, Role, User, UserRole
from .security_log import Kind, record

LOCAL = "local"
ORIGINS = ("ldap", "oidc")
NO_PASSWORD = "!external"  # not an argon2 hash: verify_password answers False for every password


@dataclass(frozen=True)
class Identity:
    """A person as the identity platform vouches for them."""

    origin: str                      # "ldap" or "oidc"
    external_id: str                 # the directory's DN / the provider's `sub` (stable)
    username: str                    # the login name, the Duban account's name when new
    display_name: str
    email: str | None = None
    employee_number: str | None = None
    roles: frozenset[Role] = field(default_factory=frozenset)  # mapped from the person's groups


class NotAdmitted(Unauthenticated):
    """The platform vouched for the person but Duban will not let them in; `reason` is a code
    for the pages' language and the security log."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def linked(session: Session, origin: str, external_id: str) -> User | None:
    return session.scalars(select(User).where(User.origin == origin, User.external_id == external_id)).first()


def admit(session: Session, identity: Identity) -> User:
    """The account the identity acts as, created or linked if need be, its roles those mapped.
    Raises NotAdmitted when Duban will not let the person in, after disabling a linked account
    the platform no longer maps to a role: the caller commits that before answering."""
    if identity.origin not in ORIGINS:
        raise ValueError(f"unknown identity origin {identity.origin!r}")
    user = linked(session, identity.origin, identity.external_id)
    if not identity.roles:
        if user is not None:
            refuse(session, user, "no_mapped_role")
        raise NotAdmitted(f"{identity.username} is in no group that grants a Duban role", "no_mapped_role")
    separated = [role for role in SEPARATED_ADMINS if role in identity.roles]
    if len(separated) > 1:
        raise NotAdmitted(f"the directory's groups give {identity.username} "
                          f"{' and '.join(r.value for r in separated)}: no account holds two (三员分立)",
                          "separated_admins")
    official = _official(session, identity.employee_number)
    if user is None and official is not None and official.user is not None:
        user = official.user
        if user.origin != LOCAL and user.external_id != identity.external_id:
            raise NotAdmitted(f"the official with employee number {identity.employee_number} signs in "
                              f"as {user.username} already", "employee_number_taken")
        _link(session, user, identity)
    if user is None:
        user = _create(session, identity, official)
    if not user.active:
        if user.directory_refused_at is None:
            raise NotAdmitted(f"the account {user.username} is disabled", "disabled")
        user.active = True
        user.directory_refused_at = None
        record(session, Kind.ACCOUNT_ENABLED, subject=identity.origin, object=f"user:{user.username}",
               method=identity.origin)
    _update(session, user, identity)
    return user


def refuse(session: Session, user: User, reason: str) -> None:
    """The platform no longer vouches for the account's person: disable it and end its sessions
    and tokens (a security event naming the reason)."""
    if user.origin == LOCAL:
        return
    if user.active:
        user.active = False
        user.directory_refused_at = clock.now()
        sign_in.end_sessions(user, tokens=True, because=f"{user.origin}: {reason}", subject=user.origin)
        session.flush()
        record(session, Kind.ACCOUNT_DISABLED, subject=user.origin, object=f"user:{user.username}",
               method=user.origin, details={"reason": reason})


def _official(session: Session, employee_number: str | None) -> Official | None:
    if not employee_number:
        return None
    return session.scalars(select(Official).where(Official.employee_number == employee_number.strip())).first()


def _link(session: Session, user: User, identity: Identity) -> None:
    before = user.origin
    user.origin, user.external_id = identity.origin, identity.external_id
    user.password_hash = NO_PASSWORD
    sign_in.end_sessions(user, tokens=True, because=f"linked to {identity.origin}", subject=identity.origin)  # what the local password opened ends with it
    session.flush()
    ledger.record(session, Action.USER_UPDATED, actor=None, subject_type="user", subject_id=user.id,
                  payload={"username": user.username,
                           "changed": {"origin": {"from": before, "to": identity.origin}}})


def _create(session: Session, identity: Identity, official: Official | None) -> User:
    clash = session.scalar(select(User.id).where(func.lower(User.username) == identity.username.lower()))
    if clash is not None:
        raise NotAdmitted(f"a Duban account is named {identity.username} already; the system administrator "
                          "links it by giving its official the same employee number", "username_taken")
    user = accounts.create_user(session, identity.username, identity.display_name, None, set(identity.roles),
                                official.id if official is not None else None, password_hash=NO_PASSWORD)
    user.origin, user.external_id = identity.origin, identity.external_id
    session.flush()
    roles = sorted(r.value for r in identity.roles)
    ledger.record(session, Action.USER_CREATED, actor=None, subject_type="user", subject_id=user.id,
                  payload={"username": user.username, "display_name": user.display_name, "roles": roles,
                           "official_id": official.id if official else None,
                           "official": official.name if official else None, "origin": identity.origin})
    record(session, Kind.ACCOUNT_CREATED, subject=identity.origin, object=f"user:{user.username}",
           method=identity.origin, details={"roles": roles})
    for role in roles:
        record(session, Kind.ROLE_GRANTED, subject=identity.origin, object=f"user:{user.username}",
               method=identity.origin, details={"role": role})
    return user


def _update(session: Session, user: User, identity: Identity) -> None:
    """The directory's name and roles become the account's."""
    if identity.display_name and user.display_name != identity.display_name[:60]:
        user.display_name = identity.display_name[:60]
    granted, revoked = set(identity.roles) - user.roles, user.roles - set(identity.roles)
    if not granted and not revoked:
        return
    user.role_rows = [row for row in user.role_rows if row.role in identity.roles] + [
        UserRole(role=r) for r in sorted(granted)]
    session.flush()
    for kind, roles in ((Kind.ROLE_GRANTED, granted), (Kind.ROLE_REVOKED, revoked)):
        for role in sorted(roles):
            record(session, kind, subject=identity.origin, object=f"user:{user.username}",
                   method=identity.origin, details={"role": role.value})
