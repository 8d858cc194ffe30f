"""节假日安排: a year of the working-day calendar as twelve month grids (holidays, make-up
workdays, weekends; which days chinese_calendar gives and which an administrator entered;
whether the year is still provisional), with the forms that enter a year's arrangement,
withdraw it, and set or remove a single day."""
from __future__ import annotations

import calendar as month_calendar
import re
from datetime import date, timedelta

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine import calendar_store, clock
from engine.calendar import ADMINISTRATOR, CHINESE_CALENDAR, WEEKDAYS
from engine.errors import Invalid, NotFound

from ..layout import current_user, duban
from . import bp

SOURCE_LABELS = {CHINESE_CALENDAR: _l("国务院安排（chinese_calendar）"), ADMINISTRATOR: _l("管理员录入"),
                 WEEKDAYS: _l("暂按周一至周五")}
# chinese_calendar names its holidays in English; the page says them as the State Council does
HOLIDAY_NAMES = {"New Year's Day": _l("元旦"), "Spring Festival": _l("春节"), "Tomb-sweeping Day": _l("清明节"),
                 "Labour Day": _l("劳动节"), "Dragon Boat Festival": _l("端午节"), "National Day": _l("国庆节"),
                 "Mid-autumn Festival": _l("中秋节"), "Anti-Fascist 70th Day": _l("抗战胜利70周年纪念日")}
WEEKDAY_NAMES = (_l("一"), _l("二"), _l("三"), _l("四"), _l("五"), _l("六"), _l("日"))  # a month grid's heads
DAY_NAMES = (_l("周一"), _l("周二"), _l("周三"), _l("周四"), _l("周五"), _l("周六"), _l("周日"))
OFF_WORDS = {"休", "放假", "休息", "off", "false", "0"}
ON_WORDS = {"班", "上班", "调休上班", "work", "true", "1"}
_LINE = re.compile(r"^(\S+?)(?:\s*(?:~|～|至|\.\.)\s*(\S+))?\s+(\S+)(?:\s+(.+))?$")
MAX_RANGE = 31
CHANGE_KEY = "calendar_change"


@bp.get("/calendar")
def calendar():
    return _render(_year_argument())


@bp.post("/calendar/years/<int:year>")
def calendar_declare(year: int):
    _known_year(year)
    text = request.form.get("days", "")
    note = request.form.get("note", "").strip() or None
    form = {"days": text, "note": note or ""}
    try:
        rows, lines = parse_arrangement(text, year)
    except Invalid as failure:
        return _render(year, failure.errors, form, status=400)
    try:
        change = duban().declare_calendar_year(current_user().id, year, {"days": rows, "note": note})
    except Invalid as failure:
        return _render(year, _by_line(failure.errors, lines), form, status=400)
    _remember(change, _("已录入 %(year)s 年节假日安排（%(n)s 天）。", year=year, n=len(rows)))
    return redirect(url_for("admin.calendar", year=year))


@bp.post("/calendar/years/<int:year>/withdraw")
def calendar_withdraw(year: int):
    _known_year(year)
    try:
        change = duban().withdraw_calendar_year(current_user().id, year)
    except NotFound:
        abort(404, _("%(year)s 年没有录入过节假日安排，无可撤回。", year=year))
    _remember(change, _("已撤回 %(year)s 年录入的节假日安排。", year=year))
    return redirect(url_for("admin.calendar", year=year))


@bp.post("/calendar/days")
def calendar_set_day():
    text = request.form.get("date", "").strip()
    working = request.form.get("working", "")
    note = request.form.get("note", "").strip()
    form = {"date": text, "working": working, "day_note": note}
    errors: dict[str, list[str]] = {}
    day = _parse_date(text, errors)
    if working not in ("0", "1"):
        errors["working"] = [_("请选择放假或上班。")]
    if not note:
        errors["day_note"] = [_("请填写调整原因（如：春节调休上班、地方防汛放假）。")]
    elif len(note) > 100:
        errors["day_note"] = [_("原因不超过100字。")]
    year = day.year if day else _year_argument(request.form.get("year"))
    if errors:
        return _render(year, errors, form, status=400)
    try:
        change = duban().set_calendar_day(current_user().id, day, {"working": working == "1", "note": note})
    except Invalid as failure:
        return _render(year, {"day_note" if k == "note" else k: v for k, v in failure.errors.items()}, form,
                       status=400)
    state = _("上班") if working == "1" else _("放假")
    _remember(change, _("已将 %(day)s 设为%(state)s（%(note)s）。", day=day.isoformat(), state=state, note=note))
    return redirect(url_for("admin.calendar", year=day.year) + "#overrides")


@bp.post("/calendar/days/<day>/remove")
def calendar_remove_day(day: str):
    errors: dict[str, list[str]] = {}
    parsed = _parse_date(day, errors)
    if parsed is None:
        abort(400, errors["date"][0])
    try:
        change = duban().remove_calendar_day(current_user().id, parsed)
    except NotFound:
        abort(404, _("%(day)s 没有管理员录入的调整。", day=parsed.isoformat()))
    _remember(change, _("已删除 %(day)s 的调整，该日恢复按默认安排计算。", day=parsed.isoformat()))
    return redirect(url_for("admin.calendar", year=parsed.year) + "#overrides")


# -- the arrangement as typed ----------------------------------------------------------------

def parse_arrangement(text: str, year: int) -> tuple[list[dict], list[int]]:
    """One line per day or range: `2027-02-08~2027-02-12 休 春节`, `2027-02-20 班 调休上班`.
    Returns the days as the engine takes them, and for each the line it came from; Invalid
    names the line at fault."""
    rows: list[dict] = []
    lines: list[int] = []
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            errors.append(_("第 %(n)s 行：应为“日期 休/班 说明”，如 %(year)s-10-01 休 国庆节。", n=number, year=year))
            continue
        first, last, state, note = match.groups()
        try:
            start = date.fromisoformat(first)
            end = date.fromisoformat(last) if last else start
        except ValueError:
            errors.append(_("第 %(n)s 行：日期无效（应为 YYYY-MM-DD）：%(text)s", n=number, text=line[:40]))
            continue
        if state.lower() in OFF_WORDS:
            working = False
        elif state.lower() in ON_WORDS:
            working = True
        else:
            errors.append(_("第 %(n)s 行：“%(state)s”应为“休”或“班”。", n=number, state=state[:20]))
            continue
        if end < start or (end - start).days >= MAX_RANGE:
            errors.append(_("第 %(n)s 行：日期区间应从前到后，且不超过 %(max)s 天。", n=number, max=MAX_RANGE))
            continue
        for offset in range((end - start).days + 1):
            rows.append({"date": (start + timedelta(days=offset)).isoformat(), "working": working,
                         "note": note.strip() if note else None})
            lines.append(number)
    if not errors and not rows:
        errors.append(_("请逐行填写该年的放假日期和调休上班日期。"))
    if errors:
        raise Invalid("the arrangement has errors", {"days": errors})
    return rows, lines


def arrangement_text(days: list[dict]) -> str:
    """The administrator's days of a year as lines of the form above, runs of days folded."""
    entered = [d for d in days if d["source"] == ADMINISTRATOR]
    lines, run = [], []
    for day in entered + [None]:
        if run and (day is None or day["date"] != run[-1]["date"] + timedelta(days=1)
                    or day["working"] != run[0]["working"] or day["name"] != run[0]["name"]):
            first, last = run[0]["date"], run[-1]["date"]
            span = first.isoformat() if first == last else f"{first.isoformat()}~{last.isoformat()}"
            lines.append(" ".join(filter(None, [span, "班" if run[0]["working"] else "休", run[0]["name"]])))
            run = []
        if day is not None:
            run.append(day)
    return "\n".join(lines)


def _by_line(errors: dict[str, list[str]], lines: list[int]) -> dict[str, list[str]]:
    """The engine's "days.3.date" as "第 5 行：…"."""
    placed: dict[str, list[str]] = {}
    for key, messages in errors.items():
        parts = key.split(".")
        if parts[0] == "days" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(lines):
            prefix = _("第 %(n)s 行：", n=lines[int(parts[1])])
            placed.setdefault("days", []).extend(prefix + message for message in messages)
        else:
            placed.setdefault(key, []).extend(messages)
    return placed


# -- the page --------------------------------------------------------------------------------

def _render(year: int, errors: dict | None = None, form: dict | None = None, status: int = 200):
    view = duban().calendar_year(year)
    for day in view["days"]:
        if day["source"] == CHINESE_CALENDAR and day["name"] in HOLIDAY_NAMES:
            day["name"] = str(HOLIDAY_NAMES[day["name"]])
    plain_source = CHINESE_CALENDAR if view["known_to_chinese_calendar"] else WEEKDAYS
    listed = {d["date"]: d for d in view["days"]}
    months = [_month(year, month, listed, plain_source, view["provisional"]) for month in range(1, 13)]
    overrides = [d for d in view["days"] if d["source"] == ADMINISTRATOR]
    form = form or {}
    form.setdefault("days", arrangement_text(view["days"]))
    change = session.pop(CHANGE_KEY, None)
    if change and change.get("year") != year:
        change = None
    return render_template(
        "admin/calendar.html", view=view, year=year, months=months, overrides=overrides,
        holidays=[d for d in view["days"] if not d["working"]], makeups=[d for d in view["days"] if d["working"]],
        errors=errors or {}, form=form, change=change, source_labels=SOURCE_LABELS, weekday_names=WEEKDAY_NAMES, day_names=DAY_NAMES,
        first_year=calendar_store.FIRST_YEAR, last_year=calendar_store.LAST_YEAR,
        this_year=clock.today().year, today=clock.today()), status


def _month(year: int, month: int, listed: dict, plain_source: str, provisional: bool) -> dict:
    weeks = []
    for week in month_calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
        cells = []
        for day in week:
            if day.month != month:
                cells.append(None)
                continue
            entry = listed.get(day)
            weekend = day.weekday() >= 5
            working = entry["working"] if entry else not weekend
            kind = ("makeup" if weekend else "workday") if working else ("weekend" if weekend and not entry else "holiday")
            cells.append({"date": day, "working": working, "kind": kind, "name": entry["name"] if entry else None,
                          "source": entry["source"] if entry else plain_source,
                          "provisional": provisional})
        weeks.append(cells)
    return {"month": month, "weeks": weeks,
            "working_days": sum(1 for week in weeks for cell in week if cell and cell["working"])}


def _year_argument(text: str | None = None) -> int:
    text = request.args.get("year") if text is None else text
    if text is None or text == "":
        return clock.today().year
    if not re.fullmatch(r"\d{1,4}", text.strip()):
        abort(400, _("年份应为四位数字：%(text)s", text=text[:20]))
    return _known_year(int(text))


def _known_year(year: int) -> int:
    if not calendar_store.FIRST_YEAR <= year <= calendar_store.LAST_YEAR:
        abort(404, _("日历只包括 %(first)s 至 %(last)s 年。", first=calendar_store.FIRST_YEAR,
                     last=calendar_store.LAST_YEAR))
    return year


def _parse_date(text: str, errors: dict) -> date | None:
    try:
        day = date.fromisoformat(text)
    except (TypeError, ValueError):
        errors["date"] = [_("日期无效（应为 YYYY-MM-DD）：%(text)s", text=(text or "")[:20])]
        return None
    if not calendar_store.FIRST_YEAR <= day.year <= calendar_store.LAST_YEAR:
        errors["date"] = [_("日期应在 %(first)s 至 %(last)s 年之间。", first=calendar_store.FIRST_YEAR,
                            last=calendar_store.LAST_YEAR)]
        return None
    return day


def _remember(change: dict, message: str) -> None:
    """Flash what was done and keep what it recomputed for the next page."""
    flash(message, "success")
    session[CHANGE_KEY] = {"year": change["year"], "days_changed": change["days_changed"],
                           "tasks_rescheduled": change["tasks_rescheduled"],
                           "lights_changed": change["lights_changed"]}
