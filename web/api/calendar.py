from __future__ import annotations

from flask import request
from marshmallow import Schema, fields, validate

from engine import calendar_store, clock

from .common import BEARER, Blueprint, caller_id, duban, reply, reply_json

blp = Blueprint("calendar", __name__, url_prefix="/api",
                description="The working-day calendar (工作日): holidays, make-up workdays, administrators' overrides")

SOURCES = "chinese_calendar (the package's statutory arrangement), administrator (entered here) or weekdays " \
          "(a year nobody has declared: Monday to Friday)"


class CalendarQuery(Schema):
    year = fields.Integer(load_default=lambda: clock.today().year,
                          validate=validate.Range(min=calendar_store.FIRST_YEAR, max=calendar_store.LAST_YEAR),
                          metadata={"description": "default: this year"})


class CalendarDayOut(Schema):
    date = fields.Date()
    weekday = fields.Integer(metadata={"description": "1 Monday … 7 Sunday"})
    working = fields.Boolean()
    name = fields.String(allow_none=True, metadata={"description": "the holiday, or the administrator's note"})
    source = fields.String(metadata={"description": SOURCES})
    provisional = fields.Boolean(metadata={"description": "the year's arrangement is not known yet: weekdays are guessed"})
    entered_by = fields.String(allow_none=True)
    entered_at = fields.AwareDateTime(allow_none=True)


class ChangeOut(Schema):
    year = fields.Integer()
    declared = fields.Boolean()
    days_changed = fields.List(fields.String(), metadata={"description": "dates (YYYY-MM-DD) whose status changed"})
    tasks_rescheduled = fields.List(fields.Integer(), metadata={"description": "ready tasks whose working-day due time moved"})
    lights_changed = fields.Integer()


class CalendarYearOut(Schema):
    year = fields.Integer()
    source = fields.String(metadata={"description": SOURCES})
    provisional = fields.Boolean()
    known_to_chinese_calendar = fields.Boolean()
    declared = fields.Boolean(metadata={"description": "an administrator entered the year's whole arrangement"})
    declared_by = fields.String(allow_none=True)
    declared_at = fields.AwareDateTime(allow_none=True)
    note = fields.String(allow_none=True)
    working_days = fields.Integer(metadata={"description": "working days in the year"})
    days = fields.List(fields.Nested(CalendarDayOut),
                       metadata={"description": "every day that is not the plain Monday-to-Friday pattern"})
    change = fields.Nested(ChangeOut, metadata={"description": "after a change: what it did"})


class CalendarDayChangeOut(CalendarDayOut):
    change = fields.Nested(ChangeOut)


_DAY_BODY = {"content": {"application/json": {"schema": {
    "type": "object", "properties": {"working": {"type": "boolean"}, "note": {"type": "string", "maxLength": 100}},
    "required": ["working"]}}}}
_DAY_ITEM = {"type": "object", "properties": {"date": {"type": "string", "format": "date"},
                                             "working": {"type": "boolean"},
                                             "note": {"type": "string", "maxLength": 100}},
             "required": ["date", "working"]}
_YEAR_BODY = {"content": {"application/json": {"schema": {"oneOf": [
    {"type": "array", "items": _DAY_ITEM},
    {"type": "object", "properties": {"days": {"type": "array", "items": _DAY_ITEM},
                                      "note": {"type": "string", "maxLength": 200}}, "required": ["days"]}]}}}}


@blp.get("/calendar")
@blp.arguments(CalendarQuery, location="query")
@blp.response(200, CalendarYearOut)
@blp.doc(security=BEARER)
def get_year(query):
    """A year: its holidays, make-up workdays and overrides, where they come from, and whether
    the year is provisional (neither chinese_calendar nor an administrator knows it)."""
    caller_id()
    return reply(CalendarYearOut(), duban().calendar_year(query["year"]))


@blp.get("/calendar/days/<day>")
@blp.response(200, CalendarDayOut)
@blp.doc(security=BEARER)
def get_day(day: str):
    """One day: working or not, and who says so."""
    caller_id()
    return reply(CalendarDayOut(), duban().calendar_day(calendar_store.parse_day(day)))


@blp.put("/calendar/years/<int:year>")
@blp.response(200, CalendarYearOut)
@blp.doc(security=BEARER, requestBody=_YEAR_BODY)
def declare_year(year: int):
    """Enter a year's holiday arrangement (环督办): its holidays (including the weekend days
    inside them) with `working: false` and its make-up workdays with `working: true`. It
    replaces the year's overrides and ends its provisional status; working-day due times and
    traffic lights are counted again."""
    return reply_json(duban().declare_calendar_year(caller_id(), year, request.get_json(silent=True),
                                                    answer=_year_answer(year)))


@blp.delete("/calendar/years/<int:year>")
@blp.response(200, CalendarYearOut)
@blp.doc(security=BEARER)
def withdraw_year(year: int):
    """Withdraw what was entered for a year (环督办): its overrides and its declaration."""
    return reply_json(duban().withdraw_calendar_year(caller_id(), year, answer=_year_answer(year)))


@blp.put("/calendar/days/<day>")
@blp.response(200, CalendarDayChangeOut)
@blp.doc(security=BEARER, requestBody=_DAY_BODY)
def set_day(day: str):
    """Mark one day working or not (环督办), e.g. a local adjustment; it beats chinese_calendar."""
    user_id = caller_id()
    parsed = calendar_store.parse_day(day)
    return reply_json(duban().set_calendar_day(user_id, parsed, request.get_json(silent=True),
                                               answer=_day_answer(parsed)))


@blp.delete("/calendar/days/<day>")
@blp.response(200, CalendarDayChangeOut)
@blp.doc(security=BEARER)
def remove_day(day: str):
    """Remove one day's override (环督办)."""
    user_id = caller_id()
    parsed = calendar_store.parse_day(day)
    return reply_json(duban().remove_calendar_day(user_id, parsed, answer=_day_answer(parsed)))


# The answers to changes are built inside the change's transaction, on the calendar as
# changed: a committed change is answered with what it committed, without a second connection.

def _year_answer(year: int):
    return lambda session, calendar, change: CalendarYearOut().dump(
        {**calendar_store.year_view(session, calendar, year), "change": change})


def _day_answer(day):
    return lambda session, calendar, change: CalendarDayChangeOut().dump(
        {**calendar_store.day_view(session, calendar, day), "change": change})
