"""The action log (操作日志) as the audit administrator (审计管理员) reads it: the ledger's
entries (engine/ledger.py), every action on problems, processes, the organisation and accounts
and every refusal, filtered by time, action and actor, newest first, exported as .xlsx with
each entry's hash, so that an export can be checked against `duban audit verify`."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from . import clock, log_reading
from .models import LedgerEntry


@dataclass(frozen=True)
class Filter:
    since: datetime | None = None
    until: datetime | None = None
    action: str | None = None
    actor: str | None = None  # the actor's name as the entry keeps it (exactly)

    def apply(self, statement):
        if self.since is not None:
            statement = statement.where(LedgerEntry.at >= self.since)
        if self.until is not None:
            statement = statement.where(LedgerEntry.at < self.until)
        if self.action:
            statement = statement.where(LedgerEntry.action == self.action)
        if self.actor:
            statement = statement.where(LedgerEntry.actor_name == self.actor)
        return statement


def page(session: Session, where: Filter, number: int, per_page: int) -> tuple[list[LedgerEntry], int]:
    """One page of the entries `where` selects, newest first, and how many it selects in all."""
    return log_reading.page(session, LedgerEntry, where, number, per_page)


def every(session: Session, where: Filter):
    """The entries `where` selects, oldest first, a batch at a time (for an export)."""
    return log_reading.every(session, LedgerEntry, where)


COLUMNS = ("编号", "时间（北京时间）", "操作", "操作人", "对象类型", "对象编号", "问题编号", "内容", "请求编号", "哈希")


def workbook(entries) -> bytes:
    """The entries as an .xlsx sheet (操作日志), one row each, in the order given."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("操作日志")
    sheet.append(list(COLUMNS))
    for entry in entries:
        sheet.append([entry.id, entry.at.astimezone(clock.SHANGHAI).replace(tzinfo=None), entry.action,
                      entry.actor_name, entry.subject_type, entry.subject_id, entry.problem_id,
                      json.dumps(entry.payload, ensure_ascii=False, sort_keys=True, default=str)[:32000],
                      entry.request_id, entry.hash])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
