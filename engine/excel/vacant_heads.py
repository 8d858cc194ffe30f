"""The regions and units an import leaves without their heads (缺主要负责人的地区和单位).

An import creates the regions and units its rows name that Duban does not know; they come
without a Party head (党委（党组）书记) or a government head (行政主要负责人), and a rung of the
ladder that targets their heads is then held as an organisation gap
(engine/escalation/gaps.py) until the heads are entered. The dry run says so beforehand:
every region and unit the import would create, and every existing one its rows name that
already lacks a head, each with the sides missing, the rows that name it, and the overdue
rows whose entry rung (engine/excel/ladder_entry.py) targets its heads, which the ladder
would hold.

A confirmed import that creates any of them must accept them as gaps (`accept_gaps`); the
office's alternative is to enter the region or unit with its heads first (管理 · 区域与单位)
and import afterwards, when the import no longer creates it.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Invalid
from ..escalation.gaps import head_targets
from ..escalation.targets import TARGETS
from ..escalation.rules import Ladder
from ..models import Region, Unit
from ..organization import Heads, region_heads, unit_heads
from .importing import Plan, Planned

FIELD = "accept_gaps"
BOTH = ["party", "government"]


def survey(session: Session, plan: Plan, ladder: Ladder, entering: dict) -> list[dict]:
    """Each region and unit the plan's rows would leave without a head: {"kind" (region or
    unit), "name", "new" (the import creates it), "missing" (party, government), "rows" (the
    row numbers naming it), "row_count", "held" (the overdue rows whose entry rung targets its
    heads: row, code, level, rule, name, target)}; regions first, each in the order the rows
    name it. `entering` is the ladder report of the plan (ladder_entry.report)."""
    regions: dict[str, list[int]] = {}
    units: dict[str, list[int]] = {}
    for item in plan.problems:
        for name in _region_chain(plan, item.region):
            _name(regions, name, item.row)
        for name in [item.lead_unit, *item.cooperating_units]:
            _name(units, name, item.row)
    missing = {("region", name): BOTH for name in regions if name in plan.new_regions}
    missing |= {("unit", name): BOTH for name in units if name in plan.new_units}
    known_regions = [name for name in regions if name not in plan.new_regions]
    known_units = [name for name in units if name not in plan.new_units]
    if known_regions:
        for region in session.scalars(select(Region).where(Region.name.in_(known_regions))):
            vacant = _vacant(region_heads(session, region))
            if vacant:
                missing[("region", region.name)] = vacant
    if known_units:
        for unit in session.scalars(select(Unit).where(Unit.name.in_(known_units))):
            vacant = _vacant(unit_heads(session, unit))
            if vacant:
                missing[("unit", unit.name)] = vacant
    held = _held(plan, ladder, entering, missing)
    found = []
    for kind, named, new in (("region", regions, plan.new_regions), ("unit", units, plan.new_units)):
        for name, rows in named.items():
            if (kind, name) in missing:
                found.append({"kind": kind, "name": name, "new": name in new, "missing": missing[(kind, name)],
                              "rows": rows, "row_count": len(rows), "held": held.get((kind, name), [])})
    return found


def refuse_unaccepted(found: list[dict]) -> None:
    """Invalid naming `accept_gaps` when the import would create regions or units without
    heads: the office accepts them as gaps, or enters them with their heads first."""
    new = [entry for entry in found if entry["new"]]
    if not new:
        return
    names = [f"{entry['name']} (new {entry['kind']}, rows {', '.join(str(r) for r in entry['rows'])})" for entry in new]
    raise Invalid(f"the import would create {len(new)} region(s) or unit(s) without a Party head or a government "
                  f"head: {'; '.join(names)}. Confirm with accept_gaps=true (--accept-gaps on the command line) to import "
                  "them as organisation gaps "
                  "(the escalations that target their heads are held until the heads are entered), or enter them "
                  "with their heads first (管理 · 区域与单位) and import again; nothing was imported",
                  {FIELD: [f"must be true to create without heads: {name}" for name in names]})


def accepted(found: list[dict]) -> list[dict]:
    """The gaps as the import's ledger entry keeps them."""
    return [{"kind": e["kind"], "name": e["name"], "new": e["new"], "missing": e["missing"], "rows": e["rows"],
             "held_rows": [h["row"] for h in e["held"]]} for e in found]


def _name(named: dict[str, list[int]], name: str | None, row: int) -> None:
    if name is None:
        return
    rows = named.setdefault(name, [])
    if row not in rows:
        rows.append(row)


def _region_chain(plan: Plan, name: str) -> list[str]:
    """The row's region and the new regions above it (created for its path, 南岭县/青石镇)."""
    chain = [name]
    while name in plan.new_regions and plan.new_regions[name].parent in plan.new_regions:
        name = plan.new_regions[name].parent
        if name in chain:
            break
        chain.append(name)
    return chain


def _vacant(heads: Heads) -> list[str]:
    return [side for side, official in (("party", heads.party), ("government", heads.government)) if official is None]


def _places(item: Planned, target: str) -> list[tuple[str, str]]:
    """The region or units whose heads a target names for an imported row (an import names no
    industry unit)."""
    if target == "region_heads":
        return [("region", item.region)]
    if target == "lead_unit_heads":
        return [("unit", item.lead_unit)]
    if target == "cooperating_unit_heads":
        return [("unit", name) for name in item.cooperating_units]
    return []


def _held(plan: Plan, ladder: Ladder, entering: dict, missing: dict) -> dict:
    items = {item.row: item for item in plan.problems}
    held: dict[tuple[str, str], list[dict]] = {}
    for row in entering["rows"]:
        rule, item = ladder.by_code(row["rule"]), items.get(row["row"])
        if rule is None or item is None:
            continue
        for target in head_targets(rule.get("targets") or []):
            for place in _places(item, target):
                if place in missing and all(h["row"] != row["row"] for h in held.get(place, [])):
                    held.setdefault(place, []).append({"row": row["row"], "code": row["code"], "level": row["level"],
                                                       "rule": row["rule"], "name": row["name"], "target": target})
    return held


def addressees(session: Session, plan: Plan, ladder: Ladder, entering: dict) -> None:
    """Give each row of the ladder report (`entering`) `to`: whom its entry rung reaches, as
    the firing will resolve it: {"target", "of" (the region or unit, for heads), "side"
    (person, party or government), "name" (None: the post is vacant, so the rung is held)};
    a target naming heads gives both sides, 党政同责."""
    items = {item.row: item for item in plan.problems}
    found: dict[tuple[str, str], tuple[str | None, str | None]] = {}

    def heads(kind: str, name: str) -> tuple[str | None, str | None]:
        if (kind, name) not in found:
            model, new = (Region, plan.new_regions) if kind == "region" else (Unit, plan.new_units)
            place = None if name in new else session.scalars(select(model).where(model.name == name).limit(1)).first()
            seen = (region_heads if kind == "region" else unit_heads)(session, place) if place else None
            found[(kind, name)] = (seen.party.name if seen and seen.party else None,
                                   seen.government.name if seen and seen.government else None)
        return found[(kind, name)]

    for row in entering["rows"]:
        rule, item = ladder.by_code(row["rule"]), items.get(row["row"])
        if rule is None or item is None:
            continue
        names = rule.get("targets") or []
        to = []
        for target in [t for t in TARGETS if t != "chain"] if "chain" in names else names:
            if target == "responsible_person":
                to.append({"target": target, "of": None, "side": "person", "name": item.responsible})
            elif target == "leading_official" and item.leading_official:
                to.append({"target": target, "of": None, "side": "person", "name": item.leading_official})
            for kind, place in _places(item, target):
                party, government = heads(kind, place)
                to += [{"target": target, "of": place, "side": "party", "name": party},
                       {"target": target, "of": place, "side": "government", "name": government}]
        row["to"] = to
