"""Evidence (佐证材料): files uploaded for a problem or as drafts of a task, and deleting a draft.

A part of the Duban facade (engine/service.py): each method one action, one transaction."""
from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from sqlalchemy.exc import SQLAlchemyError

from .. import evidence, evidence_types, file_store, problems, tasks
from ..errors import Conflict, Invalid, NotFound
from ..models import EvidenceFile, HumanTask, TaskState
from ..workflow.forms import evidence_keys


class EvidenceActions:
    def upload_evidence(self, user_id: int, problem_id: int, filename: str, content_type: str,
                        content: bytes) -> EvidenceFile:
        with self.db.transaction() as session:
            actor = self.actor(session, user_id)
            problem = problems.get(session, problem_id)
            if problems.may_see(actor, problem):
                return evidence.store(session, self.files, problem, filename, content_type,
                                      content, actor, evidence_types.load_policy(self.settings.evidence_types))
        self.deny(user_id, "add evidence to this problem", "problem", problem_id, problem_id)

    def upload_task_evidence(self, user_id: int, task_id: int, field: str, filename: str, content_type: str,
                             content: bytes, answer=None):
        """A file for one of a ready task's file fields, kept as a draft of the task until its
        completion submits it; only for whoever may complete the task. The stored row, or what
        `answer(session, row)` builds from it inside the transaction."""
        with self.db.transaction() as session:
            actor = self.actor(session, user_id)
            task = tasks.get(session, task_id)
            if tasks.may_complete(actor, task):
                if task.state != TaskState.READY:
                    raise Conflict(f"task {task.id} is already {task.state.value}")
                form = task.instance.definition.forms.get(task.element_id)
                if field not in evidence_keys(form):
                    raise Invalid("the form has no such file field", {"field": [f"no file field {field!r}"]})
                row = evidence.store(session, self.files, task.problem, filename, content_type,
                                     content, actor, evidence_types.load_policy(self.settings.evidence_types),
                                     task=task, field=field)
                return answer(session, row) if answer else row
            problem_id = task.problem_id
        self.deny(user_id, f"add evidence to task {task_id}", "human_task", task_id, problem_id)

    def evidence_drafts(self, user_id: int, task_id: int) -> list[EvidenceFile]:
        """The drafts of a task, for whoever may complete it."""
        with self.db.reading() as session:
            task = tasks.get(session, task_id)
            if tasks.may_complete(self.actor(session, user_id), task):
                return evidence.drafts(session, task_id)
            problem_id = task.problem_id
        self.deny(user_id, f"see the drafts of task {task_id}", "human_task", task_id, problem_id)

    def delete_evidence(self, user_id: int, evidence_id: int, answer=None) -> dict:
        """Delete a draft: by its uploader or whoever holds its task, until the task's completion
        submitted it (then Conflict). Its stored content goes too unless another file has it.
        What was deleted, with `answer(session, deleted)` under "answer" when given (built inside
        the transaction)."""
        with self.db.transaction() as session:
            actor = self.actor(session, user_id)
            row = session.get(EvidenceFile, evidence_id)
            if row is None:
                raise NotFound(f"no evidence file {evidence_id}")
            task = session.get(HumanTask, row.task_id) if row.task_id else None
            allowed = row.uploaded_by_id == actor.id or (task is not None and tasks.may_complete(actor, task))
            if allowed:
                deleted = {"id": row.id, "task_id": row.task_id, "field": row.field, "filename": row.filename}
                sha256, problem_id = row.sha256, row.problem_id
                orphaned = evidence.delete_draft(session, row, actor)
                if answer:
                    deleted["answer"] = answer(session, deleted)
            else:
                problem_id = row.problem_id
        if not allowed:
            self.deny(user_id, f"delete evidence {evidence_id}", "evidence_file", evidence_id, problem_id)
        if orphaned:  # read after the commit, so that an upload of the same content meanwhile keeps it
            try:
                with self.db.reading() as session:
                    unused = not evidence.referenced(session, sha256)
            except SQLAlchemyError:  # the deletion stands; an unreferenced stored file harms nobody
                unused = False
            if unused:
                self.files.delete(file_store.EVIDENCE, sha256)
        return deleted

    def evidence_content(self, row: EvidenceFile) -> BinaryIO | None:
        """The stored bytes of an evidence file, to read and close; None if they are gone."""
        return self.files.open(file_store.EVIDENCE, row.sha256)

    def evidence_path(self, row: EvidenceFile) -> Path | None:
        """Where the directory store keeps the file on this host (None in the database store)."""
        return self.files.path(file_store.EVIDENCE, row.sha256)
