"""Registering problems and finding them again (整改台账)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Select, case, false, func, literal, or_, select
from sqlalchemy.orm import Session, selectinload

from . import clock, ledger
from .errors import Conflict, Invalid, NotFound
from .ledger import Action
from .text import normal_code
from .models import (DeadlineKind, Light, Milestone, Official, Problem, ProblemCategory, ProblemSource, ProblemStatus,
                     Region, Site, Unit, UnitKind, User, problem_cooperating_unit)

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
    ladder_from: datetime | None = None  # a grace date's start: the ladder counts from it (default: now)


def register(session: Session, new: NewProblem, actor: User | None) -> Problem:
    """Register a problem with its chain of responsibility; the caller starts its process."""
    errors: dict[str, list[str]] = {}
    # the units and officials it names, one query each (held: the session's references are weak)
    units = _by_id(session, Unit, [new.lead_unit_id, new.industry_unit_id, *new.cooperating_unit_ids])
    officials = _by_id(session, Official, [new.responsible_official_id, new.leading_official_id])

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
        unit = units.get(unit_id) if isinstance(unit_id, int) else session.get(Unit, unit_id)
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
        status=ProblemStatus.REGISTERED, registered_at=clock.now(), ladder_from=new.ladder_from or clock.now(),
        sites=[Site(name=name) for name in new.sites],
        milestones=[Milestone(title=title, due=due) for title, due in new.milestones])
    session.add(problem)
    session.flush()
    ledger.record(session, Action.PROBLEM_REGISTERED, actor=actor, subject_type="problem", subject_id=problem.id,
                  problem_id=problem.id, payload={
                      "code": problem.code, "title": problem.title, "source": problem.source.value,
                      "batch": problem.batch, "lead_unit": lead_unit.name, "responsible": responsible.name,
                      "leading_official": leading.name if leading else None,
                      "deadline": new.deadline.isoformat() if new.deadline else None,
                      **({"ladder_from": new.ladder_from.isoformat()} if new.ladder_from else {})})
    return problem


def _by_id(session: Session, model, ids: list) -> dict:
    """The rows of `model` with these ids (those that exist), in one query."""
    wanted = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
    if not wanted:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(sorted(wanted))))}


GOVERNING = (UnitKind.PARTY_COMMITTEE, UnitKind.GOVERNMENT)


def governed_regions(user: User) -> set[int]:
    """The regions whose Party committee or government `user` heads (县委书记, 县长 …). Under
    党政同责 both heads answer for every problem of their region and the regions below it (the
    ladder's 约谈 names them), so they read those problems."""
    if user.official is None:
        return set()
    return {post.unit.region_id for post in user.official.posts if post.is_head and post.unit.kind in GOVERNING}


def _regions_below(region_ids: set[int]):
    """The regions and every region under them, as one recursive query."""
    tree = select(Region.id).where(Region.id.in_(region_ids)).cte("governed", recursive=True)
    tree = tree.union_all(select(Region.id).where(Region.parent_id == tree.c.id))
    return select(tree.c.id)


def involving(user: User) -> list:
    """Conditions that select the problems in which `user` is part of the chain: as the
    responsible person or leading official, through a post in the lead, industry or a cooperating
    unit, or as a head of the problem's region or a region above it."""
    conditions = []
    if governed := governed_regions(user):
        conditions.append(Problem.region_id.in_(_regions_below(governed)))
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
    if (user.official_id in (problem.responsible_official_id, problem.leading_official_id)
            or problem.lead_unit_id in units or problem.industry_unit_id in units
            or any(u.id in units for u in problem.cooperating_units)):
        return True
    if governed := governed_regions(user):
        region = problem.region
        while region is not None:   # the problem's region and those above it, a few levels
            if region.id in governed:
                return True
            region = region.parent
    return False


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
    text: str | None = None        # 关键词: a part of the code, the title, the responsible person's
                                   # name, the lead or a cooperating unit's name, the region's name


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
        statement = statement.where(keyword(wanted.text))
    return statement


def keyword(text: str):
    """The condition of the ledger's keyword (关键词): the code or the title contains it, or the
    name of the responsible person, of the lead or a cooperating unit (its short name too) or of
    the region. The names are looked up in their own small tables and the problems found by
    their indexed ids: one statement, no walk over the problems in Python."""
    def has(column):
        return column.icontains(text, autoescape=True)

    units = select(Unit.id).where(or_(has(Unit.name), has(Unit.short_name)))
    return or_(
        has(Problem.code), has(Problem.title),
        Problem.responsible_official_id.in_(select(Official.id).where(has(Official.name))),
        Problem.lead_unit_id.in_(units),
        Problem.id.in_(select(problem_cooperating_unit.c.problem_id)
                       .where(problem_cooperating_unit.c.unit_id.in_(units))),
        Problem.region_id.in_(select(Region.id).where(has(Region.name))))


# -- sorting --------------------------------------------------------------------------------------

def _overdue_since():
    """For an overdue problem its deadline, for any other today: the later, the fewer days
    overdue (逾期天数), and a problem not overdue counts 0 days."""
    overdue = (Problem.deadline < clock.today()) & (Problem.status != ProblemStatus.CLOSED)
    return case((overdue, Problem.deadline), else_=literal(clock.today()))


def _by(*columns):
    return lambda statement: (statement, [(column, False) for column in columns])


def _by_region(statement):
    return statement.join(Region, Region.id == Problem.region_id), [(Region.name, False)]


def _by_unit(statement):
    return statement.join(Unit, Unit.id == Problem.lead_unit_id), [(Unit.name, False)]


def _by_days_overdue(statement):
    # more days overdue is an earlier deadline: the order of the date runs the other way
    return statement, [(_overdue_since(), True), (Problem.deadline.is_(None), False)]


def _light_order():
    return case({Light.RED.value: 0, Light.YELLOW.value: 1, Light.GREEN.value: 2, Light.CLOSED.value: 3},
                value=Problem.light, else_=4)


def _status_order():
    return case({status.value: index for index, status in enumerate(ProblemStatus)},
                value=Problem.status, else_=len(ProblemStatus))


# each a function of the statement -> (statement, [(order expression, reversed)])
SORTS = {
    "code": _by(Problem.code),
    "region": _by_region,
    "lead_unit": _by_unit,
    "source": _by(Problem.source),
    "batch": _by(Problem.batch),
    "category": _by(Problem.category),
    "deadline": _by(Problem.deadline.is_(None), Problem.deadline),
    "light": lambda statement: (statement, [(_light_order(), False)]),
    "status": lambda statement: (statement, [(_status_order(), False)]),
    "overdue_days": _by_days_overdue,
}
SORT_CHOICES = [*SORTS, *(f"-{key}" for key in SORTS)]  # "-key": descending
DEFAULT_SORT = "code"


def sorted_by(statement: Select, sort: str) -> Select:
    """`statement` ordered by one of SORT_CHOICES (`page` adds the id, so that ties keep an order)."""
    descending = sort.startswith("-")
    statement, columns = SORTS[sort.lstrip("-")](statement)
    return statement.order_by(*[c.desc() if descending != flip else c.asc() for c, flip in columns])


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
