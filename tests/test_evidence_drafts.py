"""Evidence as files of the task: an upload for a task is a draft of the task, kept in the
database (not the browser session) until the completion submits it; deletable until then by its
uploader or the task's holder, immutable after; recorded in the ledger; the stored content goes
with the last file that has it."""
from __future__ import annotations

import pytest

from engine import evidence
from engine.errors import Conflict, Forbidden, Invalid
from engine.models import EvidenceFile, LedgerEntry

from .helpers_flow import PLAN
from .helpers_pages import ready_tasks, register
from .test_uploads import png

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def at_rectify(duban, org) -> tuple[int, int]:
    """A problem whose responsible official holds 整改落实 (Task_rectify): (problem, task)."""
    problem_id = register(duban, org)
    [(sign, _, _)] = ready_tasks(duban, "responsible", org)
    duban.complete_task(org["user:responsible"], sign, {"acknowledged": True})
    [(plan, _, _)] = ready_tasks(duban, "responsible", org)
    duban.complete_task(org["user:responsible"], plan, PLAN)
    [(review, _, _)] = ready_tasks(duban, "admin", org)
    duban.complete_task(org["user:admin"], review, {"decision": "approve"})
    [(rectify, element, _)] = ready_tasks(duban, "responsible", org)
    assert element == "Task_rectify"
    return problem_id, rectify


def actions(duban, problem_id) -> list[str]:
    with duban.db.reading() as session:
        return [e.action for e in session.query(LedgerEntry).filter_by(problem_id=problem_id).order_by(LedgerEntry.id)]


def test_an_upload_for_a_task_is_its_draft_until_the_completion_submits_it(duban, org):
    problem_id, task = at_rectify(duban, org)
    user = org["user:responsible"]
    photo = duban.upload_task_evidence(user, task, "evidence", "现场.png", "image/png", png())
    report = duban.upload_task_evidence(user, task, "evidence", "报告.pdf", "application/pdf", PDF)
    assert photo.task_id == task and photo.field == "evidence" and photo.submitted_at is None
    assert [row.id for row in duban.evidence_drafts(user, task)] == [photo.id, report.id]
    with duban.db.reading() as session:  # not on the problem's evidence while a draft
        assert session.scalars(evidence.submitted_on(problem_id)).all() == []

    duban.complete_task(user, task, {"summary": "整改完成", "evidence": [photo.id, report.id]})
    with duban.db.reading() as session:
        rows = session.scalars(evidence.submitted_on(problem_id)).all()
        assert [row.id for row in rows] == [photo.id, report.id]
        assert all(row.submitted_at is not None for row in rows)
        submitted = session.query(LedgerEntry).filter_by(problem_id=problem_id, action="evidence.submitted").one()
        assert [f["id"] for f in submitted.payload["files"]] == [photo.id, report.id]
        assert submitted.payload["task_id"] == task
    assert duban.evidence_drafts(user, task) == []
    log = actions(duban, problem_id)
    at = log.index("evidence.submitted")
    assert log[at + 1] == "task.completed"  # recorded with the completion, in its transaction

    with pytest.raises(Conflict):  # immutable once submitted
        duban.delete_evidence(user, photo.id)
    with duban.db.reading() as session:
        assert session.get(EvidenceFile, photo.id) is not None
    assert duban.evidence_path(photo).exists()


def test_a_draft_is_deleted_with_its_content_and_a_ledger_entry(duban, org):
    problem_id, task = at_rectify(duban, org)
    user = org["user:responsible"]
    draft = duban.upload_task_evidence(user, task, "evidence", "错传.pdf", "application/pdf", PDF)
    stored = duban.evidence_path(draft)
    assert stored.exists()
    deleted = duban.delete_evidence(user, draft.id)
    assert deleted["field"] == "evidence" and deleted["task_id"] == task
    assert not stored.exists()
    with duban.db.reading() as session:
        assert session.get(EvidenceFile, draft.id) is None
        entry = session.query(LedgerEntry).filter_by(action="evidence.deleted").one()
        assert entry.subject_id == str(draft.id) and entry.problem_id == problem_id
        assert entry.payload["filename"] == "错传.pdf"
    assert duban.evidence_drafts(user, task) == []


def test_the_content_stays_while_another_file_has_it(duban, org):
    problem_id, task = at_rectify(duban, org)
    user = org["user:responsible"]
    first = duban.upload_task_evidence(user, task, "evidence", "a.png", "image/png", png())
    second = duban.upload_task_evidence(user, task, "evidence", "b.png", "image/png", png())
    assert first.sha256 == second.sha256
    duban.delete_evidence(user, first.id)
    assert duban.evidence_path(second).exists()  # still referenced by the second
    duban.delete_evidence(user, second.id)
    assert not duban.evidence_path(second).exists()

    kept = duban.upload_evidence(user, problem_id, "c.png", "image/png", png())  # a submitted file on the problem
    draft = duban.upload_task_evidence(user, task, "evidence", "d.png", "image/png", png())
    duban.delete_evidence(user, draft.id)
    assert duban.evidence_path(kept).exists()
    with pytest.raises(Conflict):  # a file stored on the problem is no task's draft
        duban.delete_evidence(user, kept.id)


def test_only_the_uploader_or_the_holder_deletes_and_only_the_holder_uploads(duban, org):
    problem_id, task = at_rectify(duban, org)
    draft = duban.upload_task_evidence(org["user:responsible"], task, "evidence", "a.pdf", "application/pdf", PDF)
    with pytest.raises(Forbidden):
        duban.delete_evidence(org["user:admin"], draft.id)
    with pytest.raises(Forbidden):
        duban.upload_task_evidence(org["user:admin"], task, "evidence", "b.pdf", "application/pdf", PDF)
    with pytest.raises(Forbidden):
        duban.evidence_drafts(org["user:admin"], task)
    with pytest.raises(Invalid) as refused:
        duban.upload_task_evidence(org["user:responsible"], task, "nonsense", "b.pdf", "application/pdf", PDF)
    assert "field" in refused.value.errors
    with pytest.raises(Invalid) as refused:  # the content check stays: random bytes named .jpg
        duban.upload_task_evidence(org["user:responsible"], task, "evidence", "x.jpg", "image/jpeg", b"MZ\x90\x00" * 40)
    assert "file" in refused.value.errors
    with duban.db.reading() as session:
        assert session.query(EvidenceFile).filter_by(problem_id=problem_id).count() == 1


def test_a_task_cannot_submit_another_tasks_draft(duban, org):
    problem_id, task = at_rectify(duban, org)
    second = register(duban, org, code="NL-2026-002")
    [(sign, _, _)] = [t for t in ready_tasks(duban, "responsible", org) if t[2] == "NL-2026-002"]
    foreign = duban.upload_task_evidence(org["user:responsible"], task, "evidence", "a.pdf", "application/pdf", PDF)
    with pytest.raises(Invalid):  # a draft of a task on another problem
        duban.complete_task(org["user:responsible"], sign, {"acknowledged": True, "evidence": [foreign.id]})
    assert second != problem_id
    with duban.db.reading() as session:
        assert session.get(EvidenceFile, foreign.id).submitted_at is None


def test_completion_without_naming_a_draft_leaves_it_a_draft_of_the_done_task(duban, org):
    problem_id, task = at_rectify(duban, org)
    user = org["user:responsible"]
    named = duban.upload_task_evidence(user, task, "evidence", "a.pdf", "application/pdf", PDF)
    unnamed = duban.upload_task_evidence(user, task, "evidence", "b.png", "image/png", png())
    duban.complete_task(user, task, {"summary": "整改完成", "evidence": [named.id]})
    with duban.db.reading() as session:
        assert [row.id for row in session.scalars(evidence.submitted_on(problem_id))] == [named.id]
    with pytest.raises(Conflict):  # the task is done: no more uploads to it
        duban.upload_task_evidence(user, task, "evidence", "c.pdf", "application/pdf", PDF)
    assert unnamed.submitted_at is None
