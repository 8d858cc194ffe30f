"""What can go wrong in an action, said so that a door (web, CLI) can answer it plainly."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reason:
    """Why something is refused, said twice: a stable `code` with its `params`, which the
    pages put into their own language, and an English `message` for the API and the logs."""

    code: str
    message: str
    params: dict = field(default_factory=dict)


class DubanError(Exception):
    """Base: a message for the user, and per-field (or per-element, per-row) details."""

    code = "error"

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class Invalid(DubanError):
    code = "invalid"


class NotFound(DubanError):
    code = "not_found"


class Forbidden(DubanError):
    code = "forbidden"


class Unauthenticated(DubanError):
    code = "unauthenticated"


class Conflict(DubanError):
    code = "conflict"


class Misconfigured(DubanError):
    """A setting Duban cannot start with; `errors` is keyed by the setting's name."""

    code = "misconfigured"


def field_errors(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as {"field" or "field.0.sub": [..]}: the shape of
    `DubanError.errors`."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                flat.update(field_errors(value, name))
            else:
                flat[name] = [str(v) for v in (value if isinstance(value, list) else [value])]
    else:
        flat[prefix or "data"] = [str(m) for m in messages]
    return flat


class Locked(DubanError):
    """Too many failed sign-ins for a user name: refused until `until` (whatever the password)."""

    code = "locked"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
