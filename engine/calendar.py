"""Working days (工作日) under the State Council's yearly holiday arrangement.

chinese_calendar knows the statutory holidays and make-up workdays (调休) of the years it was
built with; an administrator's overrides (a date marked working or not) take precedence, and
a year neither knows counts its weekdays and is flagged provisional, until an administrator
declares that year's arrangement (see `engine.calendar_store`, which loads both from the
database).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import chinese_calendar

from . import clock

CHINESE_CALENDAR = "chinese_calendar"
ADMINISTRATOR = "administrator"
WEEKDAYS = "weekdays"
SHIFTS_KEPT = 100_000  # shifts remembered under one arrangement before they are forgotten


@dataclass(frozen=True)
class Arrangement:
    """What the administrators entered: overridden days, declared years, and the revision of
    the database they were read at (None: not read from a database)."""

    overrides: dict[date, bool] = field(default_factory=dict)
    declared_years: frozenset[int] = frozenset()
    revision: tuple | None = None


@lru_cache(maxsize=4096)
def _published_workday(day: date) -> bool:
    """chinese_calendar's answer for a day of a year it knows (fixed by the State Council's
    notice; remembered: the ladder asks about the same days over and over)."""
    return chinese_calendar.is_workday(day)


@lru_cache(maxsize=None)
def _known_year(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
        return True
    except NotImplementedError:
        return False


class WorkingCalendar:
    """Thread-safe to read while another thread adopts a new arrangement: the arrangement is
    one immutable object, swapped whole."""

    def __init__(self, overrides: dict[date, bool] | None = None, declared_years=None):
        self._arrangement = Arrangement(dict(overrides or {}), frozenset(declared_years or ()))
        self._lock = threading.Lock()
        # (arrangement, {(day, count): date}): shifts worked out under the arrangement in force;
        # many problems share a deadline, so the ladder asks the same shifts again and again
        self._shifts: tuple[Arrangement, dict] = (self._arrangement, {})

    # -- the arrangement in force --------------------------------------------------------------

    @property
    def arrangement(self) -> Arrangement:
        return self._arrangement

    @property
    def overrides(self) -> dict[date, bool]:
        return self._arrangement.overrides

    @property
    def declared_years(self) -> frozenset[int]:
        return self._arrangement.declared_years

    @property
    def revision(self) -> tuple | None:
        return self._arrangement.revision

    def adopt(self, arrangement: Arrangement) -> None:
        """Use `arrangement` from now on (every holder of this object sees it at once)."""
        with self._lock:
            self._arrangement = arrangement

    # -- days ----------------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        overrides = self._arrangement.overrides
        if day in overrides:
            return overrides[day]
        if _known_year(day.year):
            return _published_workday(day)
        return day.weekday() < 5

    def is_known_year(self, year: int) -> bool:
        """Whether chinese_calendar knows the year's holiday arrangement."""
        return _known_year(year)

    def is_provisional(self, day: date | datetime) -> bool:
        """A day of a year that neither chinese_calendar knows nor an administrator has
        declared: its working days are guessed from the weekdays."""
        if isinstance(day, datetime):
            day = day.astimezone(clock.SHANGHAI).date()
        return not _known_year(day.year) and day.year not in self._arrangement.declared_years

    def source_of(self, day: date) -> str:
        """Who says whether `day` is a working day: administrator, chinese_calendar or weekdays."""
        if day in self._arrangement.overrides:
            return ADMINISTRATOR
        return CHINESE_CALENDAR if _known_year(day.year) else WEEKDAYS

    @staticmethod
    def holiday_name(day: date) -> str | None:
        """chinese_calendar's name of the holiday a day belongs to (a make-up workday too)."""
        if not _known_year(day.year):
            return None
        return chinese_calendar.get_holiday_detail(day)[1]

    @staticmethod
    def listed_days(year: int) -> dict[date, bool]:
        """The days chinese_calendar lists for `year`: holidays (False) and make-up workdays (True)."""
        if not _known_year(year):
            return {}
        listed = {day: False for day in chinese_calendar.holidays if day.year == year}
        listed.update({day: True for day in chinese_calendar.workdays if day.year == year
                       and day.weekday() >= 5})
        return listed

    # -- arithmetic ----------------------------------------------------------------------------

    def shift(self, day: date, count: int) -> date:
        """The date `count` working days after `day` (before it when negative); 0 is `day`."""
        arrangement, known = self._shifts
        if arrangement is not self._arrangement:
            arrangement, known = self._arrangement, {}
            self._shifts = (arrangement, known)
        found = known.get((day, count))
        if found is None:
            if len(known) >= SHIFTS_KEPT:
                known.clear()
            found = known[(day, count)] = self._walk(day, count)
        return found

    def _walk(self, day: date, count: int) -> date:
        step = 1 if count >= 0 else -1
        remaining = abs(count)
        while remaining:
            day += timedelta(days=step)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def add_working_days(self, moment: datetime, days: int) -> datetime:
        """The same local time of day, `days` working days later (Asia/Shanghai)."""
        local = moment.astimezone(clock.SHANGHAI)
        return datetime.combine(self.shift(local.date(), days), local.timetz()).astimezone(clock.UTC)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end`."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count

    @staticmethod
    def start_of_day(day: date) -> datetime:
        return datetime.combine(day, time(0), clock.SHANGHAI).astimezone(clock.UTC)

    def end_of_day(self, day: date) -> datetime:
        """A date deadline falls due at the end of that day, Beijing time."""
        return datetime.combine(day, time(23, 59, 59), clock.SHANGHAI).astimezone(clock.UTC)


default_calendar = WorkingCalendar()
