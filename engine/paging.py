"""One page of a list: counted and sliced in SQL, never every row loaded."""
from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


class Paged(NamedTuple):
    items: list
    total: int


def page(session: Session, statement: Select, number: int, size: int, *options) -> Paged:
    """Rows `(number - 1) * size` onwards of `statement`, in its own order (which must end on a
    unique key so that pages neither repeat nor skip a row), with `options` (eager loads)
    applied to the page only; `total` counts every row of the statement."""
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    sliced = statement.offset((number - 1) * size).limit(size)
    if options:
        sliced = sliced.options(*options)
    return Paged(list(session.scalars(sliced).unique()), total or 0)
