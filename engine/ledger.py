"""The audit ledger (留痕): every action leaves an entry, chained to the one before by its hash.

Nothing is edited away; a correction is a new entry. `verify` walks the chain and names the
first entry whose content or link no longer matches.
"""
from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from . import clock
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
    """Append an entry in the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    last = session.execute(select(LedgerEntry.hash).order_by(LedgerEntry.id.desc()).limit(1)).scalar()
    entry = LedgerEntry(
        at=clock.now(),
        actor_id=actor.id if actor else None,
        actor_name=actor.display_name if actor else SYSTEM,
        action=str(action),
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        problem_id=problem_id,
        payload=json.loads(_canonical(payload or {})),
        prev_hash=last or GENESIS,
        hash="",
    )
    session.add(entry)
    session.flush()  # the id is part of what the hash covers
    entry.hash = entry_hash(entry)
    session.flush()
    return entry


def entry_hash(entry: LedgerEntry) -> str:
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
    return hashlib.sha256(_canonical(body).encode()).hexdigest()


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
    while True:
        rows = session.scalars(select(LedgerEntry).where(LedgerEntry.id > after)
                               .order_by(LedgerEntry.id).limit(batch)).all()
        if not rows:
            return Verification(entries=count)
        for entry in rows:
            if entry.prev_hash != previous:
                return Verification(count, entry.id, "its link to the previous entry is broken "
                                                      "(an entry before it was deleted or changed)")
            if entry_hash(entry) != entry.hash:
                return Verification(count, entry.id, "its content no longer matches its hash (it was edited)")
            previous, count, after = entry.hash, count + 1, entry.id
        session.expunge_all()
