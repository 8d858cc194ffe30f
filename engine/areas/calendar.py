"""The working-day calendar (工作日): the State Council's arrangement and the office's overrides.

A part of the Duban facade (engine/service.py): each method one action, one transaction."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import clock
from .. import calendar_store, lights
from ..calendar import WorkingCalendar
from ..errors import Conflict, DubanError
from ..escalation import due_moments
from ..models import Role
from ..scheduling import signal as scheduling_signal
from ..workflow.sandbox import rehearsal
from . import CalendarAnswer


class CalendarActions:

    @contextmanager
    def scripts_first(self, rehearse: Callable[[Session], None]) -> Iterator[None]:
        """On SQLite, where a write transaction locks out every other writer, the scripts of
        the action inside this block run before it: `rehearse(session)` (a Runtime.rehearse_*
        call, on a session that only reads) meets them, and the action finds them answered
        (workflow/sandbox/rehearsal.py). A rehearsal that cannot run is the action's to meet."""
        if not self.db.is_sqlite:
            yield
            return
        with rehearsal.rehearsed():
            try:
                with self.db.reading() as session:
                    self.current_calendar(session)
                    rehearse(session)
            except DubanError:
                pass
            yield

    def _calendar(self, session: Session) -> WorkingCalendar:
        """The runtime's calendar, first brought in step with the database: the years of
        config/calendar.toml the database lacks are seeded (in this transaction), and the
        overrides are reloaded when their revision moved (another process changed them).
        Called at the start of every action that counts working days."""
        calendar_store.seed(session)
        calendar_store.sync(session, self.runtime.calendar)
        return self.runtime.calendar

    def current_calendar(self, session: Session | None = None) -> WorkingCalendar:
        """The calendar as the database has it now (for readers: one cheap query)."""
        if session is not None:
            calendar_store.sync(session, self.runtime.calendar)
            return self.runtime.calendar
        with self.db.reading() as reading:
            if not calendar_store.missing_seeds(reading):
                calendar_store.sync(reading, self.runtime.calendar)
                return self.runtime.calendar
        with self.db.transaction() as writing:
            return self._calendar(writing)

    def calendar_year(self, year: int) -> dict:
        calendar = self.current_calendar()
        with self.db.reading() as session:
            return calendar_store.year_view(session, calendar, year)

    def calendar_day(self, day) -> dict:
        calendar = self.current_calendar()
        with self.db.reading() as session:
            return calendar_store.day_view(session, calendar, day)

    def declare_calendar_year(self, user_id: int, year: int, body, answer: CalendarAnswer | None = None):
        """Enter a year's whole holiday arrangement (环督办): `body` is the list of its days
        (or {"days", "note"}); it replaces that year's overrides and the year is no longer
        provisional."""
        return self._change_calendar(user_id, f"declare the {year} calendar", str(year),
                                     lambda session, actor: calendar_store.declare_year(session, year, body, actor),
                                     answer)

    def withdraw_calendar_year(self, user_id: int, year: int, answer: CalendarAnswer | None = None):
        return self._change_calendar(user_id, f"withdraw the {year} calendar", str(year),
                                     lambda session, actor: calendar_store.withdraw_year(session, year, actor),
                                     answer)

    def set_calendar_day(self, user_id: int, day, data, answer: CalendarAnswer | None = None):
        return self._change_calendar(user_id, f"change the calendar on {day}", str(day),
                                     lambda session, actor: calendar_store.set_day(
                                         session, day, *calendar_store.validate_day_change(data), actor), answer)

    def remove_calendar_day(self, user_id: int, day, answer: CalendarAnswer | None = None):
        return self._change_calendar(user_id, f"change the calendar on {day}", str(day),
                                     lambda session, actor: calendar_store.remove_day(session, day, actor), answer)

    def _change_calendar(self, user_id: int, what: str, subject: str, change, answer: CalendarAnswer | None = None):
        """One calendar change in one transaction, with what was counted on the old calendar
        counted again: working-day due times of ready tasks, and every light. Other processes
        pick the change up at their next action; the scheduler plans again (told by the same
        commit). What it did, as plain data; given `answer`, what `answer(session, calendar,
        change)` builds inside the transaction."""
        try:
            with self.db.transaction() as session:
                self._calendar(session)
                actor = self.actor(session, user_id)
                if actor.has_role(Role.ADMIN):
                    done = change(session, actor)
                    fresh = calendar_store.build(session)
                    moved = self.runtime.recompute_working_dues(session, fresh, actor)
                    changed = lights.refresh(session, fresh, clock.now(), self.runtime.light_rules)
                    due_moments.work_out_again(session)  # the ladder counts working days too
                    result = {"year": done.year, "declared": done.declared,
                              "days_changed": [d.isoformat() for d in done.moved],
                              "tasks_rescheduled": [task.id for task, _, _ in moved],
                              "lights_changed": len(changed)}
                    scheduling_signal.changed(session)
                    if answer:
                        result = answer(session, fresh, result)
                else:
                    result = None
        except IntegrityError:
            raise Conflict("the calendar was changed by someone else at the same moment; try again") from None
        if result is None:
            self.deny(user_id, what, "calendar_year", subject)
        self.runtime.calendar.adopt(fresh.arrangement)
        return result
