"""The one clock. Everything that needs "now" asks this module.

Tests and the `--now` options of the command line move it; SpiffWorkflow's timers are bound
to it too (see `engine.workflow.timers`), so a timer fires when the engine's clock says so.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")

_lock = threading.Lock()
_frozen: datetime | None = None
_offset = timedelta(0)


def now() -> datetime:
    """The current moment, timezone-aware, in UTC."""
    with _lock:
        if _frozen is not None:
            return _frozen
        return datetime.now(UTC) + _offset


def local_now() -> datetime:
    return now().astimezone(SHANGHAI)


def today():
    """Today's date in Asia/Shanghai, the date the users live in."""
    return local_now().date()


def freeze(at: datetime) -> None:
    """Stop the clock at `at` (aware); it stays there until moved or released."""
    global _frozen
    with _lock:
        _frozen = _aware(at)


def advance(delta: timedelta) -> datetime:
    """Move the clock forward; a running clock gains an offset, a frozen one jumps."""
    global _frozen, _offset
    with _lock:
        if _frozen is not None:
            _frozen = _frozen + delta
            return _frozen
        _offset += delta
        return datetime.now(UTC) + _offset


def release() -> None:
    """Back to real time."""
    global _frozen, _offset
    with _lock:
        _frozen = None
        _offset = timedelta(0)


def reading() -> tuple[datetime | None, timedelta]:
    """How this clock is set (stopped at a moment, or running with an offset), for another
    process to follow (`follow`): the scheduler's timer workers keep its time."""
    with _lock:
        return _frozen, _offset


def follow(setting: tuple[datetime | None, timedelta]) -> None:
    global _frozen, _offset
    with _lock:
        _frozen, _offset = setting


def is_frozen() -> bool:
    with _lock:
        return _frozen is not None


def wall_time(moment: datetime) -> datetime:
    """The real moment at which this clock will show `moment` (what a timer of the operating
    system waits for): the same moment on a running clock, shifted by its offset when moved,
    and as far from the real now as `moment` is from a stopped clock's reading."""
    with _lock:
        if _frozen is not None:
            return datetime.now(UTC) + (moment - _frozen)
        return moment - _offset


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        at = at.replace(tzinfo=SHANGHAI)
    return at.astimezone(UTC)


def parse(text: str) -> datetime:
    """An ISO 8601 moment as users write it; without a zone it is Beijing time."""
    return _aware(datetime.fromisoformat(text))
