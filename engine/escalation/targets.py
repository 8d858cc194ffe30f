"""Who an escalation reaches. 党政同责: a target that names heads always resolves to both the
Party head and the government head; the vocabulary has no word for one side alone."""
from __future__ import annotations

from sqlalchemy.orm import Session

from ..models import Official, Problem
from ..organization import Heads, region_heads, unit_heads

TARGETS = ("responsible_person", "lead_unit_heads", "leading_official", "region_heads",
           "cooperating_unit_heads", "industry_unit_heads", "chain")
NOTIFY_TARGETS = TARGETS + ("subject_official",)  # the official an accountability case is about
HEAD_TARGETS = ("lead_unit_heads", "region_heads", "cooperating_unit_heads", "industry_unit_heads")


def _person(official: Official | None, role: str) -> list[dict]:
    return [_entry(official, role, "person")] if official else []


def _heads(heads: Heads, role: str, where: str) -> list[dict]:
    if heads.party is not None and heads.government is not None and heads.party.id == heads.government.id:
        return [_entry(heads.party, role, "both", where)]  # one person holds both head posts
    found = []
    if heads.party is not None:
        found.append(_entry(heads.party, role, "party", where))
    if heads.government is not None:
        found.append(_entry(heads.government, role, "government", where))
    return found


def _entry(official: Official, role: str, side: str, where: str | None = None) -> dict:
    return {"official_id": official.id, "name": official.name, "role": role, "side": side, "of": where,
            "title": _title(official, where)}


def _title(official: Official, where: str | None) -> str | None:
    posts = sorted(official.posts, key=lambda p: (where is not None and p.unit.name != where, not p.is_head, p.id))
    return posts[0].title if posts else None


def heads_of(session: Session, where: str, place, heads: dict | None = None) -> Heads:
    """The Party and government heads of a region or a unit (`where`), remembered in `heads`
    when given, for a caller that reads many problems at once (a forecast)."""
    if heads is None:
        return region_heads(session, place) if where == "region" else unit_heads(session, place)
    if (where, place.id) not in heads:
        heads[(where, place.id)] = heads_of(session, where, place)
    return heads[(where, place.id)]


def resolve(session: Session, problem: Problem, names: list[str], heads: dict | None = None) -> list[dict]:
    """The officials the targets name, each once (first role kept), with their side. `heads`
    remembers the heads found, for a caller that resolves many problems at once (a forecast)."""
    heads = {} if heads is None else heads

    def of_unit(unit) -> Heads:
        return heads_of(session, "unit", unit, heads)

    def of_region(region) -> Heads:
        return heads_of(session, "region", region, heads)

    wanted = list(TARGETS[:-1]) if "chain" in names else names
    found: list[dict] = []
    for name in wanted:
        if name == "responsible_person":
            found += _person(problem.responsible_official, name)
        elif name == "leading_official":
            found += _person(problem.leading_official, name)
        elif name == "lead_unit_heads":
            found += _heads(of_unit(problem.lead_unit), name, problem.lead_unit.name)
        elif name == "industry_unit_heads" and problem.industry_unit is not None:
            found += _heads(of_unit(problem.industry_unit), name, problem.industry_unit.name)
        elif name == "cooperating_unit_heads":
            for unit in problem.cooperating_units:
                found += _heads(of_unit(unit), name, unit.name)
        elif name == "region_heads":
            found += _heads(of_region(problem.region), name, problem.region.name)
    unique, seen = [], set()
    for entry in found:
        if entry["official_id"] not in seen:
            seen.add(entry["official_id"])
            unique.append(entry)
    return unique


def describe(targets: list[dict]) -> str:
    """周书记（县委书记）、吴县长（县长）"""
    return "、".join(f"{t['name']}（{t['title']}）" if t.get("title") else t["name"] for t in targets)
