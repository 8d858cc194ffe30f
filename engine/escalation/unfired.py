"""The rungs of one problem that did not fire when they fell due, for its page: those passed
over when it entered the ladder late (PassedOverRung), and those held for want of a Party or
government head (OrganisationGap), open or resolved."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..models import OrganisationGap, PassedOverRung, Problem
from .gaps import live


@dataclass
class Held:
    """A gap of the problem and where it stands: open (holding its rung now), resolved (the
    rung fired once the heads were entered) or lapsed (the problem was closed or its deadline
    moved before it fired)."""

    gap: OrganisationGap
    state: str
    delay: timedelta | None   # how long the rung was (or, open, has been) held; None when lapsed


def passed_over(session: Session, problem_id: int) -> list[PassedOverRung]:
    """The rungs the problem passed over, lowest first, each with the firing it entered the
    ladder by (`escalation`)."""
    return list(session.scalars(select(PassedOverRung).where(PassedOverRung.problem_id == problem_id)
                                .options(selectinload(PassedOverRung.escalation))
                                .order_by(PassedOverRung.due_at, PassedOverRung.level, PassedOverRung.id)))


def held(session: Session, problem: Problem, now: datetime) -> list[Held]:
    """Every organisation gap of the problem, oldest first, with its state and delay."""
    found = []
    for gap in session.scalars(select(OrganisationGap).where(OrganisationGap.problem_id == problem.id)
                               .order_by(OrganisationGap.since, OrganisationGap.id)):
        if gap.resolved_at is not None:
            found.append(Held(gap, "resolved", gap.resolved_at - gap.since))
        elif live(gap):
            found.append(Held(gap, "open", now - gap.since))
        else:
            found.append(Held(gap, "lapsed", None))
    return found
