"""Who heads what: the Party head and the government head of a unit or a region.

党政同责: wherever a region or unit has a Party head and a government head, both are found
together; callers never ask for one side alone.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Official, Post, PostKind, Region, Unit, UnitKind


@dataclass(frozen=True)
class Heads:
    """The heads of one unit or region: the Party head (书记) and the government head
    (县长/镇长/局长). Either may be missing where the post is vacant; both may be one person."""

    party: Official | None
    government: Official | None

    def officials(self) -> list[Official]:
        seen, result = set(), []
        for official in (self.party, self.government):
            if official is not None and official.id not in seen:
                seen.add(official.id)
                result.append(official)
        return result


def unit_heads(session: Session, unit: Unit) -> Heads:
    posts = session.scalars(select(Post).where(Post.unit_id == unit.id, Post.is_head.is_(True))
                            .order_by(Post.id)).all()
    party = next((p.official for p in posts if p.kind == PostKind.PARTY), None)
    government = next((p.official for p in posts if p.kind in (PostKind.GOVERNMENT, PostKind.DEPARTMENT)), None)
    return Heads(party=party, government=government)


def region_heads(session: Session, region: Region) -> Heads:
    """The secretary of the region's Party committee and the head of its government."""
    units = session.scalars(select(Unit).where(Unit.region_id == region.id,
                                               Unit.kind.in_([UnitKind.PARTY_COMMITTEE, UnitKind.GOVERNMENT]))).all()
    party = government = None
    for unit in units:
        heads = unit_heads(session, unit)
        if unit.kind == UnitKind.PARTY_COMMITTEE:
            party = party or heads.party
        else:
            government = government or heads.government
    return Heads(party=party, government=government)


def primary_unit(official: Official) -> Unit | None:
    """The unit an official works in: the first head post, else the first post."""
    posts = sorted(official.posts, key=lambda p: (not p.is_head, p.id))
    return posts[0].unit if posts else None
