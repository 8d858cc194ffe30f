"""One page of a list: counted and sliced in SQL, never every row loaded.

A page of one mapped class is read in two steps: the keys of the page's rows first (the
statement's own filter and order with only the primary key selected, so that the database sorts
narrow rows however many match), then those rows by key, with the statement's own options and the page's eager loads."""
from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


class Paged(NamedTuple):
    items: list
    total: int


def count(session: Session, statement: Select) -> int:
    """How many rows `statement` selects."""
    return session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0


def page(session: Session, statement: Select, number: int, size: int, *options, total: int | None = None) -> Paged:
    """Rows `(number - 1) * size` onwards of `statement`, in its own order (which must end on a
    unique key so that pages neither repeat nor skip a row), with `options` (eager loads)
    applied to the page only; `total` counts every row of the statement (pass it when the
    caller has counted already)."""
    if total is None:
        total = count(session, statement)
    if not total:
        return Paged([], 0)
    sliced = statement.offset((number - 1) * size).limit(size)
    entity = _single_entity(statement)
    if entity is None:
        if options:
            sliced = sliced.options(*options)
        return Paged(list(session.scalars(sliced).unique()), total)
    key = entity.__mapper__.primary_key[0]
    keys = list(dict.fromkeys(session.scalars(sliced.with_only_columns(key))))
    if not keys:
        return Paged([], total)
    rows = session.scalars(statement.order_by(None).where(key.in_(keys)).options(*options)).unique().all()
    place = {k: n for n, k in enumerate(keys)}
    name = entity.__mapper__.get_property_by_column(key).key
    return Paged(sorted(rows, key=lambda row: place[getattr(row, name)]), total)


def _single_entity(statement: Select):
    """The mapped class `statement` selects, when it selects exactly one and it has a
    one-column primary key; else None (the page is then read in one step)."""
    described = statement.column_descriptions
    if len(described) != 1:
        return None
    entity = described[0].get("entity")
    if entity is None or described[0].get("expr") is not entity or not hasattr(entity, "__mapper__"):
        return None
    if len(entity.__mapper__.primary_key) != 1:
        return None
    return entity
