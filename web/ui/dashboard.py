"""督办看板: totals and traffic lights, problems by region, lead unit, source and batch (ECharts,
with the figures as tables beneath), the ladder's latest firings by level, the overdue
problems, what the ladder will fire in the next ten working days, the rungs held for want of a Party
or government head (组织缺口), interviews (约谈) and
accountability cases (问责). For the rectification office, the discipline office and leaders;
narrowed to one region and the regions below it with `?region=<id>`."""
from __future__ import annotations

import re

from flask import abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine import clock, dashboard
from engine.escalation import gaps as organisation_gaps
from engine.errors import NotFound
from engine.models import InstanceStatus, Light, ProblemSource, Role
from engine.text import ID_MAX

from .labels import LEVEL_TITLES, label
from .timeline import SIDE_LABELS
from .layout import LIGHT_LABELS, OVERSIGHT, current_user, duban, local_time, page_blueprint

bp = page_blueprint("dashboard", __name__)

FORECAST_DAYS = 10
FORECAST_LINES = 100  # the first of them by moment; the rest is in GET /api/escalations/forecast
BREAKDOWN_TITLES = {"region": _l("按区域"), "unit": _l("按牵头单位"), "source": _l("按问题来源"), "batch": _l("按批次")}
STACK_LABELS = {**LIGHT_LABELS, Light.CLOSED: _l("已销号")}
INSTANCE_LABELS = {InstanceStatus.RUNNING: _l("进行中"), InstanceStatus.COMPLETED: _l("已结束"),
                   InstanceStatus.ERROR: _l("出错"), InstanceStatus.CANCELLED: _l("已终止")}


def whole_number(name: str, choices=None) -> int | None:
    """A query argument that must be a whole number (one of `choices`, if given); 400 naming it."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    if not re.fullmatch(r"\d{1,10}", text) or not 1 <= int(text) <= ID_MAX or (
            choices is not None and int(text) not in choices):
        allowed = "、".join(str(c) for c in choices) if choices is not None else _("正整数")
        abort(400, _("参数 %(name)s 无效：应为 %(allowed)s。", name=name, allowed=allowed))
    return int(text)


@bp.get("/dashboard")
def overview():
    app, user = duban(), current_user()
    if not any(role in OVERSIGHT for role in user.roles):
        app.deny(user.id, "read the dashboard", "dashboard", None)
    region_id = whole_number("region")
    level = whole_number("level", dashboard.LEVELS)
    reads_cases = any(role in (Role.ADMIN, Role.DISCIPLINE) for role in user.roles)

    partial = request.headers.get("HX-Request") and request.headers.get("HX-Target") == "escalation-list"

    with app.db.reading() as db:
        try:
            where = dashboard.scope(db, region_id, app.actor(db, user.id))
        except NotFound:
            abort(404, _("没有这个区域（region=%(id)s）。", id=region_id))
        firings = dashboard.escalations(db, where, level)
        levels = dashboard.escalation_levels(db, where)
        if partial:
            return render_template("dashboard/_escalations.html", firings=firings, levels=levels, level=level,
                                   region_id=region_id, level_names=LEVEL_TITLES)
    # as GET /api/escalations/forecast, the first lines within the scope: for the office and the discipline office
    upcoming = app.forecast(FORECAST_DAYS, FORECAST_LINES, where.narrow) if reads_cases else []

    with app.db.reading() as db:
        codes = dashboard.scoped_ids(db, where, (firing.problem_code for firing in upcoming))
        breakdowns = dashboard.breakdowns(db, where)
        for row in breakdowns["source"]:  # the engine names sources in Chinese
            row.name = label(ProblemSource(row.key))
        links = _links(breakdowns, region_id)
        return render_template(
            "dashboard/overview.html", region=where.region, region_id=region_id, regions=dashboard.regions(db),
            totals=dashboard.totals(db, where), breakdowns=breakdowns, links=links,
            charts=_charts(breakdowns, links), bar_name=_bar_name,
            firings=firings, levels=levels, level=level,
            overdue=dashboard.overdue(db, where, app.current_calendar(db)),
            forecast=[(firing, codes[firing.problem_code]) for firing in upcoming if firing.problem_code in codes],
            interviews=dashboard.interviews(db, where),
            interview_counts=dashboard.process_counts(db, where, dashboard.INTERVIEW_PROCESS),
            reads_cases=reads_cases,
            open_incidents=dashboard.open_incidents(db) if Role.ADMIN in user.roles else None,
            cases=dashboard.accountability_cases(db, where) if reads_cases else [],
            gaps=organisation_gaps.open_gaps(db, set(where.region_ids) if where.region_ids is not None else None)
            if reads_cases else [], side_labels=SIDE_LABELS, org_links=Role.ADMIN in user.roles,
            case_counts=dashboard.accountability_counts(db, where) if reads_cases else {},
            forecast_days=FORECAST_DAYS, forecast_more=len(upcoming) >= FORECAST_LINES,
            stack=dashboard.STACK, stack_labels=STACK_LABELS, titles=BREAKDOWN_TITLES,
            level_names=LEVEL_TITLES, instance_labels=INSTANCE_LABELS, now_local=local_time(clock.now()))


# the ledger's filter for each breakdown: the unit breakdown counts lead units only
LEDGER_ARGUMENTS = {"region": "region", "unit": "lead_unit", "source": "source", "batch": "batch"}


def _bar_name(row: dashboard.Row) -> str:
    return _("%(name)s（本级）", name=row.name) if row.own else row.name


def _links(breakdowns: dict[str, list[dashboard.Row]], region_id: int | None) -> dict[str, list[str | None]]:
    """For each bar, the ledger (整改台账) filtered to its problems; none for a region's own
    problems (the ledger's region filter takes the regions below it too)."""
    found = {}
    for name, rows in breakdowns.items():
        found[name] = []
        for row in rows:
            if row.own:
                found[name].append(None)
                continue
            args = {"region": region_id} if region_id and name != "region" else {}
            args[LEDGER_ARGUMENTS[name]] = row.key
            found[name].append(url_for("ledger.problem_list", **args))
    return found


def _charts(breakdowns: dict[str, list[dashboard.Row]], links: dict[str, list[str | None]]) -> dict:
    """What dashboard.js draws: for each breakdown, its bars, one series per light, and where
    a click on a bar leads."""
    return {
        "labels": {light.value: str(STACK_LABELS[light]) for light in dashboard.STACK},
        "charts": {name: {"title": str(BREAKDOWN_TITLES[name]),
                          "categories": [_bar_name(row) for row in rows], "links": links[name],
                          "series": {light.value: [row.counts[light.value] for row in rows]
                                     for light in dashboard.STACK}}
                   for name, rows in breakdowns.items()},
    }
