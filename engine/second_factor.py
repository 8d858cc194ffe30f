"""The second factor of sign-in (双因素认证, 等保 2.0 身份鉴别): a time-based one-time password
(TOTP, RFC 6238, pyotp) from an authenticator app, enrolled by scanning a QR code, with ten
one-time recovery codes for a lost phone.

Who needs it is the security policy's: the roles config/security.toml names (every
administrator and the discipline office by default), unless the database's setting
`second_factor` says otherwise (`duban demo` turns it off for the demo and says so). An account
that has enrolled always gives its code, required or not.

A code is accepted within one 30-second step either side of the engine's clock, once: the step
of the last code accepted is kept, so a code seen over a shoulder cannot be used again. A
recovery code is accepted once; only its SHA-256 is kept. The secret is kept sealed with SM4
under the installation's data key, outside the database (engine/sealed.py), bound to its
account: a copy of the database alone gives nobody the codes.
"""
from __future__ import annotations

import hashlib
import secrets
import tomllib
from dataclasses import dataclass
from datetime import datetime

import logging

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import clock
from .errors import Unauthenticated
from .models import RecoveryCode, Role, SecondFactor, SecuritySetting, User
from .sealed import Sealer, Unopened
from .settings import CONFIG_DIR

log = logging.getLogger(__name__)

ISSUER = "督办 Duban"
RECOVERY_CODES = 10
SETTING = "second_factor"


class SecondFactorNeeded(Unauthenticated):
    """The password was right; the second factor is missing or wrong (401 naming `code`)."""

    def __init__(self, message: str, enrol: bool = False, counts: bool = False, user_id: int | None = None):
        self.enrol = enrol  # the account must enrol first (on the sign-in page)
        self.counts = counts  # a wrong code: a failed sign-in, towards the lockout
        self.user_id = user_id
        super().__init__(message, {"code": [message]})


class SecretUnreadable(SecondFactorNeeded):
    """The account's sealed secret does not open with this installation's data key: the key
    was changed, or the database comes from another installation."""

    def __init__(self):
        super().__init__("this account's second factor cannot be checked: its secret does not open with "
                         "this installation's data key (DUBAN_DATA_KEY or DUBAN_DATA_KEY_FILE); the "
                         "security administrator can reset the second factor")


@dataclass(frozen=True)
class Policy:
    required: bool
    roles: frozenset[Role]

    def requires(self, user: User) -> bool:
        return self.required and bool(user.roles & self.roles)


def _configured_roles() -> frozenset[Role]:
    path = CONFIG_DIR / "security.toml"
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    return frozenset(Role(name) for name in data.get("second_factor", {}).get("roles", []))


def policy(session: Session) -> Policy:
    row = session.get(SecuritySetting, SETTING)
    required = True if row is None else bool(row.value.get("required", True))
    return Policy(required=required, roles=_configured_roles())


def set_required(session: Session, required: bool, reason: str) -> None:
    """Switch the requirement on or off for this database (the demo turns it off)."""
    row = session.get(SecuritySetting, SETTING)
    value = {"required": bool(required), "reason": reason}
    if row is None:
        session.add(SecuritySetting(name=SETTING, value=value))
    else:
        row.value = value


def enrolled(session: Session, user: User) -> bool:
    row = session.get(SecondFactor, user.id)
    return row is not None and row.enabled_at is not None


def enrolled_among(session: Session, user_ids) -> set[int]:
    """Which of these accounts have a confirmed second factor (one query for a page of them)."""
    ids = list(user_ids)
    if not ids:
        return set()
    return set(session.scalars(select(SecondFactor.user_id).where(SecondFactor.user_id.in_(ids),
                                                                  SecondFactor.enabled_at.is_not(None))))


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str  # otpauth://totp/…, what the QR code holds


def begin(session: Session, user: User, sealer: Sealer) -> Enrolment:
    """A new secret for the user, waiting for its first code (an enrolment begun again replaces
    the one waiting; an enabled factor stays until the new one is confirmed)."""
    row = session.get(SecondFactor, user.id)
    secret = pyotp.random_base32()
    kept = sealer.seal(secret, _context(user))
    if row is None:
        session.add(SecondFactor(user_id=user.id, secret=kept, created_at=clock.now()))
    elif row.enabled_at is None:
        row.secret, row.created_at = kept, clock.now()
    else:
        raise Unauthenticated("a second factor is enrolled already; reset it first", {"code": ["enrolled already"]})
    return Enrolment(secret, pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER))


def confirm(session: Session, user: User, code: str, sealer: Sealer) -> list[str]:
    """The first code from the app confirms the enrolment: ten recovery codes, shown once."""
    row = session.get(SecondFactor, user.id)
    if row is None or row.enabled_at is not None:
        raise SecondFactorNeeded("no enrolment is waiting for a code", enrol=True)
    step = _accepted_step(_opened(row, user, sealer), code, None)
    if step is None:
        raise SecondFactorNeeded("the code is not the app's current one (check the phone's clock)", enrol=True)
    row.enabled_at, row.last_step = clock.now(), step
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_digest(code_)) for code_ in codes)
    return codes


def verify(session: Session, user: User, code: str | None, sealer: Sealer) -> str:
    """Check the code of an enrolled user: "totp" or "recovery code" when accepted (the step or
    the recovery code is used up); SecondFactorNeeded when missing or wrong."""
    if not code or not code.strip():
        raise SecondFactorNeeded("the second factor is needed: send `code`, the authenticator app's "
                                 "6-digit code, or a recovery code")
    row = session.get(SecondFactor, user.id, with_for_update=True)
    text = code.strip().replace(" ", "")
    step = _accepted_step(_opened(row, user, sealer), text, row.last_step)
    if step is not None:
        row.last_step = step
        return "totp"
    recovery = session.scalars(select(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _digest(text),
        RecoveryCode.used_at.is_(None)).with_for_update()).first()
    if recovery is not None:
        recovery.used_at = clock.now()
        return "recovery code"
    raise SecondFactorNeeded("the second factor's code is wrong or was used already", counts=True)


def reset(session: Session, user: User) -> None:
    """Remove the user's second factor and recovery codes (a lost phone: the security
    administrator's reset; the user enrols again at the next sign-in)."""
    session.execute(delete(SecondFactor).where(SecondFactor.user_id == user.id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def recovery_codes_left(session: Session, user: User) -> int:
    return len(session.scalars(select(RecoveryCode.id).where(RecoveryCode.user_id == user.id,
                                                             RecoveryCode.used_at.is_(None))).all())


def current_code(secret: str, at: datetime | None = None) -> str:
    """The code an authenticator app shows now (for tests and the enrolment page's check)."""
    return pyotp.TOTP(secret).at(at or clock.now())


def secret_of(session: Session, user: User, sealer: Sealer) -> str | None:
    """The account's secret, opened (for tests and the security administrator's checks)."""
    row = session.get(SecondFactor, user.id)
    return None if row is None else _opened(row, user, sealer)


def _context(user: User) -> str:
    return f"second_factor:{user.id}"


def _opened(row: SecondFactor, user: User, sealer: Sealer) -> str:
    try:
        return sealer.open(row.secret, _context(user))
    except Unopened as why:
        log.error("the second factor of account %s does not open: %s", user.id, why)
        raise SecretUnreadable() from None


def _accepted_step(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step (of 30 s) whose code `code` is, within one step of the engine's clock,
    and later than `last_step`; None otherwise."""
    if not code or not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    now = clock.now()
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if (last_step is None or step > last_step) and secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _recovery_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _digest(code: str) -> str:
    """A recovery code's digest, however it was typed (case, spaces, the dash)."""
    return hashlib.sha256(code.replace("-", "").replace(" ", "").strip().upper().encode()).hexdigest()
