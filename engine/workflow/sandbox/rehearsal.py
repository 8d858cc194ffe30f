"""Scripts run before the write lock is taken.

An action on an instance whose diagram has scripts is first rehearsed: its SpiffWorkflow
steps run once on a throwaway copy of the instance, outside any write transaction, and every
script's outcome (the data it left, or how it failed) is remembered by the exact job handed
to the worker (the script and its input data). The action itself then runs in its write
transaction and finds each script it meets already answered, so a script that runs to its
limit costs its seconds while nothing is locked: on SQLite no other writer waits for it.

A script the rehearsal did not meet (data the action changed on the way, a branch only the
real run takes) simply runs inside the transaction, as without a rehearsal.
"""
from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

_outcomes: ContextVar[dict[bytes, tuple] | None] = ContextVar("duban_script_rehearsal", default=None)


@contextmanager
def rehearsed() -> Iterator[None]:
    """The scripts run inside this block are remembered, and answered from memory when the
    same job comes again inside it (this thread or task only)."""
    token = _outcomes.set({})
    try:
        yield
    finally:
        _outcomes.reset(token)


def run(job: bytes, call: Callable[[], dict], failure_type: type[Exception]) -> dict:
    """`call()` for `job`, or its remembered outcome; a failure of `failure_type` is
    remembered and raised again like the first time."""
    outcomes = _outcomes.get()
    if outcomes is None:
        return call()
    key = hashlib.sha256(job).digest()
    known = outcomes.get(key)
    if known is None:
        try:
            data = call()
        except failure_type as error:
            outcomes[key] = ("failed", error)
            raise
        outcomes[key] = ("ran", json.dumps(data))
        return data
    if known[0] == "failed":
        error = known[1]
        raise failure_type(*error.args, **{k: getattr(error, k) for k in ("line", "kind") if hasattr(error, k)})
    return json.loads(known[1])
