"""The session and password policy (会话与口令策略, 等保 2.0 身份鉴别 and 访问控制), kept by the
security administrator (安全管理员) as one row of `security_setting` ("session_policy"):

- `idle_minutes`: a page session unused this long ends (5–480; default 30, or
  DUBAN_SESSION_IDLE_MINUTES where the server sets it);
- `max_sessions`: live page sessions one account may hold at once (1–20; default 3), and
  `session_mode`, what a sign-in beyond it does: "end_oldest" (default: the oldest session
  ends) or "refuse" (the new sign-in is refused until one is signed out);
- `password_days`: a password expires this many days after it was set (0: never, else
  30–365; default 90);
- `password_history`: a new password may not be any of the last N (0–24; default 5);
- `force_change`: a password an administrator set (a new account's, a reset) must be changed
  by its owner before anything else (default on).

Without a row the defaults hold (engine/settings.py's DUBAN_SESSION_IDLE_MINUTES for the idle
time); the first change writes the whole policy. A page session also ends after
DUBAN_SESSION_HOURS whatever the policy.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from .errors import Invalid
from .models import SecuritySetting
from .settings import SignInSettings

SETTING = "session_policy"
MODES = ("end_oldest", "refuse")
BOUNDS = {"idle_minutes": (5, 480), "max_sessions": (1, 20), "password_days": (30, 365),
          "password_history": (0, 24)}
DEFAULT_IDLE_MINUTES = 30


@dataclass(frozen=True)
class Policy:
    idle_minutes: int = DEFAULT_IDLE_MINUTES
    max_sessions: int = 3
    session_mode: str = "end_oldest"
    password_days: int = 90
    password_history: int = 5
    force_change: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


def defaults(sign_in: SignInSettings) -> Policy:
    """The policy of a database whose security administrator has not set one."""
    idle = int(round(sign_in.idle_minutes))
    low, high = BOUNDS["idle_minutes"]
    return Policy(idle_minutes=min(max(idle, low), high))


def current(session: Session, sign_in: SignInSettings) -> Policy:
    row = session.get(SecuritySetting, SETTING)
    base = defaults(sign_in)
    if row is None or not isinstance(row.value, dict):
        return base
    known = {key: row.value[key] for key in base.as_dict() if key in row.value}
    return Policy(**{**base.as_dict(), **known})


def checked(data: Any, base: Policy) -> Policy:
    """`data` (every field, or some: the rest from `base`) as a policy, or Invalid naming each
    field at fault."""
    if not isinstance(data, dict):
        raise Invalid("the policy has errors", {"data": ["Not a valid object."]})
    errors: dict[str, list[str]] = {}
    values = base.as_dict()
    for name in data:
        if name not in values:
            errors[name] = ["Unknown field."]
    for name, (low, high) in BOUNDS.items():
        if name not in data:
            continue
        value = data[name]
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            errors[name] = ["Not a valid integer."]
        elif name == "password_days" and value == 0:
            values[name] = 0
        elif not low <= value <= high:
            extra = " (or 0: never)" if name == "password_days" else ""
            errors[name] = [f"Must be greater than or equal to {low} and less than or equal to {high}{extra}."]
        else:
            values[name] = value
    if "session_mode" in data:
        if data["session_mode"] not in MODES:
            errors["session_mode"] = ["Must be one of: " + ", ".join(MODES) + "."]
        else:
            values["session_mode"] = data["session_mode"]
    if "force_change" in data:
        flag = data["force_change"]
        if flag in (True, 1, "1", "true", "on", "yes"):
            values["force_change"] = True
        elif flag in (False, 0, "0", "false", "off", "no", ""):
            values["force_change"] = False
        else:
            errors["force_change"] = ["Not a valid boolean."]
    if errors:
        raise Invalid("the policy has errors", errors)
    return Policy(**values)


def store(session: Session, policy: Policy) -> None:
    row = session.get(SecuritySetting, SETTING)
    if row is None:
        session.add(SecuritySetting(name=SETTING, value=policy.as_dict()))
    else:
        row.value = policy.as_dict()
