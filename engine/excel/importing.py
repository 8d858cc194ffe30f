"""Importing an office's ledger (导入台账): every row read and judged, a dry run first.

A dry run reports, row by row, what would be registered ("ok"), what is refused and why, and
which codes Duban already has ("duplicate"); and it lists the regions, units and officials
the good rows name and Duban does not know yet. A confirmed import creates those
(`create_named`) and registers the good rows one by one (`register`), in the transactions
engine/excel/batches.py gives them. The caller decides what a refused row means for a
confirmed import (Duban.import_ledger: nothing is imported unless the refused rows are
skipped explicitly).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Reason
from ..text import normal_code
from ..models import (DeadlineKind, ImportRun, Official, Problem, ProblemCategory, ProblemSource, Region,
                      RegionLevel, Unit, UnitKind)
from . import deadlines, status as row_status
from .. import clock
from .columns import REQUIRED, label
from .sheet import Row, Table

_SPLIT = re.compile(r"[、，,；;／/\n]+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_SOURCE_WORDS = [("回头看", ProblemSource.LOOK_BACK), ("警示片", ProblemSource.YANGTZE_FILM),
                 ("长江经济带", ProblemSource.YANGTZE_FILM), ("信访", ProblemSource.PETITION),
                 ("交办件", ProblemSource.PETITION), ("举报", ProblemSource.PETITION), ("自查", ProblemSource.SELF_CHECK),
                 ("中央", ProblemSource.CENTRAL), ("央督", ProblemSource.CENTRAL), ("省级", ProblemSource.PROVINCIAL),
                 ("省督", ProblemSource.PROVINCIAL), ("省", ProblemSource.PROVINCIAL)]
_CATEGORY_WORDS = [("大气", ProblemCategory.AIR), ("空气", ProblemCategory.AIR), ("扬尘", ProblemCategory.AIR),
                   ("废气", ProblemCategory.AIR), ("土壤", ProblemCategory.SOIL), ("固废", ProblemCategory.SOLID_WASTE),
                   ("固体废物", ProblemCategory.SOLID_WASTE), ("垃圾", ProblemCategory.SOLID_WASTE),
                   ("危废", ProblemCategory.SOLID_WASTE), ("噪声", ProblemCategory.NOISE),
                   ("噪音", ProblemCategory.NOISE), ("生态", ProblemCategory.ECOLOGY), ("水", ProblemCategory.WATER),
                   ("其他", ProblemCategory.OTHER), ("其它", ProblemCategory.OTHER)]
LIMITS = {"code": 40, "batch": 60, "title": 200}


# -- the report ----------------------------------------------------------------------------------

def why(column: str, code: str, message: str, /, **params) -> Reason:
    """A reason about one column of a row: `code` and `params` for the pages, the English
    message "<column>: <message>" for the API and the command line."""
    return Reason(code, f"{column}: {message}", {"column": column, **params})


@dataclass
class RowReport:
    row: int
    status: str                   # "ok", "refused" or "duplicate"
    code: str | None
    reasons: list[Reason] = field(default_factory=list)    # why the row is refused (or a duplicate)
    warnings: list[Reason] = field(default_factory=list)   # what was read in a way worth saying
    state: str | None = None      # the state the row takes (engine/excel/status.py), once judged
    closed_on: date | None = None

    def as_dict(self) -> dict:
        """`reasons` and `warnings` as English sentences; `details` the same as {severity, code,
        column, message, params} for a reader that words them itself."""
        details = [{"severity": severity, "code": r.code, "column": r.params.get("column"), "message": r.message,
                    "params": {k: v for k, v in r.params.items() if k != "column"}}
                   for severity, found in (("refusal", self.reasons), ("warning", self.warnings)) for r in found]
        return {"row": self.row, "status": self.status, "code": self.code, "state": self.state,
                "state_label": row_status.LABELS.get(self.state) if self.state else None,
                "closed_on": self.closed_on.isoformat() if self.closed_on else None,
                "reasons": [r.message for r in self.reasons], "warnings": [r.message for r in self.warnings],
                "details": details}


@dataclass
class NewRegion:
    name: str
    level: str
    parent: str | None


@dataclass
class NewUnit:
    name: str
    kind: str
    region: str


@dataclass
class NewOfficial:
    name: str
    unit: str | None = None
    title: str | None = None
    mobile: str | None = None


@dataclass
class Planned:
    """A good row, its people and units still by name."""

    row: int
    code: str
    title: str
    description: str
    source: ProblemSource
    batch: str
    category: ProblemCategory
    region: str
    lead_unit: str
    cooperating_units: list[str]
    responsible: str
    leading_official: str | None
    target: str | None
    measures: str | None
    deadline_kind: DeadlineKind
    deadline: date | None
    sites: list[str]
    state: str = row_status.NEW      # engine/excel/status.py
    closed_on: date | None = None


@dataclass
class Plan:
    sheet: str
    header_row: int
    columns: dict[str, str]
    ignored_columns: list[str]
    rows: list[RowReport] = field(default_factory=list)
    problems: list[Planned] = field(default_factory=list)
    new_regions: dict[str, NewRegion] = field(default_factory=dict)
    new_units: dict[str, NewUnit] = field(default_factory=dict)
    new_officials: dict[str, NewOfficial] = field(default_factory=dict)

    @property
    def refused(self) -> list[RowReport]:
        return [r for r in self.rows if r.status == "refused"]

    def registered_meanwhile(self, item: Planned) -> None:
        """A good row whose code someone else registered after the sheet was judged: reported
        as a duplicate saying so, not imported."""
        for report in self.rows:
            if report.row == item.row:
                report.status = "duplicate"
                report.reasons = [why(self.columns.get("code", label("code")), "registered_meanwhile",
                                      f"{item.code} was registered by someone else during the import; the row is "
                                      "not imported again", code=item.code)]

    def started_at_first_step(self, item: "Planned", definition, missing: str) -> None:
        """Say on the row that its process has no step for its state (the diagram was edited):
        it was imported at the process's first task instead."""
        for row in self.rows:
            if row.row == item.row:
                row.warnings.append(why("整改进展", "status_no_step",
                                        f"process {definition.key} v{definition.version} has no step {missing} for "
                                        f"the state {item.state}: the row starts at the process's first task",
                                        state=item.state, step=missing, process=definition.key,
                                        version=definition.version))

    def report(self, confirmed: bool = False, imported: list[str] | None = None, run: dict | None = None) -> dict:
        counts = {status: sum(1 for r in self.rows if r.status == status) for status in ("ok", "refused", "duplicate")}
        states = {state: sum(1 for r in self.rows if r.status == "ok" and r.state == state)
                  for state in row_status.STATES}
        return {"states": states,
            "sheet": self.sheet, "header_row": self.header_row, "columns": self.columns,
            "ignored_columns": self.ignored_columns, "confirmed": confirmed, "counts": counts,
            "imported": imported or [], "run": run, "rows": [r.as_dict() for r in self.rows],
            "new_regions": [asdict(r) for r in self.new_regions.values()],
            "new_units": [asdict(u) for u in self.new_units.values()],
            "new_officials": [asdict(o) for o in self.new_officials.values()],
        }


class _Refused(Exception):
    def __init__(self, reason: Reason):
        super().__init__(reason.message)
        self.reason = reason


# -- reading the rows ----------------------------------------------------------------------------

def analyse(session: Session, table: Table, progress: Callable[[int, int], None] | None = None,
            sheet_sha256: str | None = None) -> Plan:
    """Judge every row against the database; nothing is written. Given the sheet's digest,
    a code an earlier import run of the same sheet registered is reported as such."""
    plan = Plan(table.sheet, table.header_row, table.columns, table.unknown_columns)
    known = _Known(session, sheet_sha256)
    seen_codes: dict[str, int] = {}
    for done, row in enumerate(table.rows, 1):
        report, planned, wants = _judge(row, table, known, plan, seen_codes)
        plan.rows.append(report)
        if planned is not None:
            plan.problems.append(planned)
            for kind, name, spec in wants:
                target = getattr(plan, kind)
                if name not in target:
                    target[name] = spec
                elif kind == "new_officials" and target[name].unit is None and spec.unit is not None:
                    target[name] = spec  # the row that names their unit tells more
        if progress:
            progress(done, len(table.rows))
    return plan


class _Known:
    """What the database holds, looked up once per import."""

    def __init__(self, session: Session, sheet_sha256: str | None = None):
        self.regions = {r.name: r for r in session.scalars(select(Region))}
        self.units = {u.name: u for u in session.scalars(select(Unit))}
        self.officials: dict[str, list[Official]] = {}
        for official in session.scalars(select(Official)):
            self.officials.setdefault(official.name, []).append(official)
        self.codes = {normal_code(c) for c in session.scalars(select(Problem.code))}
        self.runs: dict[str, int] = {}  # code -> the import run of this sheet that registered it
        if sheet_sha256:
            for run_id, codes in session.execute(select(ImportRun.id, ImportRun.imported)
                                                 .where(ImportRun.sheet_sha256 == sheet_sha256)
                                                 .order_by(ImportRun.id)):
                self.runs.update((normal_code(c), run_id) for c in codes or [])
        roots = [r for r in self.regions.values() if r.parent_id is None and r.level == RegionLevel.CITY]
        self.only_city = roots[0].name if len(roots) == 1 else None


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _judge(row: Row, table: Table, known: _Known, plan: Plan, seen_codes: dict[str, int]):
    header = lambda f: table.columns.get(f, label(f))  # noqa: E731 - the sheet's own word for the column
    value = lambda f: _text(row.values.get(f))  # noqa: E731
    reasons: list[Reason] = []
    warnings: list[Reason] = []
    wants: list[tuple[str, str, object]] = []
    code = value("code") or None
    report = RowReport(row.number, "refused", code, reasons, warnings)

    for needed in REQUIRED:
        if needed not in table.columns:
            reasons.append(why(header(needed), "no_column", "the sheet has no such column"))
        elif not value(needed):
            reasons.append(why(header(needed), "missing", "missing"))
    if code:
        same = normal_code(code)  # ＮＬ-001, "NL-001 " and NL\u200b-001 are one code
        if same in known.codes:
            report.status = "duplicate"
            if same in known.runs:
                report.reasons = [why(header("code"), "imported_by_run", f"{code} was imported by run "
                                      f"#{known.runs[same]}", code=code, run=known.runs[same])]
            else:
                report.reasons = [why(header("code"), "registered", f"{code} is already registered; the row is not "
                                      "imported again", code=code)]
            return report, None, []
        if same in seen_codes:
            reasons.append(why(header("code"), "repeated", f"{code} is also in row {seen_codes[same]}", code=code,
                               row=seen_codes[same]))
        else:
            seen_codes[same] = row.number
        if len(code) > LIMITS["code"]:
            reasons.append(_too_long(header("code"), LIMITS["code"]))

    def attempt(fn, *args):
        try:
            return fn(*args)
        except _Refused as refusal:
            reasons.append(refusal.reason)
            return None

    source, batch = attempt(_source_and_batch, row, table, header) or (None, None)
    category = attempt(_category, value("category"), header("category"))
    deadline = None
    if value("deadline") or isinstance(row.values.get("deadline"), date):
        try:
            deadline = deadlines.parse(row.values.get("deadline"))
        except deadlines.DeadlineError as error:
            reasons.append(why(header("deadline"), "deadline", f"cannot read {value('deadline')!r}: {error}",
                               value=value("deadline")))
    region = None
    if value("region"):
        region = attempt(_region, value("region"), known, plan, wants, warnings, header("region"))
    lead_unit, cooperating = None, []
    if value("lead_unit"):
        names = _names(value("lead_unit"))
        if len(names) > 1:
            warnings.append(why(header("lead_unit"), "lead_first", f"{names[0]} leads; {'、'.join(names[1:])} cooperate",
                                lead=names[0], others="、".join(names[1:])))
        lead_unit = names[0]
        cooperating = names[1:]
    cooperating += [n for n in _names(value("cooperating_units")) if n != lead_unit and n not in cooperating]
    if region:
        for name in ([lead_unit] if lead_unit else []) + cooperating:
            attempt(_unit, name, region, known, plan, wants, header("lead_unit"))
    responsible = None
    if value("responsible"):
        people = [_person(text) for text in _names(value("responsible"))]
        if len(people) > 1:
            names = "、".join(p[0] for p in people)
            reasons.append(why(header("responsible"), "one_responsible",
                               f"name one responsible person (一名责任人), not {names}", names=names))
        else:
            responsible = attempt(_official, people[0], lead_unit, known, plan, wants, header("responsible"))
    leading = None
    if value("leading_official"):
        people = [_person(text) for text in _names(value("leading_official"))]
        if len(people) > 1:
            others = "、".join(p[0] for p in people[1:])
            warnings.append(why(header("leading_official"), "leading_first",
                                f"{people[0][0]} holds the problem; {others} not recorded",
                                first=people[0][0], others=others))
        leading = attempt(_official, people[0], None, known, plan, wants, header("leading_official"))
    description = value("description")
    title = value("title") or _title_from(description)
    if len(title) > LIMITS["title"]:
        reasons.append(_too_long(header("title"), LIMITS["title"]))
    if batch and len(batch) > LIMITS["batch"]:
        reasons.append(_too_long(header("batch"), LIMITS["batch"]))
    judged = row_status.judge(row.values, header, why, clock.today())
    reasons += judged.reasons
    warnings += judged.warnings
    if not reasons:
        report.state, report.closed_on = judged.state, judged.closed_on
    if reasons:
        return report, None, []
    report.status = "ok"
    planned = Planned(
        row=row.number, code=code, title=title, description=description, source=source, batch=batch,
        category=category, region=region, lead_unit=lead_unit, cooperating_units=cooperating,
        responsible=responsible, leading_official=leading, target=value("target") or None,
        measures=value("measures") or None, deadline_kind=deadline.kind, deadline=deadline.due,
        sites=_names(value("sites")), state=judged.state, closed_on=judged.closed_on)
    return report, planned, wants


def _too_long(column: str, longest: int, value: str | None = None) -> Reason:
    if value is None:
        return why(column, "too_long", f"longer than {longest} characters", max=longest)
    return why(column, "too_long", f"{value[:20]}… is longer than {longest} characters", max=longest,
               value=value[:20])


def _names(text: str) -> list[str]:
    return [part.strip() for part in _SPLIT.split(text or "") if part.strip()]


def _title_from(description: str) -> str:
    first = re.split(r"[。；;\n]", description, maxsplit=1)[0].strip()
    return first if len(first) <= 60 else first[:59] + "…"


def parse_source(text: str) -> ProblemSource | None:
    text = re.sub(r"\s+", "", text or "")
    if not text:
        return None
    try:
        return ProblemSource.parse(text)
    except ValueError:
        pass
    return next((source for word, source in _SOURCE_WORDS if word in text), None)


def _source_and_batch(row: Row, table: Table, header) -> tuple[ProblemSource, str]:
    combined = _text(row.values.get("source_batch"))
    source_text = _text(row.values.get("source"))
    batch = _text(row.values.get("batch"))
    if combined:
        parts = [p.strip() for p in re.split(r"[/／\n]+", combined) if p.strip()]
        source_text = source_text or parts[0]
        batch = batch or (" ".join(parts[1:]) if len(parts) > 1 else combined)
    column = header("source_batch") if "source_batch" in table.columns else header("source")
    if not source_text and not batch:
        raise _Refused(why(column, "missing", "missing"))
    source = parse_source(source_text) or parse_source(batch)
    if source is None:
        known = "、".join(s.label for s in ProblemSource)
        raise _Refused(why(column, "source", f"{source_text or batch!r} is not a source Duban knows ({known})",
                           value=source_text or batch, known=known))
    return source, batch or source_text


def _category(text: str, column: str) -> ProblemCategory:
    if not text:
        return ProblemCategory.OTHER
    try:
        return ProblemCategory.parse(text)
    except ValueError:
        pass
    found = next((category for word, category in _CATEGORY_WORDS if word in text), None)
    if found is None:
        known = "、".join(c.label for c in ProblemCategory)
        raise _Refused(why(column, "category", f"{text!r} is not a category ({known})", value=text, known=known))
    return found


def _level_of(name: str, parent_level: str | None) -> RegionLevel:
    if re.search(r"(镇|乡|街道|办事处)$", name):
        return RegionLevel.TOWNSHIP
    if re.search(r"(县|区|旗)$", name):
        return RegionLevel.COUNTY
    if name.endswith("市"):
        return RegionLevel.COUNTY if parent_level == RegionLevel.CITY else RegionLevel.CITY
    return RegionLevel.TOWNSHIP if parent_level == RegionLevel.COUNTY else RegionLevel.COUNTY


def _region(text: str, known: _Known, plan: Plan, wants: list, warnings: list, column: str) -> str:
    """The row's region by name; "南岭县/青石镇" and "南岭县青石镇" name a township in its county."""
    if re.search(r"[、，,；;]", text):
        first = re.split(r"[、，,；;]", text)[0].strip()
        warnings.append(why(column, "several_regions", f"several regions named; the problem is filed under {first}",
                            first=first))
        text = first
    path = [p.strip() for p in re.split(r"[/／>＞\-—]+", text) if p.strip()]
    if len(path) == 1 and path[0] not in known.regions:
        prefix = max((n for n in list(known.regions) + list(plan.new_regions) if path[0].startswith(n)
                      and len(n) < len(path[0])), key=len, default=None)
        if prefix:
            path = [prefix, path[0][len(prefix):]]
    parent = None
    for name in path:
        if len(name) > 100:
            raise _Refused(_too_long(column, 100, name))
        if name not in known.regions:
            parent_level = (known.regions[parent].level if parent in known.regions
                            else plan.new_regions[parent].level if parent in plan.new_regions
                            else next((s.level for k, n, s in wants if k == "new_regions" and n == parent), None))
            level = _level_of(name, parent_level)
            if parent is None and level == RegionLevel.COUNTY:
                parent = known.only_city
            wants.append(("new_regions", name, NewRegion(name, str(level), parent)))
        parent = name
    return path[-1]


def _unit_kind(name: str) -> UnitKind:
    if name.startswith("中共") or re.search(r"(党委|党工委|[县市区]委)$", name):
        return UnitKind.PARTY_COMMITTEE
    if "人民政府" in name or name.endswith("政府"):
        return UnitKind.GOVERNMENT
    if "纪委" in name or "监委" in name:
        return UnitKind.DISCIPLINE
    return UnitKind.DEPARTMENT


def _unit(name: str, region: str, known: _Known, plan: Plan, wants: list, column: str) -> None:
    if name in known.units:
        return
    if len(name) > 100:
        raise _Refused(_too_long(column, 100, name))
    regions = list(known.regions) + list(plan.new_regions) + [n for k, n, _ in wants if k == "new_regions"]
    home = max((r for r in regions if name.startswith(r) and len(r) < len(name)), key=len, default=region)
    wants.append(("new_units", name, NewUnit(name, str(_unit_kind(name)), home)))


def _person(text: str) -> tuple[str, str | None, str | None]:
    """(name, title, mobile) from "张三（副县长）13800000000" and the like."""
    mobile = _MOBILE.search(text)
    text = _MOBILE.sub("", text).strip()
    title = None
    bracket = re.search(r"[（(]([^）)]*)[）)]", text)
    if bracket:
        title = bracket[1].strip() or None
        text = (text[:bracket.start()] + text[bracket.end():]).strip()
    parts = text.split()
    if len(parts) > 1:
        text, title = parts[0], title or " ".join(parts[1:])
    return text, title, mobile[0] if mobile else None


def _official(person, unit: str | None, known: _Known, plan: Plan, wants: list, column: str) -> str:
    name, title, mobile = person
    if len(name) > 60:
        raise _Refused(_too_long(column, 60, name))
    found = known.officials.get(name, [])
    if len(found) > 1:
        in_unit = [o for o in found if unit and any(p.unit.name == unit for p in o.posts)]
        if len(in_unit) != 1:
            raise _Refused(why(column, "same_name", f"{len(found)} officials are named {name}; "
                               "give the unit or register the problem by hand", count=len(found), name=name))
        return f"#{in_unit[0].id}"
    if found:
        return f"#{found[0].id}"
    wants.append(("new_officials", name, NewOfficial(name, unit, title, mobile)))
    return name
