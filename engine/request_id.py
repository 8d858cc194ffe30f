"""The id of the request (or command) an action runs for: carried into every log line and
into the ledger entry the action appends, so that an operator goes from a log line to the
entries it wrote and back. web/ sets it per request (from the X-Request-Id header a proxy
sent, else a new one), with the client's address for the security log; engine/ reads them."""
from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

_current: ContextVar[str | None] = ContextVar("duban_request_id", default=None)
_source: ContextVar[str | None] = ContextVar("duban_request_source", default=None)
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def current() -> str | None:
    return _current.get()


def source() -> str | None:
    """The address the request came from (the security log's source), None for a command."""
    return _source.get()


def begin_source(address: str | None):
    """Set this context's client address; the token to `end_source` it with."""
    return _source.set((address or "")[:64] or None)


def end_source(token) -> None:
    _source.reset(token)


def accepted(given: str | None) -> str:
    """The id a caller gave, if it is a plain token of at most 64 characters; else a new one."""
    if given and _ACCEPTED.fullmatch(given):
        return given
    return uuid.uuid4().hex


def begin(request_id: str):
    """Set this context's id; the token to `end` it with."""
    return _current.set(request_id)


def end(token) -> None:
    _current.reset(token)


@contextmanager
def using(request_id: str | None = None) -> Iterator[str]:
    """Run the block under an id (a new one when none is given)."""
    token = _current.set(request_id or uuid.uuid4().hex)
    try:
        yield _current.get()
    finally:
        _current.reset(token)
