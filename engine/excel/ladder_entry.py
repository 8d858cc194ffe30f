"""Where an imported ledger's overdue rows enter the escalation ladder (导入后的督办起点).

An office's old ledger has rows whose deadlines passed long ago. Each imported problem gets a
`ladder_from`, the moment from which the ladder counts (engine/escalation/ladder.py): every
rung that fell due at or before it collapses into one firing, the highest, at that moment;
the rungs below are passed over. The office chooses that moment when it confirms:

- now (the default): `ladder_from` is the moment the row is registered; the next sweep fires
  one rung per overdue problem, the one that fits how late it is today;
- a grace date G (宽限日期, a day after today and at most a year ahead): `ladder_from` is the
  start of G (00:00 Asia/Shanghai). Nothing fires before G; at G each problem enters at the
  rung that fits how late it is on G (counted from its deadline, as on any day), once, and
  the rungs after G fire at their own moments. A row whose deadline is still ahead on G
  meets the ladder as any problem does.

The dry run reports what the choice would fire: how many rows are overdue at `ladder_from`
and how many enter at each rung.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from .. import clock
from ..calendar import WorkingCalendar
from ..errors import Invalid
from ..escalation.ladder import entry_rung, start_of
from ..escalation.rules import Ladder
from ..models import Problem, ProblemStatus
from ..text import normal_code
from .importing import Plan
from .status import CLOSED

FIELD = "ladder_from"
FURTHEST = timedelta(days=366)


def grace_start(value, today: date) -> datetime | None:
    """The start of a grace date given as a date or "YYYY-MM-DD" (None or "" : now); Invalid
    naming `ladder_from` for anything else, today or earlier, or more than a year ahead."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime) or not isinstance(value, (date, str)):
        raise Invalid("ladder_from must be a date (YYYY-MM-DD)", {FIELD: ["Not a valid date."]})
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise Invalid("ladder_from must be a date (YYYY-MM-DD)", {FIELD: ["Not a valid date."]}) from None
    if value <= today:
        raise Invalid("the grace date must be after today; without it the ladder counts from now",
                      {FIELD: [f"must be after {today.isoformat()}"]})
    if value - today > FURTHEST:
        raise Invalid("the grace date must be within a year", {FIELD: [f"must be by {(today + FURTHEST).isoformat()}"]})
    return start_of(value)


def report(plan: Plan, ladder: Ladder, calendar: WorkingCalendar, ladder_from: datetime | None,
           codes: set[str] | None = None) -> dict:
    """What the rows of `plan` (those of `codes`, if given) would fire on entering the ladder
    at `ladder_from` (None: now): `overdue` rows, per rung (`rungs`, highest level first) how
    many enter there, and each entering row with the rungs it passes over."""
    moment = ladder_from or clock.now()
    day = moment.astimezone(clock.SHANGHAI).date()
    rows, overdue, counts = [], 0, {}
    for item in plan.problems:
        if item.deadline is None or (codes is not None and normal_code(item.code) not in codes):
            continue
        if item.state == CLOSED:
            continue  # a closed row never meets the ladder
        if item.deadline < day:
            overdue += 1
        probe = Problem(deadline=item.deadline, status=ProblemStatus.REGISTERED, ladder_from=moment)
        due = entry_rung(probe, ladder, calendar)
        if due is None:
            continue
        rule = due.rule
        rows.append({"row": item.row, "code": item.code, "level": rule["level"], "rule": rule["code"],
                     "name": rule["name"], "passed_over": [p.rule["name"] for p in
                                                           sorted(due.passed_over, key=lambda p: p.rule["level"])]})
        counts.setdefault((rule["level"], rule["code"], rule["name"]), 0)
        counts[(rule["level"], rule["code"], rule["name"])] += 1
    return {"ladder_from": ladder_from.isoformat() if ladder_from else None,
            "grace_date": day.isoformat() if ladder_from else None, "at": moment.isoformat(), "overdue": overdue,
            "rungs": [{"level": level, "rule": code, "name": name, "count": count}
                      for (level, code, name), count in sorted(counts.items(), key=lambda kv: -kv[0][0])],
            "rows": rows}
