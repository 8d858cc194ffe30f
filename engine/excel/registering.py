"""Registering a judged sheet (导入台账, confirmed): what its rows name is created first, then
each good row is registered on its own, in the transactions engine/excel/batches.py gives
them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .. import clock, ledger, problems
from ..escalation.ladder import start_of
from ..ledger import Action
from ..models import InstanceStatus, ProblemStatus
from ..workflow import migration
from ..workflow.serializer import specs_for
from . import status as row_status
from ..models import Official, Post, PostKind, Problem, Region, RegionLevel, Unit, UnitKind, User
from ..text import normal_code
from .importing import Plan, Planned

_POST_KIND = {UnitKind.PARTY_COMMITTEE: PostKind.PARTY, UnitKind.GOVERNMENT: PostKind.GOVERNMENT}


@dataclass
class Named:
    """The ids of what the plan's rows name: regions, units and new officials, by name."""

    regions: dict[str, int]
    units: dict[str, int]
    officials: dict[str, int]
    chosen: set[int]     # the ids of every official the rows name

    def hold(self, session: Session) -> list:
        """Load the regions, units and officials the rows name into a batch's session and keep
        them: the session's identity map holds its objects only as long as someone does, and
        without them every row would load them again."""
        return [*session.scalars(select(Region)), *session.scalars(select(Unit)),
                *session.scalars(select(Official).where(Official.id.in_(self.chosen))
                                 .options(selectinload(Official.posts), selectinload(Official.user)))]


def still_valid(session: Session, plan: Plan) -> bool:
    """Whether the organisation the plan was judged against still stands: every region and
    unit it takes as known still exists under that name, none it would create exists now, no
    official it would create has a namesake now, and every official it chose is still there.
    (Codes are checked again as the rows are registered.)"""
    regions = {item.region for item in plan.problems}
    units = {name for item in plan.problems for name in [item.lead_unit, *item.cooperating_units]}
    chosen = {int(ref[1:]) for item in plan.problems for ref in (item.responsible, item.leading_official)
              if ref and ref.startswith("#")}
    regions |= {new.parent for new in plan.new_regions.values() if new.parent}
    units_home = {new.region for new in plan.new_units.values()}
    regions |= units_home
    found_regions = set(session.scalars(select(Region.name).where(Region.name.in_(regions)))) if regions else set()
    found_units = set(session.scalars(select(Unit.name).where(Unit.name.in_(units)))) if units else set()
    new_people = set(plan.new_officials)
    namesakes = session.scalar(select(Official.id).where(Official.name.in_(new_people)).limit(1)) if new_people else None
    found_people = set(session.scalars(select(Official.id).where(Official.id.in_(chosen)))) if chosen else set()
    return (found_regions == regions - set(plan.new_regions) and found_units == units - set(plan.new_units)
            and namesakes is None and found_people == chosen)


def create_named(session: Session, plan: Plan) -> Named:
    """Create the regions, units and officials (with their posts) the plan names and Duban
    lacks, in the caller's transaction; the ids of everything its rows name."""
    regions = {r.name: r for r in session.scalars(select(Region))}
    for new in plan.new_regions.values():
        regions[new.name] = Region(name=new.name, level=RegionLevel(new.level),
                                   parent=regions.get(new.parent) if new.parent else None)
        session.add(regions[new.name])
    units = {u.name: u for u in session.scalars(select(Unit))}
    for new in plan.new_units.values():
        units[new.name] = Unit(name=new.name, kind=UnitKind(new.kind), region=regions[new.region])
        session.add(units[new.name])
    officials: dict[str, Official] = {}
    for new in plan.new_officials.values():
        official = officials[new.name] = Official(name=new.name, mobile=new.mobile)
        session.add(official)
        if new.unit:
            unit = units[new.unit]
            session.add(Post(official=official, unit=unit, title=new.title or "责任人",
                             kind=_POST_KIND.get(unit.kind, PostKind.DEPARTMENT), is_head=False))
    session.flush()
    chosen = {int(ref[1:]) for item in plan.problems for ref in (item.responsible, item.leading_official)
              if ref and ref.startswith("#")}
    return Named({name: r.id for name, r in regions.items()}, {name: u.id for name, u in units.items()},
                 {name: o.id for name, o in officials.items()}, chosen | {o.id for o in officials.values()})


def register(session: Session, item: Planned, named: Named, actor: User | None,
             ladder_from: datetime | None = None) -> Problem:
    """Register one good row's problem (the caller starts its process); the ladder counts
    from `ladder_from` (a grace date's start) or, without it, from now."""

    def official_id(reference: str | None) -> int | None:
        if reference is None:
            return None
        return int(reference[1:]) if reference.startswith("#") else named.officials[reference]

    return problems.register(session, problems.NewProblem(
        code=item.code, title=item.title, description=item.description, source=item.source, batch=item.batch,
        category=item.category, region_id=named.regions[item.region], lead_unit_id=named.units[item.lead_unit],
        responsible_official_id=official_id(item.responsible), leading_official_id=official_id(item.leading_official),
        cooperating_unit_ids=[named.units[name] for name in item.cooperating_units], target=item.target,
        measures=item.measures, deadline_kind=item.deadline_kind, deadline=item.deadline, sites=item.sites,
        ladder_from=ladder_from), actor)


def registered_codes(session: Session, items: list[Planned]) -> set[str]:
    """The codes of `items` that are registered now (as stored: normalised)."""
    codes = [normal_code(item.code) for item in items]
    return set(session.scalars(select(Problem.code).where(Problem.code.in_(codes)))) if codes else set()


def bring_to_state(session: Session, runtime, definition, problem: Problem, item: Planned, actor: User | None,
                   look_back: bool = False) -> str | None:
    """Put a just-registered row's problem in the state its ledger row says (engine/excel/status.py):
    closed (销号) with its close date and no process (with `look_back`, a process waiting at its
    回头看核查, due now); or its process started and, for a row in progress, its token moved to
    the step the row has reached; or at 签收 as any new problem. The step the row's state waits
    at, when the process (edited since) has no such step: the row then starts at its first task."""
    closed = item.state == row_status.CLOSED
    if closed and look_back and _has(runtime, definition, row_status.LOOK_BACK):
        _start_at(session, runtime, definition, problem, item, actor, row_status.LOOK_BACK, "回头看")
        problem.status = ProblemStatus.CLOSED
        problem.closed_at = start_of(item.closed_on) if item.closed_on else clock.now()
        return None
    if closed:
        closed_at = start_of(item.closed_on) if item.closed_on else clock.now()
        problem.status, problem.closed_at = ProblemStatus.CLOSED, closed_at
        ledger.record(session, Action.PROBLEM_STATUS_CHANGED, actor=actor, subject_type="problem",
                      subject_id=problem.id, problem_id=problem.id,
                      payload={"from": ProblemStatus.REGISTERED.value, "to": ProblemStatus.CLOSED.value,
                               "to_label": ProblemStatus.CLOSED.label, "imported": True,
                               "closed_on": item.closed_on.isoformat() if item.closed_on else None})
        return None
    if item.state == row_status.NEW:
        runtime.start(session, definition, problem, actor)
        return None
    if not _has(runtime, definition, row_status.ELEMENT[item.state]):
        runtime.start(session, definition, problem, actor)  # a process without that step: at its first task
        return row_status.ELEMENT[item.state]
    _start_at(session, runtime, definition, problem, item, actor, row_status.ELEMENT[item.state],
              row_status.LABELS[item.state])
    return None


def _has(runtime, definition, element: str) -> bool:
    spec, _subprocesses = specs_for(definition)
    return migration._spec_of(spec, element) is not None


def _start_at(session: Session, runtime, definition, problem: Problem, item: Planned, actor: User | None,
              target: str, said: str) -> None:
    """Start the problem's process and move its token from the first task to `target`."""
    instance = runtime.start(session, definition, problem, actor)
    if instance.status != InstanceStatus.RUNNING:
        return
    workflow = runtime.load(instance)
    outcome = migration.move(workflow, target)
    ledger.record(session, Action.INSTANCE_MOVED, actor=actor, subject_type="process_instance",
                  subject_id=instance.id, problem_id=problem.id,
                  payload={"instance": instance.id, "process": definition.key, "version": definition.version,
                           "reason": f"imported ledger row {item.row}: {said}",
                           "from": outcome.tokens[0]["element"], "to": target, "direction": outcome.direction,
                           "skipped": outcome.skipped})
    runtime.settle(session, instance, workflow, actor)
