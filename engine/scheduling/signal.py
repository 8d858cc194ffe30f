"""A committed action that moved a due time tells the scheduler to plan again.

The write session watches what each flush touches. When a row of a table that decides a due
time (an instance's next timer, a problem's deadline, a task, a firing, a notice waiting
to be sent, the rules, the calendar, a post or unit that may fill an organisation gap) is
written, the transaction sends `NOTIFY duban_schedule` on PostgreSQL (delivered only if it
commits, so a rolled-back action wakes nobody) and, once committed, calls the listeners
registered in this process (the embedded scheduler).
"""
from __future__ import annotations

import logging
from typing import Callable

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from ..db import Database

CHANNEL = "duban_schedule"
WATCHED_TABLES = frozenset({
    "process_instance", "problem", "milestone", "human_task", "escalation", "escalation_event",
    "escalation_rule_set", "notification", "calendar_override", "calendar_year", "extension_request",
    "post", "unit",  # a head entered may free a rung held as an organisation gap
})
_FLAG = "duban_schedule_changed"
log = logging.getLogger("duban.scheduler")


def install(db: Database) -> None:
    """Watch `db`'s write sessions (once per Database)."""
    if getattr(db, "schedule_listeners", None) is not None:
        return
    db.schedule_listeners: list[Callable[[], None]] = []
    factory = db._write_sessions

    @event.listens_for(factory, "after_flush")
    def _after_flush(session: Session, _context) -> None:
        if session.info.get(_FLAG):
            return
        for row in (*session.new, *session.dirty, *session.deleted):
            if getattr(row, "__tablename__", None) in WATCHED_TABLES:
                session.info[_FLAG] = True
                return

    @event.listens_for(factory, "before_commit")
    def _before_commit(session: Session) -> None:
        # once, as the transaction commits (a savepoint's release fires this too)
        if session.info.get(_FLAG) and not db.is_sqlite and not session.in_nested_transaction():
            session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})

    @event.listens_for(factory, "after_commit")
    def _after_commit(session: Session) -> None:
        # a savepoint's release fires this too, while the outer transaction still holds the
        # database (SQLite's write lock): the listeners run after the outermost commit only
        if session.in_nested_transaction():
            return
        if session.info.pop(_FLAG, False):
            for listener in list(db.schedule_listeners):
                try:
                    listener()
                except Exception:  # noqa: BLE001 - a listener never undoes a committed action
                    log.exception("a schedule listener failed")

    @event.listens_for(factory, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop(_FLAG, None)


def changed(session: Session) -> None:
    """Mark this transaction as one that moved a due time (for writes the watch cannot see)."""
    session.info[_FLAG] = True
