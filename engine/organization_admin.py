"""Administering the organisation (环督办): regions, units, officials and their posts, users
and their roles.

Every change here runs inside the caller's transaction (engine/service.py opens it) and writes
its entry to the audit ledger. Input is checked field by field: an `OrganizationInvalid`
names each field with a reason code (for the pages to say in their language) and an English
message (for the API). Nothing is written when any field is wrong.

Posts and the engine. A post is what the engine reads to find a unit's heads (lane
assignment, escalation targets, 党政同责) and who may act for a unit (tasks offered to it).
Ending a post deletes it; the ledger keeps what it was. It is refused, with the reason, when
the engine still relies on it:

- a head post while the unit has unfinished problems that rely on that head (as lead,
  industry or cooperating unit; a Party committee or government for the problems of its
  region): the head is replaced instead, by adding the successor's post with `succeed`,
  which ends the predecessor's post in the same transaction, so the unit is never headless;
- the last post through which anyone with an active account acts for a unit that has ready
  tasks offered to it: those tasks would have nobody to do them.

Tasks assigned to the official's account by name stay with it; problems keep naming their
responsible person and leading official. A unit keeps one head per side (Party; government
or department): a second one is refused unless it succeeds the first.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from .text import ID_MAX
from . import accounts, ledger, paging, password_policy, passwords, security_log, session_policy, sign_in
from .security_log import Kind
from .ledger import Action
from .errors import Invalid, NotFound, Reason
from .models import (GRANTED_BY_SECURITY_ADMIN, SEPARATED_ADMINS, HumanTask, Official, Post, PostKind, Problem, ProblemStatus, Region,
                     RegionLevel, Role,
                     TaskState, Unit, UnitKind, User, UserRole, problem_cooperating_unit)
from .organization import Heads, region_heads, unit_heads
from .settings import SignInSettings

MIN_PASSWORD_LENGTH = password_policy.MIN_LENGTH
MAX_PASSWORD_LENGTH = password_policy.MAX_LENGTH
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,59}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MOBILE = re.compile(r"^\+?[0-9][0-9 -]{5,18}[0-9]$")

LEVEL_RANK = {RegionLevel.CITY: 0, RegionLevel.COUNTY: 1, RegionLevel.TOWNSHIP: 2}
# a region has one Party committee and one government
ONE_PER_REGION = (UnitKind.PARTY_COMMITTEE, UnitKind.GOVERNMENT)


class Side(enum.StrEnum):
    """Which head a post makes: the Party head, or the government (administrative) head."""

    PARTY = "party"
    GOVERNMENT = "government"

    @classmethod
    def of(cls, kind: PostKind) -> "Side":
        return cls.PARTY if kind == PostKind.PARTY else cls.GOVERNMENT


# -- errors, field by field ----------------------------------------------------------------------


class OrganizationInvalid(Invalid):
    def __init__(self, message: str, reasons: dict[str, list[Reason]]):
        super().__init__(message, {name: [r.message for r in found] for name, found in reasons.items()})
        self.reasons = reasons


class Checks:
    """Collects what is wrong with an input, field by field, and refuses it all at once."""

    def __init__(self):
        self.reasons: dict[str, list[Reason]] = {}

    def fail(self, field_name: str, code: str, message: str, /, **params) -> None:
        self.reasons.setdefault(field_name, []).append(Reason(code, message, params))

    def ok(self, name: str) -> bool:
        return name not in self.reasons

    def text(self, name: str, value: Any, longest: int, required: bool = True) -> str | None:
        if value is not None and not isinstance(value, str):
            self.fail(name, "invalid", "Not a valid string.")
            return None
        value = (value or "").strip()
        if not value:
            if required:
                self.fail(name, "required", "must not be empty")
            return None
        if len(value) > longest:
            self.fail(name, "too_long", f"at most {longest} characters", max=longest)
        return value

    def choice(self, name: str, value: Any, kind: type[enum.Enum]):
        if isinstance(value, kind):
            return value
        if value in (None, ""):
            self.fail(name, "required", "must not be empty")
            return None
        try:
            return kind(value)
        except ValueError:
            self.fail(name, "choice", "must be one of: " + ", ".join(m.value for m in kind))
            return None

    def flag(self, name: str, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if value in (None, "", 0, "0", "false", "off", "no"):
            return False
        if value in (1, "1", "true", "on", "yes"):
            return True
        self.fail(name, "invalid", "Not a valid boolean.")
        return False

    def row(self, session: Session, name: str, model, row_id: Any, what: str, required: bool = True):
        if row_id in (None, ""):
            if required:
                self.fail(name, "required", "must not be empty")
            return None
        if isinstance(row_id, bool) or not isinstance(row_id, int):
            try:
                row_id = int(row_id)
            except (TypeError, ValueError):
                self.fail(name, "unknown", f"no {what} with id {row_id!r}", what=what)
                return None
        if not 1 <= row_id <= ID_MAX:  # beyond what the database stores: no such row
            self.fail(name, "unknown", f"no {what} with id {row_id}", what=what)
            return None
        found = session.get(model, row_id)
        if found is None:
            self.fail(name, "unknown", f"no {what} with id {row_id}", what=what)
        return found

    def done(self, message: str) -> None:
        if self.reasons:
            raise OrganizationInvalid(message, self.reasons)


def _get(session: Session, model, row_id: int, what: str):
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"no {what} with id {row_id}")
    return row


# -- reading ---------------------------------------------------------------------------------------


@dataclass
class UnitNode:
    unit: Unit
    heads: Heads


@dataclass
class RegionNode:
    region: Region
    depth: int
    heads: Heads
    units: list[UnitNode]


def region_tree(session: Session) -> list[RegionNode]:
    """Every region, city first and each followed by the regions below it, with its units,
    their heads and the region's Party and government heads."""
    return [_node(session, region, depth) for region, depth in _tree_order(session)]


def regions_page(session: Session, number: int, size: int) -> paging.Paged:
    """One page of `region_tree`: the order is worked out from the regions alone (one query),
    the heads only for the page's regions and their units."""
    order = _tree_order(session)
    return paging.Paged([_node(session, region, depth) for region, depth in order[(number - 1) * size:number * size]],
                        len(order))


def units_page(session: Session, region_id: int | None, number: int, size: int) -> paging.Paged:
    """One page of the units in the tree's order (of one region when `region_id` is given);
    the caller reads the heads of the page's units."""
    units = [unit for region, _ in _tree_order(session) if region_id is None or region.id == region_id
             for unit in _units_in_order(region)]
    return paging.Paged(units[(number - 1) * size:number * size], len(units))


def _tree_order(session: Session) -> list[tuple[Region, int]]:
    """Every region with its depth, each followed by the regions below it."""
    regions = session.scalars(select(Region).options(selectinload(Region.units)).order_by(Region.id)).all()
    children: dict[int | None, list[Region]] = {}
    for region in regions:
        children.setdefault(region.parent_id, []).append(region)
    known = {region.id for region in regions}
    order: list[tuple[Region, int]] = []

    def walk(region: Region, depth: int) -> None:
        order.append((region, depth))
        for child in children.get(region.id, []):
            walk(child, depth + 1)

    for root in [r for r in regions if r.parent_id is None or r.parent_id not in known]:
        walk(root, 0)
    return order


def _units_in_order(region: Region) -> list[Unit]:
    return sorted(region.units, key=lambda u: (_UNIT_ORDER.index(u.kind), u.id))


def _node(session: Session, region: Region, depth: int) -> RegionNode:
    return RegionNode(region, depth, region_heads(session, region),
                      [UnitNode(unit, unit_heads(session, unit)) for unit in _units_in_order(region)])


_UNIT_ORDER = [UnitKind.PARTY_COMMITTEE, UnitKind.GOVERNMENT, UnitKind.OFFICE, UnitKind.DISCIPLINE,
               UnitKind.DEPARTMENT, UnitKind.OTHER]


def units_by_region(session: Session) -> list[tuple[Region, list[Unit]]]:
    """The units grouped by region, in the tree's order (for choosing one)."""
    return [(node.region, [u.unit for u in node.units]) for node in region_tree(session) if node.units]


def posts_page(session: Session, official_id: int, number: int, size: int) -> paging.Paged:
    """One page of an official's posts, head posts first, then by id."""
    get_official(session, official_id)
    statement = (select(Post).where(Post.official_id == official_id)
                 .order_by(Post.is_head.desc(), Post.id))
    return paging.page(session, statement, number, size, selectinload(Post.unit))


def officials_query(search: str | None = None):
    statement = select(Official)
    if search:
        statement = statement.where(Official.name.contains(search.strip(), autoescape=True))
    return statement


def officials_page(session: Session, search: str | None, page: int, per_page: int) -> tuple[list[Official], int]:
    statement = officials_query(search)
    total = session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = session.scalars(statement.order_by(Official.name, Official.id).offset((page - 1) * per_page)
                           .limit(per_page).options(selectinload(Official.posts).selectinload(Post.unit),
                                                    selectinload(Official.user))).all()
    return list(rows), total


def users_page(session: Session, search: str | None, page: int, per_page: int) -> tuple[list[User], int]:
    statement = select(User)
    if search:
        text = search.strip()
        statement = statement.where(or_(User.username.contains(text, autoescape=True),
                                        User.display_name.contains(text, autoescape=True)))
    total = session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = session.scalars(statement.order_by(User.username).offset((page - 1) * per_page).limit(per_page)
                           .options(selectinload(User.official))).all()
    return list(rows), total


def officials_without_account(session: Session) -> list[Official]:
    return list(session.scalars(select(Official).outerjoin(User, User.official_id == Official.id)
                                .where(User.id.is_(None)).order_by(Official.name, Official.id)))


def get_region(session: Session, region_id: int) -> Region:
    return _get(session, Region, region_id, "region")


def get_unit(session: Session, unit_id: int) -> Unit:
    return _get(session, Unit, unit_id, "unit")


def get_official(session: Session, official_id: int) -> Official:
    return _get(session, Official, official_id, "official")


def get_user(session: Session, user_id: int) -> User:
    return _get(session, User, user_id, "user")


# -- regions and units -----------------------------------------------------------------------------


def _region_name(session: Session, checks: Checks, name: str | None, region: Region | None = None) -> None:
    if name and checks.ok("name"):
        other = session.scalar(select(Region.id).where(Region.name == name))
        if other is not None and (region is None or other != region.id):
            checks.fail("name", "taken", f"a region named {name} exists already", value=name)


def create_region(session: Session, actor: User | None, name: Any, level: Any, parent_id: Any = None) -> Region:
    checks = Checks()
    name = checks.text("name", name, 100)
    level = checks.choice("level", level, RegionLevel)
    parent = checks.row(session, "parent_id", Region, parent_id, "region", required=False)
    _region_name(session, checks, name, None)
    if level is not None and checks.ok("parent_id"):
        if level == RegionLevel.CITY and parent is not None:
            checks.fail("parent_id", "city_no_parent", "a city is the top level: it has no parent")
        elif level == RegionLevel.TOWNSHIP and parent is None:
            checks.fail("parent_id", "parent_needed", "a township lies in a county or a city: choose it")
        elif parent is not None and LEVEL_RANK[parent.level] >= LEVEL_RANK[level]:
            checks.fail("parent_id", "parent_level", f"the parent must be of a higher level than {level.value}",
                        level=level.value, parent_level=parent.level.value)
    checks.done("the region has errors")
    region = Region(name=name, level=level, parent=parent)
    session.add(region)
    session.flush()
    ledger.record(session, Action.REGION_CREATED, actor=actor, subject_type="region", subject_id=region.id,
                  payload={"name": name, "level": level.value, "parent_id": parent.id if parent else None,
                           "parent": parent.name if parent else None})
    return region


def rename_region(session: Session, actor: User | None, region_id: int, name: Any) -> Region:
    region = get_region(session, region_id)
    checks = Checks()
    name = checks.text("name", name, 100)
    _region_name(session, checks, name, region)
    checks.done("the region has errors")
    before = region.name
    if name != before:
        region.name = name
        session.flush()
        ledger.record(session, Action.REGION_RENAMED, actor=actor, subject_type="region", subject_id=region.id,
                      payload={"from": before, "to": name})
    return region


def _unit_name(session: Session, checks: Checks, name: str | None, unit: Unit | None) -> None:
    if name and checks.ok("name"):
        other = session.scalar(select(Unit.id).where(Unit.name == name))
        if other is not None and (unit is None or other != unit.id):
            checks.fail("name", "taken", f"a unit named {name} exists already", value=name)


def create_unit(session: Session, actor: User | None, name: Any, kind: Any, region_id: Any,
                short_name: Any = None) -> Unit:
    checks = Checks()
    name = checks.text("name", name, 100)
    short_name = checks.text("short_name", short_name, 40, required=False)
    kind = checks.choice("kind", kind, UnitKind)
    region = checks.row(session, "region_id", Region, region_id, "region")
    _unit_name(session, checks, name, None)
    if kind in ONE_PER_REGION and region is not None:
        other = session.scalars(select(Unit).where(Unit.region_id == region.id, Unit.kind == kind)).first()
        if other is not None:
            checks.fail("kind", "one_per_region", f"{region.name} has its {kind.value} already: {other.name}",
                        kind=kind.value, name=other.name)
    checks.done("the unit has errors")
    unit = Unit(name=name, short_name=short_name, kind=kind, region=region)
    session.add(unit)
    session.flush()
    ledger.record(session, Action.UNIT_CREATED, actor=actor, subject_type="unit", subject_id=unit.id,
                  payload={"name": name, "short_name": short_name, "kind": kind.value, "region_id": region.id,
                           "region": region.name})
    return unit


def rename_unit(session: Session, actor: User | None, unit_id: int, name: Any, short_name: Any = None) -> Unit:
    unit = get_unit(session, unit_id)
    checks = Checks()
    name = checks.text("name", name, 100)
    short_name = checks.text("short_name", short_name, 40, required=False)
    _unit_name(session, checks, name, unit)
    checks.done("the unit has errors")
    before = {"name": unit.name, "short_name": unit.short_name}
    after = {"name": name, "short_name": short_name}
    if before != after:
        unit.name, unit.short_name = name, short_name
        session.flush()
        ledger.record(session, Action.UNIT_RENAMED, actor=actor, subject_type="unit", subject_id=unit.id,
                      payload={"from": before, "to": after})
    return unit


# -- officials and posts ---------------------------------------------------------------------------


def _official_fields(checks: Checks, name, gender, email, mobile, employee_number=None) -> dict:
    values = {"name": checks.text("name", name, 60),
              "gender": checks.text("gender", gender, 4, required=False),
              "email": checks.text("email", email, 200, required=False),
              "mobile": checks.text("mobile", mobile, 20, required=False),
              "employee_number": checks.text("employee_number", employee_number, 40, required=False)}
    if values["gender"] and values["gender"] not in ("男", "女"):
        checks.fail("gender", "choice", "must be 男 or 女")
    if values["email"] and checks.ok("email") and not EMAIL.match(values["email"]):
        checks.fail("email", "email", "Not a valid email address.")
    if values["mobile"] and checks.ok("mobile") and not MOBILE.match(values["mobile"]):
        checks.fail("mobile", "mobile", "Not a valid telephone number.")
    return values


def _employee_number_free(session: Session, checks: Checks, number: str | None, official_id: int | None) -> None:
    """工号 links an official to the identity platform's account: one official per number."""
    if number and checks.ok("employee_number"):
        holder = session.scalars(select(Official).where(Official.employee_number == number)).first()
        if holder is not None and holder.id != official_id:
            checks.fail("employee_number", "taken", f"{holder.name} has the employee number {number}",
                        name=holder.name, value=number)


def create_official(session: Session, actor: User | None, name: Any, party_member: Any = False, gender: Any = None,
                    email: Any = None, mobile: Any = None, employee_number: Any = None) -> Official:
    checks = Checks()
    values = _official_fields(checks, name, gender, email, mobile, employee_number)
    _employee_number_free(session, checks, values["employee_number"], None)
    values["party_member"] = checks.flag("party_member", party_member)
    checks.done("the official has errors")
    official = Official(**values)
    session.add(official)
    session.flush()
    ledger.record(session, Action.OFFICIAL_CREATED, actor=actor, subject_type="official",
                  subject_id=official.id, payload=values)
    return official


def update_official(session: Session, actor: User | None, official_id: int, **changes) -> Official:
    """Change an official's name, Party membership, gender, email, mobile or employee number
    (what is given)."""
    official = get_official(session, official_id)
    current = {"name": official.name, "party_member": official.party_member, "gender": official.gender,
               "email": official.email, "mobile": official.mobile, "employee_number": official.employee_number}
    unknown = set(changes) - set(current)
    if unknown:
        raise OrganizationInvalid("unknown fields", {n: [Reason("unknown_field", "Unknown field.")] for n in unknown})
    merged = {**current, **changes}
    checks = Checks()
    values = _official_fields(checks, merged["name"], merged["gender"], merged["email"], merged["mobile"],
                              merged["employee_number"])
    _employee_number_free(session, checks, values["employee_number"], official.id)
    values["party_member"] = checks.flag("party_member", merged["party_member"])
    checks.done("the official has errors")
    changed = {key: {"from": current[key], "to": value} for key, value in values.items() if current[key] != value}
    if changed:
        for key, value in values.items():
            setattr(official, key, value)
        session.flush()
        ledger.record(session, Action.OFFICIAL_UPDATED, actor=actor, subject_type="official",
                      subject_id=official.id, payload={"changed": changed})
    return official


def _heads_of(session: Session, unit: Unit, side: Side, leaving: Post | None = None) -> list[Post]:
    posts = session.scalars(select(Post).where(Post.unit_id == unit.id, Post.is_head.is_(True)).order_by(Post.id))
    return [p for p in posts if Side.of(p.kind) == side and p is not leaving]


def open_problems_relying_on(session: Session, unit: Unit) -> int:
    """Unfinished problems whose lane assignment or escalation reads this unit's heads."""
    cooperating = select(problem_cooperating_unit.c.problem_id).where(problem_cooperating_unit.c.unit_id == unit.id)
    conditions = [Problem.lead_unit_id == unit.id, Problem.industry_unit_id == unit.id, Problem.id.in_(cooperating)]
    if unit.kind in ONE_PER_REGION:
        conditions.append(Problem.region_id == unit.region_id)
    return session.scalar(select(func.count(Problem.id)).where(Problem.status != ProblemStatus.CLOSED,
                                                             or_(*conditions))) or 0


def ready_tasks_of_unit(session: Session, unit: Unit) -> int:
    return session.scalar(select(func.count(HumanTask.id)).where(HumanTask.candidate_unit_id == unit.id,
                                                               HumanTask.state == TaskState.READY)) or 0


def _active_members(session: Session, unit: Unit) -> int:
    """Active accounts that act for the unit through a post in it."""
    return session.scalar(select(func.count(func.distinct(User.id))).join(Post, Post.official_id == User.official_id)
                          .where(Post.unit_id == unit.id, User.active.is_(True))) or 0


def _post_view(post: Post) -> dict:
    return {"post_id": post.id, "official_id": post.official_id, "official": post.official.name,
            "unit_id": post.unit_id, "unit": post.unit.name, "title": post.title, "kind": post.kind.value,
            "is_head": post.is_head}


def add_post(session: Session, actor: User | None, official_id: int, unit_id: Any, title: Any, kind: Any,
             is_head: Any = False, succeed: Any = False) -> Post:
    """Give an official a post. A head post where the unit already has a head of that side is
    refused unless `succeed`: then the predecessor's head post ends in this transaction."""
    official = get_official(session, official_id)
    checks = Checks()
    unit = checks.row(session, "unit_id", Unit, unit_id, "unit")
    title = checks.text("title", title, 60)
    kind = checks.choice("kind", kind, PostKind)
    is_head = checks.flag("is_head", is_head)
    succeed = checks.flag("succeed", succeed)
    predecessors: list[Post] = []
    if unit is not None and title and checks.ok("title"):
        taken = session.scalar(select(Post.id).where(Post.official_id == official.id, Post.unit_id == unit.id,
                                                     Post.title == title))
        if taken is not None:
            checks.fail("title", "post_taken", f"{official.name} holds {title} in {unit.name} already",
                        official=official.name, title=title, unit=unit.name)
    if unit is not None and kind is not None and is_head:
        if unit.kind == UnitKind.PARTY_COMMITTEE and kind != PostKind.PARTY:
            checks.fail("kind", "head_kind", "the head of a Party committee holds a Party post")
        side = Side.of(kind)
        predecessors = [p for p in _heads_of(session, unit, side) if p.official_id != official.id or succeed]
        own = [p for p in _heads_of(session, unit, side) if p.official_id == official.id]
        if own and not succeed:
            checks.fail("is_head", "already_head", f"{official.name} heads {unit.name} already ({own[0].title})",
                        name=official.name, title=own[0].title, side=side.value)
        elif predecessors and not succeed:
            head = predecessors[0]
            checks.fail("is_head", "second_head",
                        f"{unit.name} has its {side.value} head already: {head.official.name} ({head.title}); "
                        "add this post with succeed to replace them", side=side.value, name=head.official.name,
                        title=head.title)
    if succeed and not (is_head and predecessors):
        checks.fail("succeed", "nothing_to_succeed", "only a head post succeeds the unit's current head of its side")
    checks.done("the post has errors")
    ended = []
    members_before = _active_members(session, unit) if predecessors else 0
    for predecessor in predecessors:
        ended.append(_post_view(predecessor))
        session.delete(predecessor)
    session.flush()
    post = Post(official=official, unit=unit, title=title, kind=kind, is_head=is_head)
    session.add(post)
    session.flush()
    if members_before and not _active_members(session, unit):
        ready = ready_tasks_of_unit(session, unit)
        if ready:  # the successor has no account: nobody would be left to do the unit's tasks
            checks.fail("succeed", "last_member", f"{unit.name} has {ready} ready task(s) offered to it and nobody "
                        "else with an active account acts for it", count=ready, unit=unit.name)
            checks.done("the post has errors")  # the transaction rolls back
    for view in ended:
        ledger.record(session, Action.POST_ENDED, actor=actor, subject_type="post", subject_id=view["post_id"],
                      payload={**view, "succeeded_by": official.name, "succeeded_by_post_id": post.id})
    ledger.record(session, Action.POST_ADDED, actor=actor, subject_type="post", subject_id=post.id,
                  payload={**_post_view(post), "succeeds": [v["official"] for v in ended]})
    return post


@dataclass(frozen=True)
class Consequences:
    """What ending a post would do, and whether the engine can do without it."""

    post: dict
    open_problems: int        # unfinished problems relying on the unit's head of this side
    ready_tasks: int          # ready tasks offered to the unit
    members_left: int         # active accounts still acting for the unit afterwards
    personal_tasks: int       # ready tasks assigned to the official's account by name (they stay)
    reasons: tuple[Reason, ...]

    @property
    def allowed(self) -> bool:
        return not self.reasons


def consequences_of_ending(session: Session, post: Post) -> Consequences:
    unit, official = post.unit, post.official
    reasons: list[Reason] = []
    open_problems = 0
    if post.is_head:
        side = Side.of(post.kind)
        others = _heads_of(session, unit, side, leaving=post)
        if not others:
            open_problems = open_problems_relying_on(session, unit)
            if open_problems:
                reasons.append(Reason(
                    "head_needed", f"{unit.name} has {open_problems} unfinished problem(s) that rely on its "
                    f"{side.value} head; appoint the successor (a head post added with succeed) instead",
                    {"count": open_problems, "side": side.value, "unit": unit.name}))
    ready = ready_tasks_of_unit(session, unit)
    members = _active_members(session, unit)
    still_member = any(p.unit_id == unit.id and p.id != post.id for p in official.posts)
    has_account = official.user is not None and official.user.active
    members_left = members - (1 if has_account and not still_member else 0)
    if ready and members_left == 0 and members > 0:
        reasons.append(Reason(
            "last_member", f"{unit.name} has {ready} ready task(s) offered to it and nobody else with an active "
            "account acts for it", {"count": ready, "unit": unit.name}))
    personal = 0
    if official.user is not None:
        personal = session.scalar(select(func.count(HumanTask.id)).where(
            HumanTask.assignee_id == official.user.id, HumanTask.state == TaskState.READY)) or 0
    return Consequences(_post_view(post), open_problems, ready, members_left, personal, tuple(reasons))


def end_post(session: Session, actor: User | None, official_id: int, post_id: int, note: Any = None) -> dict:
    """End (remove) a post, if the engine can do without it; the ledger keeps what it was."""
    official = get_official(session, official_id)
    post = session.get(Post, post_id)
    if post is None or post.official_id != official.id:
        raise NotFound(f"{official.name} holds no post with id {post_id}")
    checks = Checks()
    note = checks.text("note", note, 200, required=False)
    outcome = consequences_of_ending(session, post)
    for reason in outcome.reasons:
        checks.reasons.setdefault("post", []).append(reason)
    checks.done("this post cannot end now")
    view = outcome.post
    session.delete(post)
    session.flush()
    ledger.record(session, Action.POST_ENDED, actor=actor, subject_type="post", subject_id=post_id,
                  payload={**view, "note": note, "unit_ready_tasks": outcome.ready_tasks,
                           "unit_members_left": outcome.members_left,
                           "personal_ready_tasks_kept": outcome.personal_tasks})
    return view


# -- users and roles -------------------------------------------------------------------------------


def _roles(checks: Checks, roles: Any) -> set[Role]:
    if isinstance(roles, (str, Role)):
        roles = [roles]
    if not isinstance(roles, Iterable):
        checks.fail("roles", "invalid", "Not a valid list.")
        return set()
    found: set[Role] = set()
    for value in roles:
        try:
            found.add(Role(value))
        except ValueError:
            checks.fail("roles", "choice", "must be among: " + ", ".join(r.value for r in Role))
            return set()
    if not found:
        checks.fail("roles", "required", "choose at least one role")
    separated = [role for role in SEPARATED_ADMINS if role in found]
    if len(separated) > 1:  # 三员分立
        checks.fail("roles", "separated_admins",
                    f"{' and '.join(r.value for r in separated)} are separated administrators (三员分立): "
                    "no account holds two of them", roles=", ".join(r.value for r in separated))
    return found


def _grants_allowed(checks: Checks, actor: User | None, changed: set[Role]) -> None:
    """三员分立: the security administrator grants and revokes the privileged roles (the three
    administrators and the discipline office); the system administrator gives the working ones
    (official, leader) with the accounts it keeps. The command line (no actor) does both."""
    privileged = sorted(changed & set(GRANTED_BY_SECURITY_ADMIN), key=list(Role).index)
    if actor is not None and privileged and not actor.has_role(Role.SECURITY_ADMIN):
        checks.fail("roles", "security_admin_grants",
                    f"{', '.join(r.value for r in privileged)}: granted and revoked by the security "
                    "administrator (三员分立)", roles=", ".join(r.value for r in privileged))


def _password(checks: Checks, password: Any, username: str | None, name: str = "password") -> str | None:
    """The password policy (engine/password_policy.py)."""
    if not isinstance(password, str) or not password:
        checks.fail(name, "required", "must not be empty")
        return None
    broken = password_policy.problems(password, username)
    if broken is not None:
        checks.fail(name, broken.code, broken.message, **broken.params)
    return password


def _free_official(session: Session, checks: Checks, official_id: Any, user: User | None) -> Official | None:
    official = checks.row(session, "official_id", Official, official_id, "official", required=False)
    if official is not None and official.user is not None and (user is None or official.user.id != user.id):
        checks.fail("official_id", "official_linked",
                    f"{official.name} signs in as {official.user.username} already",
                    name=official.name, username=official.user.username)
    return official


def _policy(session: Session) -> session_policy.Policy:
    """The session and password policy as far as setting passwords goes (not the idle time)."""
    return session_policy.current(session, SignInSettings())


def _active_admins(session: Session) -> set[int]:
    return set(session.scalars(select(User.id).join(UserRole).where(UserRole.role == Role.ADMIN,
                                                                   User.active.is_(True))))


def create_user(session: Session, actor: User | None, username: Any, display_name: Any, password: Any,
                roles: Any, official_id: Any = None) -> User:
    checks = Checks()
    username = checks.text("username", username, 60)
    if username and checks.ok("username"):
        if not USERNAME.match(username):
            checks.fail("username", "username_format",
                        "3 to 60 letters, digits, '.', '_' or '-', beginning with a letter or digit")
        elif session.scalar(select(User.id).where(func.lower(User.username) == username.lower())) is not None:
            checks.fail("username", "taken", f"the username {username} is taken", value=username)
    display_name = checks.text("display_name", display_name, 60)
    password = _password(checks, password, username if isinstance(username, str) else None)
    roles = _roles(checks, roles)
    _grants_allowed(checks, actor, roles)
    official = _free_official(session, checks, official_id, None)
    checks.done("the user has errors")
    user = accounts.create_user(session, username, display_name, password, roles,
                                official.id if official else None)
    passwords.record(session, user)  # its age, its history; its owner changes it first
    user.must_change_password = actor is not None and _policy(session).force_change
    ledger.record(session, Action.USER_CREATED, actor=actor, subject_type="user", subject_id=user.id,
                  payload={"username": username, "display_name": display_name,
                           "roles": sorted(r.value for r in roles),
                           "official_id": official.id if official else None,
                           "official": official.name if official else None})
    security_log.record(session, Kind.ACCOUNT_CREATED, actor=actor, object=f"user:{user.username}",
                        details={"roles": sorted(r.value for r in roles)})
    for role in sorted(roles):
        security_log.record(session, Kind.ROLE_GRANTED, actor=actor, object=f"user:{user.username}",
                            details={"role": role.value})
    return user


_UNSET = object()


def update_user(session: Session, actor: User | None, user_id: int, display_name: Any = _UNSET,
                roles: Any = _UNSET, official_id: Any = _UNSET) -> User:
    """Change a user's display name, roles or linked official (what is given). Nobody changes
    their own roles, the privileged ones are the security administrator's to give
    (`_grants_allowed`), and one active administrator always remains."""
    user = get_user(session, user_id)
    checks = Checks()
    before = {"display_name": user.display_name, "roles": sorted(r.value for r in user.roles),
              "official_id": user.official_id}
    after = dict(before)
    if display_name is not _UNSET:
        after["display_name"] = checks.text("display_name", display_name, 60)
    new_roles = None
    if roles is not _UNSET:
        new_roles = _roles(checks, roles)
        after["roles"] = sorted(r.value for r in new_roles)
        if new_roles and new_roles != user.roles:
            if actor is not None and actor.id == user.id:
                checks.fail("roles", "own_roles", "nobody changes their own roles")
            else:
                _grants_allowed(checks, actor, new_roles ^ user.roles)
                if (checks.ok("roles") and Role.ADMIN in user.roles and Role.ADMIN not in new_roles
                        and user.active and _active_admins(session) == {user.id}):
                    checks.fail("roles", "last_admin", "the last active administrator keeps the role")
    if official_id is not _UNSET:
        official = _free_official(session, checks, official_id, user)
        after["official_id"] = official.id if official else None
    checks.done("the user has errors")
    if after == before:
        return user
    user.display_name = after["display_name"]
    if new_roles is not None and set(after["roles"]) != set(before["roles"]):
        keep = [row for row in user.role_rows if row.role in new_roles]
        user.role_rows = keep + [UserRole(role=r) for r in sorted(new_roles - user.roles)]
    user.official_id = after["official_id"]
    session.flush()
    session.expire(user, ["official"])
    ledger.record(session, Action.USER_UPDATED, actor=actor, subject_type="user", subject_id=user.id,
                  payload={"username": user.username,
                           "changed": {k: {"from": before[k], "to": after[k]} for k in before if before[k] != after[k]}})
    for kind, roles_ in ((Kind.ROLE_GRANTED, set(after["roles"]) - set(before["roles"])),
                         (Kind.ROLE_REVOKED, set(before["roles"]) - set(after["roles"]))):
        for role in sorted(roles_):
            security_log.record(session, kind, actor=actor, object=f"user:{user.username}", details={"role": role})
    return user


def reset_password(session: Session, actor: User | None, user_id: int, password: Any) -> User:
    user = get_user(session, user_id)
    checks = Checks()
    password = _password(checks, password, user.username)
    checks.done("the password has errors")
    passwords.set_password(session, user, password, by_administrator=actor is not None and actor.id != user.id,
                           policy=_policy(session))  # its owner changes it first (the policy's force_change)
    sign_in.end_sessions(user, tokens=True, because="password_reset", actor=actor)  # whoever held the old password is out
    session.flush()
    ledger.record(session, Action.USER_PASSWORD_RESET, actor=actor, subject_type="user", subject_id=user.id,
                  payload={"username": user.username})
    security_log.record(session, Kind.PASSWORD_RESET, actor=actor, object=f"user:{user.username}")
    return user


def set_active(session: Session, actor: User | None, user_id: int, active: Any) -> User:
    """Deactivate (the account can no longer sign in, nor use a token it holds) or reactivate.
    Nobody deactivates themself; the last active administrator stays."""
    user = get_user(session, user_id)
    checks = Checks()
    active = checks.flag("active", active)
    if not active and user.active:
        if actor is not None and actor.id == user.id:
            checks.fail("active", "self_deactivate", "you cannot deactivate your own account")
        elif Role.ADMIN in user.roles and _active_admins(session) == {user.id}:
            checks.fail("active", "last_admin", "the last active administrator stays active")
    checks.done("the account cannot change")
    if user.active == active:
        return user
    user.active = active
    if not active:
        sign_in.end_sessions(user, tokens=True, because="account_disabled", actor=actor)
    session.flush()
    personal = session.scalar(select(func.count(HumanTask.id)).where(
        HumanTask.assignee_id == user.id, HumanTask.state == TaskState.READY)) or 0
    ledger.record(session, Action.USER_REACTIVATED if active else Action.USER_DEACTIVATED, actor=actor,
                  subject_type="user", subject_id=user.id,
                  payload={"username": user.username, "ready_tasks_assigned": personal})
    security_log.record(session, Kind.ACCOUNT_ENABLED if active else Kind.ACCOUNT_DISABLED, actor=actor,
                        object=f"user:{user.username}")
    return user


def patch_user(session: Session, actor: User | None, user_id: int, display_name: Any = _UNSET, roles: Any = _UNSET,
               official_id: Any = _UNSET, active: Any = _UNSET, password: Any = _UNSET) -> User:
    """Several changes to one account at once (the API's PATCH): all of them or none, since the
    caller's transaction rolls back at the first refusal."""
    user = get_user(session, user_id)
    if any(value is not _UNSET for value in (display_name, roles, official_id)):
        update_user(session, actor, user_id, display_name, roles, official_id)
    if active is not _UNSET:
        set_active(session, actor, user_id, active)
    if password is not _UNSET:
        reset_password(session, actor, user_id, password)
    return user


def ready_tasks_assigned(session: Session, user: User) -> int:
    return session.scalar(select(func.count(HumanTask.id)).where(
        HumanTask.assignee_id == user.id, HumanTask.state == TaskState.READY)) or 0
