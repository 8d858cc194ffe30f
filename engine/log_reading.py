"""Reading an append-only log (the security log, the action log): a page of what a filter
selects, newest first, with how many it selects; or all of it, oldest first, a batch at a time
and never held whole in memory (for an export)."""
from __future__ import annotations

from typing import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session


def page(session: Session, model, where, number: int, per_page: int) -> tuple[list, int]:
    total = session.scalar(where.apply(select(func.count()).select_from(model)))
    rows = session.scalars(where.apply(select(model)).order_by(model.id.desc())
                           .offset((number - 1) * per_page).limit(per_page)).all()
    return list(rows), total


def every(session: Session, model, where, batch: int = 2000) -> Iterator:
    after = 0
    while True:
        rows = session.scalars(where.apply(select(model)).where(model.id > after)
                               .order_by(model.id).limit(batch)).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id
        session.expunge_all()  # the batch is written: let it go


class Counted:
    """Rows passed through, counted (an export says how many it wrote)."""

    def __init__(self, rows):
        self._rows, self.count = rows, 0

    def __iter__(self):
        for row in self._rows:
            self.count += 1
            yield row
