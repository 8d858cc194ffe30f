"""督办看板: the figures the supervision dashboard shows, read from the database as it is now.

Everything is read within a scope: the problems the viewer may read (the ledger's rule,
`engine.problems.visible_to`: everything for the offices; for the heads of a region, its problems
and those of the regions below it; for others the problems whose chain they are part of), of the whole city or of one region and the regions
below it. So each figure is the count of the ledger the figure links to. The totals and lights
are those of `engine.lights.counts` (the stored, indexed light); the overdue problems those of
the ledger's `overdue` filter (`engine.problems.query`); the
breakdowns count each problem once under its region (the level below the scope's region, as
the bulletin counts townships with their county), its lead unit, its source and its batch.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.orm import Session, joinedload

from . import clock, lights, problems
from .accountability import PROCESS_KEY as ACCOUNTABILITY_PROCESS
from .accountability import Case, cases, cases_query
from .calendar import WorkingCalendar
from .errors import NotFound
from .escalation.ladder import overdue_working_days
from .models import (Escalation, HumanTask, InstanceStatus, Light, Problem, ProcessDefinition, ProcessInstance,
                     Region, TaskState, Unit)

INTERVIEW_PROCESS = "interview"   # bpmn/interview.bpmn (约谈)
LEVELS = (1, 2, 3, 4, 5)          # the ladder's rungs: 提醒, 催办, 专函督办, 约谈, 问责
LEVEL_NAMES = {1: "提醒预警", 2: "催办", 3: "专函督办 / 挂牌督办", 4: "约谈", 5: "问责"}
STACK = (Light.RED, Light.YELLOW, Light.GREEN, Light.CLOSED)  # the order of a stacked bar
BREAKDOWNS = ("region", "unit", "source", "batch")


# -- the scope ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """The region the dashboard is narrowed to (None: everything), the ids it covers, and the
    condition on Problem that selects what the viewer may read (None: everything)."""

    region: Region | None = None
    region_ids: tuple[int, ...] | None = None
    visible: object = None

    def problems(self) -> Select:
        return self.narrow(select(Problem))

    def narrow(self, statement: Select) -> Select:
        """`statement` (which joins Problem) limited to the scope."""
        if self.visible is not None:
            statement = statement.where(self.visible)
        if self.region_ids is None:
            return statement
        return statement.where(Problem.region_id.in_(self.region_ids))


def scope(session: Session, region_id: int | None, viewer=None) -> Scope:
    """The scope of `viewer` (None: the whole city, for the command line and the bulletin)."""
    viewer = viewer if viewer is not None else WHOLE_CITY
    visible = problems.visible_to(viewer)
    if region_id is None:
        return Scope(visible=visible)
    region = session.get(Region, region_id)
    if region is None:
        raise NotFound(f"no region with id {region_id}", {"region": ["no such region"]})
    return Scope(region, tuple(problems._region_and_below(session, region_id)), visible)


def regions(session: Session) -> list[tuple[Region, int]]:
    """Every region with its depth, each under its parent (for a chooser)."""
    rows = session.scalars(select(Region).order_by(Region.id)).all()
    children: dict[int | None, list[Region]] = defaultdict(list)
    for region in rows:
        children[region.parent_id].append(region)
    ordered: list[tuple[Region, int]] = []

    def walk(parent_id: int | None, depth: int):
        for region in children.get(parent_id, []):
            ordered.append((region, depth))
            walk(region.id, depth + 1)
    walk(None, 0)
    return ordered


# -- totals and breakdowns ------------------------------------------------------------------------

class _WholeCity:
    """A viewer who reads every problem (a scope without a signed-in viewer)."""

    reads_everything = True


WHOLE_CITY = _WholeCity()


def totals(session: Session, where: Scope) -> dict[str, int | float]:
    """total, closed (销号), in_progress, red, yellow, green, overdue and the close rate (%)."""
    counted = lights.counts(session, where.problems(), Problem.light)
    overdue_statement = problems.query(session, WHOLE_CITY, problems.ProblemFilter(overdue=True))
    overdue = session.scalar(select(func.count()).select_from(where.narrow(overdue_statement).subquery()))
    total, closed = counted["total"], counted[Light.CLOSED.value]
    return {"total": total, "closed": closed, "in_progress": total - closed, "red": counted[Light.RED.value],
            "yellow": counted[Light.YELLOW.value], "green": counted[Light.GREEN.value], "overdue": overdue,
            "close_rate": round(100.0 * closed / total, 1) if total else 0.0}


def open_incidents(session: Session) -> int:
    """Process instances stopped at a failed step (流程异常), city-wide: the office's to retry."""
    from . import incidents

    return incidents.open_count(session)


@dataclass
class Row:
    """One bar of a breakdown: a region, unit, source or batch and its problems by light."""

    key: str | int
    name: str
    own: bool = False    # a region's own problems (本级), not those of the regions below it
    counts: dict[str, int] = field(default_factory=lambda: {light.value: 0 for light in STACK})

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def open(self) -> int:
        return self.total - self.counts[Light.CLOSED.value]


def breakdowns(session: Session, where: Scope) -> dict[str, list[Row]]:
    """Problems by region, lead unit, source and batch, each split by light; largest first."""
    region_rows = session.execute(select(Region.id, Region.name, Region.parent_id)).all()
    names = {row.id: row.name for row in region_rows}
    parents = {row.id: row.parent_id for row in region_rows}
    units = dict(session.execute(select(Unit.id, Unit.name)).all())
    root = where.region.id if where.region is not None else None

    def region_group(region_id: int) -> int:
        chain = [region_id]
        while parents.get(chain[-1]) is not None and chain[-1] != root:
            chain.append(parents[chain[-1]])
        # the region just below the scope's root (or below the top of the tree); the root itself
        return chain[-2] if len(chain) > 1 else chain[-1]

    def top(region_id: int) -> int | None:
        return region_id if root is None and parents.get(region_id) is None else None

    groups: dict[str, dict] = {name: {} for name in BREAKDOWNS}
    # counted in the database: one row per combination present, not per problem
    columns = (Problem.region_id, Problem.lead_unit_id, Problem.source, Problem.batch, Problem.light)
    statement = where.problems().with_only_columns(*columns, func.count()).group_by(*columns)
    for region_id, unit_id, source, batch, light, count in session.execute(statement):
        keys = {"region": (region_group(region_id), names[region_group(region_id)]),
                "unit": (unit_id, units[unit_id]), "source": (source.value, source.label), "batch": (batch, batch)}
        for name, (key, label) in keys.items():
            own = name == "region" and key in (root, top(key))
            row = groups[name].setdefault(key, Row(key, label, own))
            row.counts[Light(light).value] += count
    return {name: sorted(rows.values(), key=lambda row: (-row.total, -row.open, row.name))
            for name, rows in groups.items()}


# -- the ladder -----------------------------------------------------------------------------------

@dataclass
class Firing:
    id: int
    level: int
    name: str
    problem_id: int
    problem_code: str
    problem_title: str
    fired_at: datetime
    targets: list[dict]
    instance_ids: list[int]


def escalation_levels(session: Session, where: Scope) -> dict[int, int]:
    """How many firings each level of the ladder has (every level listed, 0 when none)."""
    statement = where.narrow(select(Escalation.level, func.count()).join(Problem).group_by(Escalation.level))
    found = {level: 0 for level in LEVELS}
    found.update(dict(session.execute(statement).all()))
    return found


def escalations(session: Session, where: Scope, level: int | None = None, limit: int = 20) -> list[Firing]:
    """The latest firings of the ladder, newest first (of one level, if given)."""
    statement = where.narrow(select(Escalation).join(Problem)).options(joinedload(Escalation.problem))
    if level is not None:
        statement = statement.where(Escalation.level == level)
    rows = session.scalars(statement.order_by(Escalation.fired_at.desc(), Escalation.id.desc()).limit(limit))
    return [Firing(e.id, e.level, e.rule_name, e.problem_id, e.problem.code, e.problem.title, e.fired_at,
                   list(e.targets or []), list(e.instance_ids or [])) for e in rows]


@dataclass
class Overdue:
    problem: Problem
    days: int           # calendar days past the deadline
    working_days: int   # working days past it, as the ladder counts them


def overdue(session: Session, where: Scope, calendar: WorkingCalendar, limit: int = 50) -> list[Overdue]:
    """Open problems past their deadline, most overdue first."""
    statement = where.narrow(problems.query(session, WHOLE_CITY, problems.ProblemFilter(overdue=True)))
    rows = session.scalars(statement.options(joinedload(Problem.region), joinedload(Problem.lead_unit))
                           .order_by(Problem.deadline, Problem.code).limit(limit)).all()
    today, now = clock.today(), clock.now()
    return [Overdue(p, (today - p.deadline).days, overdue_working_days(p, calendar, now)) for p in rows]


def scoped_ids(session: Session, where: Scope, codes) -> dict[str, int]:
    """Problem code -> id of those of `codes` in scope (to place the forecast's lines)."""
    codes = list(set(codes))
    if not codes:
        return {}
    return dict(session.execute(where.problems().where(Problem.code.in_(codes))
                                .with_only_columns(Problem.code, Problem.id)).all())


# -- interviews and accountability cases ------------------------------------------------------------

@dataclass
class Interview:
    instance: ProcessInstance
    open_tasks: list[HumanTask]


def _process(key: str) -> Select:
    return (select(ProcessInstance).join(ProcessDefinition).join(Problem, ProcessInstance.problem_id == Problem.id)
            .where(ProcessDefinition.key == key))


def process_counts(session: Session, where: Scope, key: str) -> dict[str, int]:
    """Instances of a process in scope: running, completed, error, total."""
    status = ProcessInstance.status
    if session.get_bind().dialect.name == "sqlite":
        # a unary + keeps SQLite's planner from walking the whole status index to group in its
        # order; it reads the process's instances from (definition_id, status) instead
        status = literal_column("+process_instance.status")
    statement = where.narrow(_process(key).with_only_columns(ProcessInstance.status, func.count()).group_by(status))
    found = {status.value: 0 for status in InstanceStatus}
    for status, count in session.execute(statement):
        found[InstanceStatus(status).value] = count
    found["total"] = sum(found.values())
    return found


def interviews(session: Session, where: Scope, limit: int = 20) -> list[Interview]:
    """The interviews (约谈), open ones first, newest first, with the steps they wait at."""
    statement = where.narrow(_process(INTERVIEW_PROCESS)).options(joinedload(ProcessInstance.problem))
    running_first = (ProcessInstance.status != InstanceStatus.RUNNING)
    rows = session.scalars(statement.order_by(running_first, ProcessInstance.started_at.desc(),
                                              ProcessInstance.id.desc()).limit(limit)).all()
    waiting: dict[int, list[HumanTask]] = defaultdict(list)
    if rows:
        for task in session.scalars(select(HumanTask).where(HumanTask.instance_id.in_([i.id for i in rows]),
                                                            HumanTask.state == TaskState.READY)
                                    .order_by(HumanTask.id)):
            waiting[task.instance_id].append(task)
    return [Interview(instance, waiting[instance.id]) for instance in rows]


def accountability_cases(session: Session, where: Scope, limit: int = 10) -> list[Case]:
    """The newest accountability cases (问责) in scope."""
    statement = where.narrow(cases_query().join(Problem, ProcessInstance.problem_id == Problem.id))
    found, _ = cases(session, statement, 1, limit)
    return found


def accountability_counts(session: Session, where: Scope) -> dict[str, int]:
    return process_counts(session, where, ACCOUNTABILITY_PROCESS)
