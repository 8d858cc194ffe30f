"""Working days (工作日) under the State Council's yearly holiday arrangement.

chinese_calendar knows the statutory holidays and make-up workdays (调休) of the years it was
built with; an administrator's overrides (a date marked working or not) take precedence, and
a year neither knows counts its weekdays and is flagged provisional.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import chinese_calendar

from . import clock


class WorkingCalendar:
    def __init__(self, overrides: dict[date, bool] | None = None):
        self.overrides = dict(overrides or {})

    def is_working_day(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            return day.weekday() < 5

    def is_known_year(self, year: int) -> bool:
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
            return True
        except NotImplementedError:
            return False

    def add_working_days(self, moment: datetime, days: int) -> datetime:
        """The same local time of day, `days` working days later (Asia/Shanghai)."""
        local = moment.astimezone(clock.SHANGHAI)
        day = local.date()
        remaining = days
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return datetime.combine(day, local.timetz()).astimezone(clock.UTC)

    def end_of_day(self, day: date) -> datetime:
        """A date deadline falls due at the end of that day, Beijing time."""
        return datetime.combine(day, time(23, 59, 59), clock.SHANGHAI).astimezone(clock.UTC)


default_calendar = WorkingCalendar()
