"""The working-day calendar in the database: seeded from config/calendar.toml, changed by
administrators, and loaded into every process's `WorkingCalendar`.

Several processes (web workers on several hosts, the scheduler) each hold a calendar in
memory. Each of them compares, at the start of every action that counts working days, the
revision it loaded with the database's (one query on a table of a few dozen rows: the count
of `calendar_year` rows and the sum of their revisions, which grows with every change
because every change bumps its year's revision and no year row is ever deleted) and
reloads the overrides when they differ. A change committed by one process is therefore
used by every other process from its next action on.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import clock, ledger, security_log
from .calendar import ADMINISTRATOR, CHINESE_CALENDAR, WEEKDAYS, Arrangement, WorkingCalendar
from .errors import Invalid, NotFound, field_errors
from .ledger import Action
from .models import CalendarOverride, CalendarYear, User
from .settings import CONFIG_DIR

DEFAULT_FILE = CONFIG_DIR / "calendar.toml"
FIRST_YEAR, LAST_YEAR = 2000, 2100


# -- validation ------------------------------------------------------------------------------

class _StrictBoolean(fields.Boolean):
    """true or false, not "yes", 1 or "true"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class _Day(Schema):
    class Meta:
        unknown = RAISE

    date = fields.Date(required=True)
    working = _StrictBoolean(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))


class _DayChange(Schema):
    class Meta:
        unknown = RAISE

    working = _StrictBoolean(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))


@dataclass(frozen=True)
class DayEntry:
    day: date
    working: bool
    note: str | None


def check_year(year) -> int:
    if isinstance(year, bool) or not isinstance(year, int) or not FIRST_YEAR <= year <= LAST_YEAR:
        raise Invalid(f"a calendar year lies between {FIRST_YEAR} and {LAST_YEAR}",
                      {"year": [f"{year!r} is not a year between {FIRST_YEAR} and {LAST_YEAR}"]})
    return year


def validate_year(year: int, rows, allow_empty: bool = False) -> list[DayEntry]:
    """A year's days, checked row by row; Invalid names the row ("days.3.date")."""
    check_year(year)
    if not isinstance(rows, list):
        raise Invalid("send the year's days as a list of {date, working, note}",
                      {"days": ["Not a valid list."]})
    if not rows and not allow_empty:
        raise Invalid("a year's arrangement lists its holidays and make-up workdays",
                      {"days": ["the list is empty; to withdraw a year's arrangement, DELETE it"]})
    errors: dict[str, list[str]] = {}
    entries: list[DayEntry] = []
    first_row: dict[date, int] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            errors[f"days.{index}"] = ["Not a valid object: {\"date\", \"working\", \"note\"}."]
            continue
        if isinstance(row.get("date"), datetime):
            errors[f"days.{index}.date"] = ["a date without a time of day"]
            continue
        try:
            clean = _Day().load(row)
        except ValidationError as error:
            errors.update({f"days.{index}.{name}": messages for name, messages in field_errors(error.messages).items()})
            continue
        day = clean["date"]
        if day.year != year:
            errors[f"days.{index}.date"] = [f"{day.isoformat()} does not lie in {year}"]
        elif day in first_row:
            errors[f"days.{index}.date"] = [f"{day.isoformat()} is given twice (also in row {first_row[day]})"]
        else:
            first_row[day] = index
            entries.append(DayEntry(day, clean["working"], clean["note"]))
    if errors:
        raise Invalid(f"the {year} calendar has errors", errors)
    return sorted(entries, key=lambda entry: entry.day)


def declaration(body) -> tuple[list, str | None]:
    """A year's arrangement as sent: a list of days, or {"days": [...], "note": "..."}."""
    if isinstance(body, list):
        return body, None
    if not isinstance(body, dict):
        raise Invalid("send the year's days as a JSON list of {date, working, note}, or {\"days\": [...], \"note\": ...}",
                      {"days": ["Missing data for required field."]})
    unknown = sorted(set(body) - {"days", "note"})
    if unknown:
        raise Invalid("the arrangement has unknown fields", {name: ["Unknown field."] for name in unknown})
    if "days" not in body:
        raise Invalid("the arrangement lists its days", {"days": ["Missing data for required field."]})
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 200):
        raise Invalid("the note is a text of at most 200 characters", {"note": ["Not a valid string of at most 200 characters."]})
    return body["days"], note


def validate_day_change(data) -> tuple[bool, str | None]:
    if not isinstance(data, dict):
        raise Invalid("send {\"working\": true|false, \"note\": ...}", {"working": ["Missing data for required field."]})
    try:
        clean = _DayChange().load(data)
    except ValidationError as error:
        raise Invalid("the day has errors", field_errors(error.messages)) from None
    return clean["working"], clean["note"]


def parse_day(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except (TypeError, ValueError):
        raise Invalid(f"{text!r} is not a date (YYYY-MM-DD)", {"date": ["Not a valid date."]}) from None
    check_year(day.year)
    return day


# -- the default file ------------------------------------------------------------------------

@dataclass(frozen=True)
class SeedYear:
    year: int
    declared: bool
    note: str | None
    days: list[DayEntry]


@lru_cache(maxsize=4)
def load_file(path: Path = DEFAULT_FILE) -> tuple[SeedYear, ...]:
    """The years of config/calendar.toml, checked (read once per process)."""
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    unknown = set(data) - {"years"}
    if unknown:
        raise Invalid(f"{path.name}: unknown table {', '.join(sorted(unknown))}",
                      {name: ["unknown table"] for name in sorted(unknown)})
    seeds, seen = [], set()
    for index, entry in enumerate(data.get("years", [])):
        where = f"years.{index}"
        if not isinstance(entry, dict) or set(entry) - {"year", "declared", "note", "days"}:
            raise Invalid(f"{path.name}: {where} has unknown keys", {where: ["year, declared, note, days only"]})
        try:
            year = check_year(entry.get("year"))
            days = validate_year(year, entry.get("days", []), allow_empty=True)
        except Invalid as error:
            raise Invalid(f"{path.name}: {error.message}",
                          {f"{where}.{key}": messages for key, messages in error.errors.items()}) from None
        if year in seen:
            raise Invalid(f"{path.name}: {year} is listed twice", {f"{where}.year": ["listed twice"]})
        seen.add(year)
        declared = entry.get("declared", True)
        if not isinstance(declared, bool):
            raise Invalid(f"{path.name}: {where}.declared is true or false", {f"{where}.declared": ["Not a valid boolean."]})
        seeds.append(SeedYear(year, declared, entry.get("note"), days))
    return tuple(seeds)


def seed(session: Session, path: Path = DEFAULT_FILE) -> list[int]:
    """Load the years of the file that the database has no entry for (in the caller's
    transaction; a year seeded meanwhile by another process is left alone). The years seeded."""
    seeds = load_file(path)
    if not seeds:
        return []
    present = set(session.scalars(select(CalendarYear.year).where(CalendarYear.year.in_([s.year for s in seeds]))))
    done = []
    for entry in seeds:
        if entry.year in present:
            continue
        try:
            with session.begin_nested():
                _replace(session, entry.year, entry.days, entry.declared, entry.note, None,
                         source=f"config/{path.name}")
            done.append(entry.year)
        except IntegrityError:
            continue  # another process seeded it first
    return done


def missing_seeds(session: Session, path: Path = DEFAULT_FILE) -> bool:
    seeds = load_file(path)
    if not seeds:
        return False
    present = session.scalar(select(func.count()).select_from(CalendarYear)
                             .where(CalendarYear.year.in_([s.year for s in seeds])))
    return present < len(seeds)


# -- loading ---------------------------------------------------------------------------------

def revision(session: Session) -> tuple[int, int]:
    """Changes whenever anything in the calendar tables changes (see the module's doc)."""
    count, total = session.execute(select(func.count(CalendarYear.year),
                                          func.coalesce(func.sum(CalendarYear.revision), 0))).one()
    return int(count), int(total)


def load(session: Session) -> Arrangement:
    rev = revision(session)
    overrides = {day: working for day, working in session.execute(select(CalendarOverride.day, CalendarOverride.working))}
    declared = frozenset(session.scalars(select(CalendarYear.year).where(CalendarYear.declared.is_(True))))
    return Arrangement(overrides, declared, rev)


def sync(session: Session, calendar: WorkingCalendar) -> bool:
    """Make `calendar` show what the database holds; whether it had to reload."""
    if calendar.revision == revision(session):
        return False
    calendar.adopt(load(session))
    return True


def build(session: Session) -> WorkingCalendar:
    """A private calendar from what this transaction sees (its own uncommitted changes too)."""
    calendar = WorkingCalendar()
    calendar.adopt(load(session))
    return calendar


# -- changing --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """What a calendar action did: for the ledger and the answer."""

    year: int
    declared: bool
    before: dict[date, bool]
    after: dict[date, bool]

    @property
    def moved(self) -> list[date]:
        """The days whose status changed, by the override's own doing."""
        return sorted(d for d in self.before.keys() | self.after.keys() if self.before.get(d) != self.after.get(d))


def declare_year(session: Session, year: int, body, actor: User) -> Change:
    """Replace `year`'s overrides by the days of `body` and mark the year declared."""
    rows, note = declaration(body)
    days = validate_year(year, rows)
    return _replace(session, year, days, True, note, actor, source="api")


def withdraw_year(session: Session, year: int, actor: User) -> Change:
    """Remove the year's overrides and its declaration (the year is provisional again if
    chinese_calendar does not know it)."""
    check_year(year)
    row = _year_row(session, year, lock=True)
    if row is None or (not row.declared and not _overrides_of(session, year)):
        raise NotFound(f"nothing was entered for {year}")
    return _replace(session, year, [], False, None, actor, source="api", action="withdrawn")


def set_day(session: Session, day: date, working: bool, note: str | None, actor: User) -> Change:
    row = _year_row(session, day.year, lock=True) or _new_year_row(session, day.year, actor)
    before = _overrides_of(session, day.year)
    existing = session.scalar(select(CalendarOverride).where(CalendarOverride.day == day))
    if existing is None:
        session.add(CalendarOverride(day=day, year=day.year, working=working, note=note, entered_by_id=actor.id,
                                     entered_at=clock.now()))
    else:
        existing.working, existing.note, existing.entered_by_id, existing.entered_at = (
            working, note, actor.id, clock.now())
    _bump(row, actor)
    session.flush()
    change = Change(day.year, row.declared, before, _overrides_of(session, day.year))
    _record(session, change, actor, {"kind": "day_set", "date": day.isoformat(), "working": working, "note": note})
    return change


def remove_day(session: Session, day: date, actor: User) -> Change:
    existing = session.scalar(select(CalendarOverride).where(CalendarOverride.day == day))
    if existing is None:
        raise NotFound(f"{day.isoformat()} has no override", {"date": ["no override on this day"]})
    row = _year_row(session, day.year, lock=True)
    before = _overrides_of(session, day.year)
    session.delete(existing)
    _bump(row, actor)
    session.flush()
    change = Change(day.year, row.declared, before, _overrides_of(session, day.year))
    _record(session, change, actor, {"kind": "day_removed", "date": day.isoformat()})
    return change


def _replace(session: Session, year: int, days: list[DayEntry], declared: bool, note: str | None,
             actor: User | None, source: str, action: str | None = None) -> Change:
    row = _year_row(session, year, lock=True) or _new_year_row(session, year, actor)
    before = _overrides_of(session, year)
    session.execute(delete(CalendarOverride).where(CalendarOverride.year == year))
    now = clock.now()
    session.add_all([CalendarOverride(day=d.day, year=year, working=d.working, note=d.note,
                                      entered_by_id=actor.id if actor else None, entered_at=now) for d in days])
    row.declared, row.note = declared, note
    row.declared_by_id, row.declared_at = (actor.id if actor else None, now) if declared else (None, None)
    _bump(row, actor)
    session.flush()
    change = Change(year, declared, before, {d.day: d.working for d in days})
    _record(session, change, actor, {
        "kind": action or ("declared" if declared else "days_replaced"), "source": source, "note": note,
        "days": [{"date": d.day.isoformat(), "working": d.working, "note": d.note} for d in days]})
    return change


def _year_row(session: Session, year: int, lock: bool = False) -> CalendarYear | None:
    statement = select(CalendarYear).where(CalendarYear.year == year)
    return session.scalar(statement.with_for_update() if lock else statement)


def _new_year_row(session: Session, year: int, actor: User | None) -> CalendarYear:
    row = CalendarYear(year=year, declared=False, revision=0, changed_by_id=actor.id if actor else None,
                       changed_at=clock.now())
    session.add(row)
    session.flush()
    return row


def _bump(row: CalendarYear, actor: User | None) -> None:
    row.revision += 1
    row.changed_by_id, row.changed_at = (actor.id if actor else None), clock.now()


def _overrides_of(session: Session, year: int) -> dict[date, bool]:
    return {day: working for day, working in session.execute(
        select(CalendarOverride.day, CalendarOverride.working).where(CalendarOverride.year == year))}


def _record(session: Session, change: Change, actor: User | None, payload: dict) -> None:
    ledger.record(session, Action.CALENDAR_CHANGED, actor=actor, subject_type="calendar_year",
                  subject_id=change.year, payload={"year": change.year, "declared": change.declared,
                                                   "moved": [d.isoformat() for d in change.moved], **payload})
    security_log.record(session, security_log.Kind.CALENDAR_CHANGED, actor=actor, object=f"calendar:{change.year}",
                        details={"moved": [d.isoformat() for d in change.moved]})


# -- reading ---------------------------------------------------------------------------------

def year_view(session: Session, calendar: WorkingCalendar, year: int) -> dict:
    """Every day of `year` that is not the plain Monday-to-Friday pattern: holidays, make-up
    workdays and administrators' overrides, with who says so; and the year's standing."""
    check_year(year)
    row = _year_row(session, year)
    notes = {o.day: o for o in session.scalars(select(CalendarOverride).where(CalendarOverride.year == year))}
    listed = set(calendar.listed_days(year)) | set(notes)
    days = [_day_entry(calendar, day, notes.get(day)) for day in sorted(listed)]
    start, end = date(year, 1, 1), date(year, 12, 31)
    working = sum(1 for n in range((end - start).days + 1) if calendar.is_working_day(start + timedelta(days=n)))
    if row is not None and row.declared:
        source = ADMINISTRATOR
    else:
        source = CHINESE_CALENDAR if calendar.is_known_year(year) else WEEKDAYS
    return {
        "year": year, "source": source, "provisional": calendar.is_provisional(start),
        "known_to_chinese_calendar": calendar.is_known_year(year),
        "declared": bool(row and row.declared),
        "declared_by": row.declared_by.username if row and row.declared and row.declared_by else None,
        "declared_at": row.declared_at if row and row.declared else None,
        "note": row.note if row else None,
        "working_days": working, "days": days,
    }


def day_view(session: Session, calendar: WorkingCalendar, day: date) -> dict:
    return _day_entry(calendar, day, session.scalar(select(CalendarOverride).where(CalendarOverride.day == day)))


def _day_entry(calendar: WorkingCalendar, day: date, override: CalendarOverride | None) -> dict:
    return {
        "date": day, "weekday": day.isoweekday(), "working": calendar.is_working_day(day),
        "name": override.note if override and override.note else calendar.holiday_name(day),
        "source": calendar.source_of(day), "provisional": calendar.is_provisional(day),
        "entered_by": override.entered_by.username if override and override.entered_by else None,
        "entered_at": override.entered_at if override else None,
    }
