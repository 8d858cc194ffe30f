"""What can go wrong in an action, said so that a door (web, CLI) can answer it plainly."""
from __future__ import annotations


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
