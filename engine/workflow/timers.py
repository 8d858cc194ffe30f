"""BPMN timers on Duban's terms: plain ISO 8601 text, working days, and the engine's clock.

SpiffWorkflow evaluates a timer's text as a Python expression, so the `P5D` every modeler
writes fails as a NameError; `timer_expression` turns the ISO text into the quoted string
SpiffWorkflow expects (and a working-day duration into a call that counts working days).
`bind_to_clock` makes SpiffWorkflow's timer module read "now" from `engine.clock`.
"""
from __future__ import annotations

import re
from datetime import date, datetime, time

from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer

from .. import clock
from ..calendar import WorkingCalendar

_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
_DAYS_ONLY = re.compile(r"^P(\d+)D$")
_CYCLE = re.compile(r"^R\d*/.+$")

WORKING_DURATION_FUNCTION = "working_duration"


class TimerTextError(ValueError):
    pass


def is_iso_duration(text: str) -> bool:
    return bool(_DURATION.match(text))


def _is_iso_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
        return True
    except ValueError:
        return False


def timer_expression(kind: str, text: str, working_days: bool) -> str:
    """The Python expression SpiffWorkflow should evaluate for a timer written as `text`.

    kind is timeDuration, timeDate or timeCycle. Plain ISO 8601 and quoted strings are
    accepted; anything else is left as a Python expression (SpiffWorkflow's own convention).
    """
    raw = text.strip()
    unquoted = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"" else None
    iso = unquoted if unquoted is not None else raw
    if kind == "timeDuration" and is_iso_duration(iso):
        if working_days:
            days = _DAYS_ONLY.match(iso)
            if not days:
                raise TimerTextError(f"a working-day timer counts whole days (P5D), not {iso!r}")
            return f"{WORKING_DURATION_FUNCTION}({int(days.group(1))})"
        return repr(iso)
    if kind == "timeCycle" and _CYCLE.match(iso):
        return repr(iso)
    if kind == "timeDate" and _is_iso_datetime(iso):
        return repr(iso)
    if unquoted is not None:
        raise TimerTextError(f"{iso!r} is not an ISO 8601 {_KIND_WORDS.get(kind, 'timer')}")
    if re.match(r"^[A-Z0-9:/.+-]+$", raw):
        raise TimerTextError(f"{raw!r} is not an ISO 8601 {_KIND_WORDS.get(kind, 'timer')}")
    return raw  # a Python expression, evaluated in the sandbox


_KIND_WORDS = {"timeDuration": "duration (P5D, PT2H)", "timeDate": "date-time (2026-12-31T18:00:00+08:00)",
               "timeCycle": "cycle (R/P1M, R3/PT1H)"}


def working_duration_function(calendar: WorkingCalendar):
    """`working_duration(n)`: the ISO duration from now to the same time n working days on."""

    def working_duration(days: int) -> str:
        if not isinstance(days, int) or not -3660 <= days <= 3660:
            raise ValueError(f"working_duration takes whole days up to 3660, not {days!r}")
        start = clock.now()
        seconds = int((calendar.add_working_days(start, int(days)) - start).total_seconds())
        return f"PT{seconds}S"

    return working_duration


def end_of_day(day: str) -> str:
    """`end_of_day(listed_deadline)` in a timeDate timer: 23:59:59 Beijing time of that date."""
    moment = datetime.combine(date.fromisoformat(str(day)[:10]), time(23, 59, 59), clock.SHANGHAI)
    return moment.isoformat()


class _ClockDatetime(datetime):
    @classmethod
    def now(cls, tz=None):
        moment = clock.now()
        return moment.astimezone(tz) if tz else moment.astimezone(clock.SHANGHAI).replace(tzinfo=None)


def bind_to_clock() -> None:
    """SpiffWorkflow's timers compare against `datetime.now`; make that the engine's clock."""
    spiff_timer.datetime = _ClockDatetime
