"""Evidence files (佐证材料): stored once per content in the file store (engine/file_store.py),
named by their SHA-256."""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from . import clock, ledger
from .errors import Conflict, Invalid
from .file_store import EVIDENCE, FileStore
from .evidence_types import KINDS, EvidencePolicy, Kind, describe, load_policy, sniff
from .ledger import Action
from .models import EvidenceFile, HumanTask, Problem, TaskState, User


class EvidenceRefused(Invalid):
    """An upload whose content is not of a type the office accepts."""

    def __init__(self, detected: str, policy: EvidencePolicy):
        self.detected, self.allowed = detected, policy.labels
        super().__init__(f"the file is {detected}, which is not accepted as evidence",
                         {"file": [f"detected type {detected} is not allowed; allowed: {self.allowed}"]})


class EvidenceTooLarge(Invalid):
    def __init__(self, max_bytes: int):
        self.max_megabytes = max_bytes // (1024 * 1024)
        super().__init__("the file is too large", {"file": [f"at most {self.max_megabytes} MiB"]})


def path_for(root: Path, sha256: str) -> Path:
    """Where the directory store keeps the content of this hash under `root`/evidence."""
    return root / sha256[:2] / sha256


_ALSO = {"jpeg": (".jpeg", ".jpe"), "tiff": (".tiff",)}


def stored_name(filename: str, kind: Kind) -> str:
    """The uploader's name, cleaned, with the extension of what the file is."""
    name = re.sub(r"[\\/\x00-\x1f\x7f]", "_", os.path.basename(filename or "")).strip() or "evidence"
    stem, dot, extension = name.rpartition(".")
    if dot and stem and f".{extension.lower()}" in {kind.extension, *_ALSO.get(kind.name, ())}:
        return name[:255]
    base = stem if dot and stem else name
    return base[:255 - len(kind.extension)] + kind.extension


def store(session: Session, files: FileStore, problem: Problem, filename: str, content_type: str, content: bytes,
          actor: User, policy: EvidencePolicy | None = None, task: HumanTask | None = None,
          field: str | None = None) -> EvidenceFile:
    """Keep an upload whose content is of an accepted type. `content_type` (what the browser
    claimed) is not used: the type stored is the one recognised from the bytes. Given `task`,
    the file is a draft of the task's `field` until the task's completion submits it; without,
    it is on the problem (submitted) at once."""
    policy = policy or load_policy()
    if not content:
        raise Invalid("the file is empty", {"file": ["the file is empty"]})
    if len(content) > policy.max_bytes:
        raise EvidenceTooLarge(policy.max_bytes)
    kind = sniff(content)
    if not policy.accepts(kind):
        raise EvidenceRefused(describe(content), policy)
    name = stored_name(filename, kind)
    digest = hashlib.sha256(content).hexdigest()
    files.put(EVIDENCE, digest, content, session=session, keep_existing=True)
    row = EvidenceFile(problem_id=problem.id, sha256=digest, filename=name[:255],
                       content_type=kind.mime, size=len(content),
                       uploaded_by_id=actor.id, uploaded_at=clock.now(),
                       task_id=task.id if task else None, field=field if task else None,
                       submitted_at=None if task else clock.now())
    session.add(row)
    session.flush()
    payload = {"filename": row.filename, "sha256": digest, "size": row.size, "content_type": kind.mime}
    if task is not None:
        payload |= {"task_id": task.id, "field": field}
    ledger.record(session, Action.EVIDENCE_UPLOADED, actor=actor, subject_type="evidence_file", subject_id=row.id,
                  problem_id=problem.id, payload=payload)
    return row


# -- drafts of a task ------------------------------------------------------------------------------

def drafts(session: Session, task_id: int) -> list[EvidenceFile]:
    """The files uploaded for a task and not yet submitted, in the order they came."""
    return list(session.scalars(select(EvidenceFile).where(EvidenceFile.task_id == task_id,
                                                           EvidenceFile.submitted_at.is_(None))
                                .order_by(EvidenceFile.id)))


def submitted_on(problem_id: int):
    """The statement for a problem's submitted evidence (what its page and the API list)."""
    return (select(EvidenceFile).where(EvidenceFile.problem_id == problem_id, not_a_draft())
            .order_by(EvidenceFile.id))


def not_a_draft():
    """Submitted evidence: a task's completion submitted it, or it was stored on the problem."""
    return or_(EvidenceFile.submitted_at.isnot(None), EvidenceFile.task_id.is_(None))


def delete_draft(session: Session, row: EvidenceFile, actor: User) -> bool:
    """Remove a draft; True when no other file keeps its stored content (the caller removes it
    once the transaction has committed). A submitted file is immutable: Conflict."""
    if row.submitted_at is not None or row.task_id is None:
        raise Conflict(f"evidence file {row.id} was submitted and can no longer be deleted")
    ledger.record(session, Action.EVIDENCE_DELETED, actor=actor, subject_type="evidence_file", subject_id=row.id,
                  problem_id=row.problem_id, payload={"filename": row.filename, "sha256": row.sha256,
                                                      "task_id": row.task_id, "field": row.field})
    sha256 = row.sha256
    session.delete(row)
    session.flush()
    return not referenced(session, sha256)


def referenced(session: Session, sha256: str) -> bool:
    return session.scalar(select(EvidenceFile.id).where(EvidenceFile.sha256 == sha256).limit(1)) is not None


def submit(session: Session, task: HumanTask, ids: list[int], actor: User) -> list[EvidenceFile]:
    """The task's completion: its drafts among `ids` become submitted evidence, immutable."""
    if not ids:
        return []
    rows = list(session.scalars(select(EvidenceFile).where(EvidenceFile.id.in_(ids), EvidenceFile.task_id == task.id,
                                                           EvidenceFile.submitted_at.is_(None))
                                .order_by(EvidenceFile.id)))
    now = clock.now()
    for row in rows:
        row.submitted_at = now
    if rows:
        ledger.record(session, Action.EVIDENCE_SUBMITTED, actor=actor, subject_type="human_task", subject_id=task.id,
                      problem_id=task.problem_id,
                      payload={"task_id": task.id, "name": task.name,
                               "files": [{"id": row.id, "filename": row.filename, "field": row.field,
                                          "sha256": row.sha256} for row in rows]})
    return rows


def accept_attribute(policy: EvidencePolicy) -> str:
    """The upload input's `accept`: the allow-list's types and extensions."""
    kinds = [KINDS[name] for name in policy.allowed if name in KINDS]
    values = []
    for kind in kinds:
        for value in (kind.mime, kind.extension, *_ALSO.get(kind.name, ())):
            if value not in values:
                values.append(value)
    return ",".join(values)


# -- before and after (整改前后对比) ---------------------------------------------------------------
#
# A form pairs photos by its file fields' keys: `<name>_before` and `<name>_after` (the close-out
# application's `photos_before` / `photos_after`). A reviewer sees the pairs side by side.

BEFORE, AFTER = "_before", "_after"


def paired_keys(keys) -> list[tuple[str, str]]:
    """(before key, after key) for every `<name>_before` whose `<name>_after` is among `keys`."""
    keys = list(keys)
    return [(key, key[: -len(BEFORE)] + AFTER) for key in keys
            if key.endswith(BEFORE) and key[: -len(BEFORE)] + AFTER in keys]


@dataclass
class Comparison:
    """One before/after pair as a task submitted it."""

    task_name: str
    completed_at: datetime | None
    completed_by: str | None
    before: list[EvidenceFile]
    after: list[EvidenceFile]


def comparisons(session: Session, problem_id: int) -> list[Comparison]:
    """The before/after pairs of the problem's completed tasks, the latest submission first."""
    found = []
    done = session.scalars(select(HumanTask).where(HumanTask.problem_id == problem_id,
                                                   HumanTask.state == TaskState.COMPLETED)
                           .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())).all()
    for task in done:
        data = task.data or {}
        for before_key, after_key in paired_keys(data):
            ids = {key: [i for i in data.get(key) or [] if isinstance(i, int)] for key in (before_key, after_key)}
            if not any(ids.values()):
                continue
            rows = {row.id: row for row in session.scalars(select(EvidenceFile).where(
                EvidenceFile.id.in_(ids[before_key] + ids[after_key]), EvidenceFile.problem_id == problem_id))}
            found.append(Comparison(task.name, task.completed_at,
                                    task.completed_by.display_name if task.completed_by else None,
                                    [rows[i] for i in ids[before_key] if i in rows],
                                    [rows[i] for i in ids[after_key] if i in rows]))
    return found
