"""Registering problems and finding them again (整改台账)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.orm import Session, selectinload

from . import clock, ledger
from .errors import Conflict, Invalid, NotFound
from .ledger import Action
from .text import normal_code
from .models import (DeadlineKind, Light, Milestone, Official, Problem, ProblemCategory, ProblemSource, ProblemStatus,
                     Region, Site, Unit, User, problem_cooperating_unit)

CODE_MAX = 40  # Problem.code is String(40)


@dataclass
class NewProblem:
    code: str
    title: str
    description: str
    source: ProblemSource
    batch: str
    category: ProblemCategory
    region_id: int
    lead_unit_id: int
    responsible_official_id: int
    leading_official_id: int | None = None
    industry_unit_id: int | None = None
    cooperating_unit_ids: list[int] = field(default_factory=list)
    target: str | None = None
    measures: str | None = None
    deadline_kind: DeadlineKind = DeadlineKind.BY_DATE
    deadline: date | None = None
    sites: list[str] = field(default_factory=list)
    milestones: list[tuple[str, date]] = field(default_factory=list)


def register(session: Session, new: NewProblem, actor: User | None) -> Problem:
    """Register a problem with its chain of responsibility; the caller starts its process."""
    errors: dict[str, list[str]] = {}

    def need(model, key: str, value, optional: bool = False):
        if value is None:
            if not optional:
                errors[key] = ["Missing data for required field."]
            return None
        found = session.get(model, value)
        if found is None:
            errors[key] = [f"no {model.__tablename__.replace('_', ' ')} with id {value}"]
        return found

    region = need(Region, "region_id", new.region_id)
    lead_unit = need(Unit, "lead_unit_id", new.lead_unit_id)
    responsible = need(Official, "responsible_official_id", new.responsible_official_id)
    leading = need(Official, "leading_official_id", new.leading_official_id, optional=True)
    industry = need(Unit, "industry_unit_id", new.industry_unit_id, optional=True)
    cooperating = []
    for index, unit_id in enumerate(new.cooperating_unit_ids):
        unit = session.get(Unit, unit_id)
        if unit is None:
            errors[f"cooperating_unit_ids.{index}"] = [f"no unit with id {unit_id}"]
        cooperating.append(unit)
    if new.deadline_kind == DeadlineKind.BY_DATE and new.deadline is None:
        errors["deadline"] = ["a 限期整改 problem needs a deadline"]
    code = normal_code(new.code)  # stored as compared: NFKC, no zero-width characters, trimmed
    if not code:
        errors["code"] = ["must not be empty"]
    elif len(code) > CODE_MAX:
        errors["code"] = [f"at most {CODE_MAX} characters"]
    if errors:
        raise Invalid("the problem cannot be registered", errors)
    if session.scalar(select(Problem.id).where(Problem.code == code)) is not None:
        raise Conflict(f"a problem with code {code} is already registered", {"code": ["already registered"]})

    problem = Problem(
        code=code, title=new.title, description=new.description, source=new.source, batch=new.batch,
        category=new.category, region=region, lead_unit=lead_unit, responsible_official=responsible,
        leading_official=leading, industry_unit=industry, cooperating_units=cooperating, target=new.target,
        measures=new.measures, deadline_kind=new.deadline_kind, deadline=new.deadline,
        status=ProblemStatus.REGISTERED, registered_at=clock.now(),
        sites=[Site(name=name) for name in new.sites],
        milestones=[Milestone(title=title, due=due) for title, due in new.milestones])
    session.add(problem)
    session.flush()
    ledger.record(session, Action.PROBLEM_REGISTERED, actor=actor, subject_type="problem", subject_id=problem.id,
                  problem_id=problem.id, payload={
                      "code": problem.code, "title": problem.title, "source": problem.source.value,
                      "batch": problem.batch, "lead_unit": lead_unit.name, "responsible": responsible.name,
                      "leading_official": leading.name if leading else None,
                      "deadline": new.deadline.isoformat() if new.deadline else None})
    return problem


def involving(user: User) -> list:
    """Conditions that select the problems in which `user` is part of the chain."""
    conditions = []
    if user.official_id:
        conditions += [Problem.responsible_official_id == user.official_id,
                       Problem.leading_official_id == user.official_id]
    units = user.unit_ids()
    if units:
        conditions += [Problem.lead_unit_id.in_(units), Problem.industry_unit_id.in_(units),
                       Problem.id.in_(select(problem_cooperating_unit.c.problem_id)
                                      .where(problem_cooperating_unit.c.unit_id.in_(units)))]
    return conditions


def may_see(user: User, problem: Problem) -> bool:
    if user.reads_everything:
        return True
    units = user.unit_ids()
    return (user.official_id in (problem.responsible_official_id, problem.leading_official_id)
            or problem.lead_unit_id in units or problem.industry_unit_id in units
            or any(u.id in units for u in problem.cooperating_units))


@dataclass
class ProblemFilter:
    status: ProblemStatus | None = None
    region_id: int | None = None
    unit_id: int | None = None       # lead or cooperating unit
    lead_unit_id: int | None = None  # lead unit only (牵头单位), as the dashboard counts
    source: ProblemSource | None = None
    batch: str | None = None
    category: ProblemCategory | None = None
    overdue: bool | None = None
    light: Light | None = None
    text: str | None = None        # a part of the code or the title (关键词)


def _region_and_below(session: Session, region_id: int) -> list[int]:
    ids, frontier = [region_id], [region_id]
    while frontier:
        frontier = list(session.scalars(select(Region.id).where(Region.parent_id.in_(frontier))))
        ids += frontier
    return ids


def visible_to(viewer: User):
    """The condition on Problem that selects what `viewer` may see; None when that is everything.
    The one rule of reading: the ledger, the API's list and the dashboard's figures all use it,
    and `may_see` answers it for one problem."""
    if viewer.reads_everything:
        return None
    conditions = involving(viewer)
    return or_(*conditions) if conditions else false()


def query(session: Session, viewer: User, wanted: ProblemFilter) -> Select:
    statement = select(Problem)
    if (visible := visible_to(viewer)) is not None:
        statement = statement.where(visible)
    if wanted.status:
        statement = statement.where(Problem.status == wanted.status)
    if wanted.region_id:
        statement = statement.where(Problem.region_id.in_(_region_and_below(session, wanted.region_id)))
    if wanted.unit_id:
        statement = statement.where(or_(
            Problem.lead_unit_id == wanted.unit_id,
            Problem.id.in_(select(problem_cooperating_unit.c.problem_id)
                           .where(problem_cooperating_unit.c.unit_id == wanted.unit_id))))
    if wanted.lead_unit_id:
        statement = statement.where(Problem.lead_unit_id == wanted.lead_unit_id)
    if wanted.source:
        statement = statement.where(Problem.source == wanted.source)
    if wanted.batch:
        statement = statement.where(Problem.batch == wanted.batch)
    if wanted.category:
        statement = statement.where(Problem.category == wanted.category)
    if wanted.overdue is not None:
        overdue = (Problem.deadline < clock.today()) & (Problem.status != ProblemStatus.CLOSED)
        statement = statement.where(overdue if wanted.overdue else ~overdue | Problem.deadline.is_(None))
    if wanted.light:
        statement = statement.where(Problem.light == wanted.light)
    if wanted.text:
        statement = statement.where(or_(Problem.code.icontains(wanted.text, autoescape=True),
                                        Problem.title.icontains(wanted.text, autoescape=True)))
    return statement


def page(session: Session, statement: Select, number: int, size: int) -> tuple[list[Problem], int]:
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    items = session.scalars(statement.order_by(Problem.id).offset((number - 1) * size).limit(size)
                            .options(selectinload(Problem.cooperating_units), selectinload(Problem.sites))).all()
    return list(items), total


def get(session: Session, problem_id: int) -> Problem:
    problem = session.get(Problem, problem_id)
    if problem is None:
        raise NotFound(f"no problem with id {problem_id}")
    return problem


def is_overdue(problem: Problem) -> bool:
    return (problem.deadline is not None and problem.status != ProblemStatus.CLOSED
            and problem.deadline < clock.today())
