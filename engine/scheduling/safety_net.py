"""The scheduler's safety net: due moments are kept where they change (engine/escalation/
due_moments.py, engine/lights.py), and every periodic sweep also works out again the ladder and
the lights of the next slice of problems, in id order, round the city. A moment that some
change failed to mark is thus put right within one round, at a cost per sweep that does not
grow with the city."""
from __future__ import annotations

from sqlalchemy import select

from .. import lights
from ..escalation import due_moments
from ..models import Problem

SLICE = 1000


def look_again(db, after_id: int, size: int = SLICE) -> int:
    """Mark the ladder and the lights of the `size` problems after `after_id` (and of their
    tasks) to be worked out again, in one transaction; the last id marked (0: the round is
    over, start again from the first)."""
    with db.transaction() as session:
        ids = session.scalars(select(Problem.id).where(Problem.id > after_id).order_by(Problem.id).limit(size)).all()
        if not ids:
            return 0
        due_moments.work_out_again(session, ids[0], ids[-1])
        lights.work_out_again(session, ids[0], ids[-1])
        return ids[-1]
