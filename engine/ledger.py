"""The audit ledger (留痕): every action leaves an entry, chained to the one before by its hash.

Nothing is edited away; a correction is a new entry. `verify` walks the chain and names the
first entry whose content or link no longer matches.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from . import chain_digest, clock, request_id
from .models import LedgerEntry, User

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x6475_6261_6E00  # one advisory lock serializes appends on PostgreSQL


class Action(enum.StrEnum):
    PROBLEM_REGISTERED = "problem.registered"
    PROBLEM_STATUS_CHANGED = "problem.status_changed"
    PLAN_UPDATED = "problem.plan_updated"
    PLAN_SUBMITTED = "problem.plan_submitted"
    PLAN_RETURNED = "problem.plan_returned"
    EVIDENCE_UPLOADED = "evidence.uploaded"
    EVIDENCE_DELETED = "evidence.deleted"
    EVIDENCE_SUBMITTED = "evidence.submitted"
    INSTANCE_STARTED = "instance.started"
    INSTANCE_COMPLETED = "instance.completed"
    INSTANCE_FAILED = "instance.failed"
    INCIDENT_OPENED = "incident.opened"
    INCIDENT_RETRIED = "incident.retried"
    INCIDENT_RESOLVED = "incident.resolved"
    INSTANCE_MOVED = "instance.moved"
    INSTANCE_MIGRATED = "instance.migrated"
    INSTANCE_CANCELLED = "instance.cancelled"
    TIMER_FIRED = "instance.timer_fired"
    TASK_ASSIGNED = "task.assigned"
    TASK_COMPLETED = "task.completed"
    TASK_SENT_BACK = "task.sent_back"
    TASK_CANCELLED = "task.cancelled"
    DEFINITION_DEPLOYED = "definition.deployed"
    DEFINITION_DRAFT_SAVED = "definition.draft_saved"
    DEFINITION_DRAFT_DELETED = "definition.draft_deleted"
    DEFINITION_PUBLISHED = "definition.published"
    DEFINITION_ROLLED_BACK = "definition.rolled_back"
    PERMISSION_DENIED = "permission.denied"
    USER_CREATED = "user.created"
    RULES_CHANGED = "escalation.rules_changed"
    ESCALATION_FIRED = "escalation.fired"
    ESCALATION_EVENT = "escalation.event_raised"
    ESCALATION_HELD = "escalation.held"
    ACCOUNTABILITY_DECIDED = "accountability.decided"
    ACCOUNTABILITY_APPEALED = "accountability.appealed"
    ACCOUNTABILITY_APPEAL_WAIVED = "accountability.appeal_waived"
    ACCOUNTABILITY_REVISED = "accountability.revised"
    CALENDAR_CHANGED = "calendar.changed"
    TASK_DUE_RECOMPUTED = "task.due_recomputed"
    EXTENSION_REQUESTED = "extension.requested"
    EXTENSION_APPROVED = "extension.approved"
    EXTENSION_REFUSED = "extension.refused"
    LEDGER_IMPORTED = "ledger.imported"
    BULLETIN_ISSUED = "bulletin.issued"
    # administering the organisation
    REGION_CREATED = "region.created"
    REGION_RENAMED = "region.renamed"
    UNIT_CREATED = "unit.created"
    UNIT_RENAMED = "unit.renamed"
    OFFICIAL_CREATED = "official.created"
    OFFICIAL_UPDATED = "official.updated"
    POST_ADDED = "post.added"
    POST_ENDED = "post.ended"
    USER_UPDATED = "user.updated"
    USER_PASSWORD_RESET = "user.password_reset"
    USER_DEACTIVATED = "user.deactivated"
    USER_REACTIVATED = "user.reactivated"


SYSTEM = "系统"


def record(session: Session, action: Action, *, actor: User | None, subject_type: str,
           subject_id: Any = None, problem_id: int | None = None, payload: dict | None = None) -> LedgerEntry:
    """Append an entry in the caller's transaction. It is chained (its id, its link to the
    entry before and its hash) and written as the transaction commits, together with every
    entry the action recorded (see _chain_at_commit), or earlier if the transaction reads the
    ledger first (see _reading_the_ledger)."""
    entry = LedgerEntry(
        at=clock.now(),
        actor_id=actor.id if actor else None,
        actor_name=actor.display_name if actor else SYSTEM,
        action=str(action),
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        problem_id=problem_id,
        payload=json.loads(_canonical(payload or {})),
        request_id=request_id.current(),
    )
    session.info.setdefault(_WAITING, []).append((entry, session.get_nested_transaction()))
    return entry


# session.info: the entries recorded and not chained yet, in order, each with the savepoint it
# was recorded in (None: the transaction itself), so that a savepoint rolled back drops its own
_WAITING = "ledger.waiting"
_HEAD = "ledger.head"  # session.info: (id, hash) of the chain's last entry while this transaction holds it


def _chain(session: Session) -> None:
    """Give the entries waiting in this session their ids, links and hashes, in the order they
    were recorded, and write them. The chain's head is read once per transaction, under the
    lock that serialises appends (PostgreSQL: an advisory lock held until the transaction ends;
    SQLite: the write lock every write transaction takes when it begins), so no other
    transaction can append in between and the head this one holds stays the head. The rest of
    the action is flushed first, outside the lock: the lock is held only for the entries'
    insert and the commit, so that writers wait for each other's commits, not for each other's
    work (a batch of timers, a registration that starts a process)."""
    waiting = [entry for entry, _savepoint in session.info.pop(_WAITING, [])]
    if not waiting:
        return
    session.flush()
    head_id, head_hash = _head(session)
    digest = chain_digest.of(session)
    for entry, entry_id in zip(waiting, _next_ids(session, head_id, len(waiting))):
        entry.id, entry.prev_hash = entry_id, head_hash
        entry.hash = head_hash = entry_hash(entry, digest)
    session.add_all(waiting)
    session.flush()
    session.info[_HEAD] = (waiting[-1].id, head_hash)


@event.listens_for(Session, "before_commit")
def _chain_at_commit(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's release: the transaction goes on
        _chain(session)


@event.listens_for(Session, "do_orm_execute")
def _reading_the_ledger(state) -> None:
    """A transaction that reads the ledger after recording entries sees them: they are chained
    and written before the read (and the lock is held from then on, as it would be anyway)."""
    session = state.session
    if state.is_select and session.info.get(_WAITING) and any(
            mapper.class_ is LedgerEntry for mapper in state.all_mappers):
        _chain(session)


def _head(session: Session) -> tuple[int, str]:
    held = session.info.get(_HEAD)
    if held is not None:
        return held
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    last = session.execute(select(LedgerEntry.id, LedgerEntry.hash).order_by(LedgerEntry.id.desc()).limit(1)
                           .execution_options(autoflush=False)).first()
    return (last.id, last.hash) if last is not None else (0, GENESIS)


def _next_ids(session: Session, head_id: int, count: int) -> list[int]:
    """The ids of the next `count` entries: on PostgreSQL drawn from the table's sequence (in
    one statement), on SQLite the ones after the head, as SQLite itself would number them."""
    if session.get_bind().dialect.name == "postgresql":
        return sorted(session.scalars(text(
            "SELECT nextval(pg_get_serial_sequence('ledger_entry', 'id')) FROM generate_series(1, :count)")
            .bindparams(count=count)))
    return list(range(head_id + 1, head_id + 1 + count))


@event.listens_for(Session, "after_transaction_end")
def _forget_head(session: Session, transaction) -> None:
    """The transaction ended: the head it held is no longer held, and entries not written are
    gone with it. (A savepoint released keeps the head it chained for the transaction around it;
    one rolled back is handled below. A flush's own inner transaction ending changes nothing: a
    flush that fails fails the transaction.)"""
    if transaction.parent is None:
        session.info.pop(_HEAD, None)
        session.info.pop(_WAITING, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back_head(session: Session, previous_transaction) -> None:
    """A savepoint (or the transaction) rolled back: the entries it chained are gone, and the
    head is read again, under the lock the transaction still holds, when the next entry needs
    it; the entries recorded inside it and not written yet are dropped."""
    session.info.pop(_HEAD, None)
    waiting = session.info.get(_WAITING)
    if waiting:
        waiting[:] = [(entry, savepoint) for entry, savepoint in waiting
                      if not _inside(savepoint, previous_transaction)]


def _inside(savepoint, rolled_back) -> bool:
    """Whether an entry recorded in `savepoint` (None: the transaction itself) was inside the
    transaction or savepoint `rolled_back`."""
    if not rolled_back.nested:
        return True
    while savepoint is not None:
        if savepoint is rolled_back:
            return True
        savepoint = savepoint.parent
    return False


def entry_hash(entry: LedgerEntry, digest: str = chain_digest.DEFAULT) -> str:
    """The entry's hash under the installation's chain digest (engine/chain_digest.py)."""
    body = {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "problem_id": entry.problem_id,
        "payload": entry.payload,
        "prev_hash": entry.prev_hash,
    }
    if entry.request_id is not None:  # entries from before request ids hash as they did
        body["request_id"] = entry.request_id
    return chain_digest.hasher(digest)(_canonical(body).encode())


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass
class Verification:
    entries: int
    broken_id: int | None = None
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_id is None


def verify(session: Session, batch: int = 2000) -> Verification:
    """Walk the whole chain; stop at the first entry whose hash or link is wrong."""
    previous, count, after = GENESIS, 0, 0
    digest = chain_digest.of(session)
    while True:
        rows = session.scalars(select(LedgerEntry).where(LedgerEntry.id > after)
                               .order_by(LedgerEntry.id).limit(batch)).all()
        if not rows:
            return Verification(entries=count)
        for entry in rows:
            if entry.prev_hash != previous:
                return Verification(count, entry.id, "its link to the previous entry is broken "
                                                      "(an entry before it was deleted or changed)")
            if entry_hash(entry, digest) != entry.hash:
                return Verification(count, entry.id, "its content no longer matches its hash (it was edited)")
            previous, count, after = entry.hash, count + 1, entry.id
        session.expunge_all()
