"""Organisation gaps (组织缺口): 党政同责 holds or nothing fires.

A rung whose `*_heads` target finds a region or unit without its
Party head or its government head does not fire with fewer targets: it is held as a gap (one
row per firing key: the problem, the rung, the region or unit, which post is vacant, since
when) and the rectification office is told once. Every sweep looks again; the moment both
heads of every level the rung names are entered, the rung fires and its escalation records
how long it was held (`held_since`). A gap holds only its own rung of its own problem.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, cast, func, literal, select
from sqlalchemy.orm import Session, selectinload

from .. import ledger, notifications, paging
from ..ledger import Action
from ..models import OrganisationGap, Problem, ProblemStatus, Role, User
from ..organization import Heads
from .ladder import deadline_key
from .targets import HEAD_TARGETS, heads_of

SIDES = {"party": "党委（党组）书记", "government": "行政主要负责人"}


def head_targets(names: list[str]) -> list[str]:
    """The `*_heads` targets a rule names. `chain` (问责: every official in the chain) names
    people, not pairs of heads: it reaches whoever holds a post and is never held."""
    return [n for n in HEAD_TARGETS if n in names]


def missing_heads(session: Session, problem: Problem, names: list[str], heads: dict | None = None) -> list[dict]:
    """Each vacant head post among the levels the targets name: {"target", "where", "id",
    "name", "side"}; empty when every level has both heads. The one rule of a hold: the sweep
    holds a rung when this is not empty, and the forecast says so beforehand (`heads`
    remembers the heads read, as in targets.resolve)."""
    places = []
    for target in head_targets(names):
        if target == "region_heads":
            places.append((target, "region", problem.region))
        elif target == "lead_unit_heads":
            places.append((target, "unit", problem.lead_unit))
        elif target == "industry_unit_heads" and problem.industry_unit is not None:
            places.append((target, "unit", problem.industry_unit))
        elif target == "cooperating_unit_heads":
            places += [(target, "unit", unit) for unit in problem.cooperating_units]
    found, seen = [], set()
    for target, where, place in places:
        for side in _vacant(heads_of(session, where, place, heads)):
            if (where, place.id, side) not in seen:
                seen.add((where, place.id, side))
                found.append({"target": target, "where": where, "id": place.id, "name": place.name, "side": side})
    return found


def _vacant(heads: Heads) -> list[str]:
    return [side for side, official in (("party", heads.party), ("government", heads.government)) if official is None]


def describe_missing(missing: list[dict]) -> str:
    """南岭县（缺行政主要负责人）、南岭县住房和城乡建设局（缺党委（党组）书记）"""
    return "、".join(f"{m['name']}（缺{SIDES[m['side']]}）" for m in missing)


def hold(session: Session, problem: Problem, rule: dict, key: str, missing: list[dict], now: datetime,
         channels=None) -> OrganisationGap:
    """Record (or refresh) the gap that holds this rung, in the caller's transaction; the office
    is told when the gap is first found."""
    gap = session.scalars(select(OrganisationGap).where(OrganisationGap.key == key)).first()
    if gap is not None:
        gap.checked_at = now
        if gap.missing != missing:
            gap.missing = missing
        return gap
    gap = OrganisationGap(key=key, problem_id=problem.id, rule_code=rule["code"], rule_name=rule["name"],
                          level=rule["level"], missing=missing, since=now, checked_at=now)
    session.add(gap)
    session.flush()
    ledger.record(session, Action.ESCALATION_HELD, actor=None, subject_type="organisation_gap", subject_id=gap.id,
                  problem_id=problem.id, payload={"key": key, "rule": rule["code"], "level": rule["level"],
                                                  "missing": missing})
    offices = session.scalars(select(User).where(User.active.is_(True))).all()
    notifications.notify(
        session, users=[u for u in offices if u.has_role(Role.ADMIN)],
        subject=f"督办暂缓：{problem.code} 第{rule['level']}级 {rule['name']}缺党政主要负责人",
        body=(f"问题 {problem.code}「{problem.title}」的第{rule['level']}级督办「{rule['name']}」已到期，"
              f"但{describe_missing(missing)}，按党政同责不能只督办一方，暂缓发出。"
              f"请在“管理 · 人员与职务”补录主要负责人，补录后将立即发出。"),
        kind="organisation_gap", problem_id=problem.id, channels=channels,
        payload={"gap_id": gap.id, "key": key, "level": rule["level"], "rule": rule["code"]})
    return gap


def close(session: Session, key: str, escalation, now: datetime) -> OrganisationGap | None:
    """The rung fired: its gap (if any) is resolved, and the escalation remembers since when it was held."""
    with session.no_autoflush:  # a gap is written when it is held, never in the firing that closes it
        gap = session.scalars(select(OrganisationGap).where(OrganisationGap.key == key,
                                                            OrganisationGap.resolved_at.is_(None))).first()
    if gap is None:
        return None
    gap.resolved_at = now
    gap.escalation_id = escalation.id
    escalation.held_since = gap.since
    return gap


def open_gaps(session: Session, region_ids: set[int] | None = None) -> list[OrganisationGap]:
    """The gaps holding a rung now, oldest first (optionally of problems in these regions)."""
    statement = select(OrganisationGap).where(OrganisationGap.resolved_at.is_(None)).options(
        selectinload(OrganisationGap.problem))
    if region_ids is not None:
        statement = statement.join(Problem).where(Problem.region_id.in_(region_ids))
    return [gap for gap in session.scalars(statement.order_by(OrganisationGap.since, OrganisationGap.id))
            if live(gap)]


def live(gap: OrganisationGap) -> bool:
    """Still holding its rung: the problem is not closed (销号) and its deadline has not moved
    (an approved extension makes the ladder count again, under a new key)."""
    problem = gap.problem
    if problem.status == ProblemStatus.CLOSED:
        return False
    return gap.key == deadline_key(problem, {"code": gap.rule_code, "level": gap.level}, problem.deadline)


def page(session: Session, state: str, number: int, size: int) -> paging.Paged:
    """One page of the gaps by state, oldest first, counted and sliced in SQL: open (holding a
    rung now: not resolved, the problem not closed and the key naming the problem's deadline
    as it stands, what `live` checks), resolved (fired since), all (those whose problem closed
    or whose deadline moved before they fired included)."""
    statement = select(OrganisationGap)
    if state == "open":
        deadline = func.coalesce(cast(Problem.deadline, String), literal("none"))
        statement = statement.join(Problem, Problem.id == OrganisationGap.problem_id).where(
            OrganisationGap.resolved_at.is_(None), Problem.status != ProblemStatus.CLOSED,
            OrganisationGap.key.endswith(literal(":d") + deadline))
    elif state == "resolved":
        statement = statement.where(OrganisationGap.resolved_at.is_not(None))
    return paging.page(session, statement.order_by(OrganisationGap.since, OrganisationGap.id), number, size,
                       selectinload(OrganisationGap.problem))


def fillable(session: Session) -> list[OrganisationGap]:
    """Open gaps whose heads are all entered now: their rungs fire at the next cycle."""
    found = []
    for gap in open_gaps(session):
        problem = session.get(Problem, gap.problem_id)
        if not missing_heads(session, problem, sorted({m["target"] for m in gap.missing})):
            found.append(gap)
    return found
