"""The task page's evidence drafts through real HTTP: an upload stays with the task across
signing out and in again (it is in the database, not the session), a draft is deleted with a
POST (CSRF, htmx), the completion submits the drafts, and after it nothing is deletable."""
from __future__ import annotations

import re
from io import BytesIO

from engine.models import EvidenceFile, HumanTask, LedgerEntry

from .test_evidence_drafts import PDF, at_rectify
from .test_pages import client, login, token_of  # noqa: F401  (the client fixture)
from .test_uploads import png

HX = {"HX-Request": "true"}


def listed(html: str, field: str = "evidence") -> list[int]:
    section = html.split(f'id="evidence-{field}"')[1].split("</section>")[0]
    return [int(i) for i in re.findall(r'data-evidence-id="(\d+)"', section)]


def upload(client, task, token, content, name, field="evidence"):
    return client.post(f"/tasks/{task}/evidence", headers=HX, content_type="multipart/form-data",
                       data={"csrf_token": token, "field": field, "file": (BytesIO(content), name)})


def test_drafts_survive_signing_out_are_deletable_then_submitted_and_frozen(client, duban, org):
    problem_id, task = at_rectify(duban, org)
    login(client, "responsible")
    page = client.get(f"/tasks/{task}").get_data(as_text=True)
    token = token_of(page)
    section = page.split('id="evidence-photos_before"')[1].split("</section>")[0]
    assert 'accept="image/*" capture="environment"' in section  # the phone's camera for photos
    plain = page.split('id="evidence-evidence"')[1].split("</section>")[0]
    assert 'accept="image/jpeg,.jpg,' in plain and "application/pdf,.pdf" in plain and "capture" not in plain
    assert 'class="upload-progress"' in plain and "evidence-upload.js" in page

    photo = upload(client, task, token, png(), "现场.png")
    assert photo.status_code == 200 and "<html" not in photo.get_data(as_text=True)
    report = upload(client, task, token, PDF, "报告.pdf")
    with duban.db.reading() as session:
        photo_id, report_id = [row.id for row in session.query(EvidenceFile).order_by(EvidenceFile.id)]
    assert listed(report.get_data(as_text=True)) == [photo_id, report_id]

    client.post("/logout", data={"csrf_token": token})
    login(client, "responsible")  # a new session: the drafts are still the task's
    page = client.get(f"/tasks/{task}").get_data(as_text=True)
    token = token_of(page)
    assert listed(page) == [photo_id, report_id]
    assert f'/tasks/{task}/evidence/{report_id}/delete' in page
    problem_page = client.get(f"/problems/{problem_id}").get_data(as_text=True)
    assert "data-evidence-id" not in problem_page.split('id="evidence"')[1].split("</section>")[0]

    refused = client.post(f"/tasks/{task}/evidence/{report_id}/delete", headers=HX)  # no CSRF token
    assert refused.status_code == 400
    deleted = client.post(f"/tasks/{task}/evidence/{report_id}/delete", headers=HX, data={"csrf_token": token})
    assert deleted.status_code == 200 and listed(deleted.get_data(as_text=True)) == [photo_id]
    with duban.db.reading() as session:
        assert session.get(EvidenceFile, report_id) is None
        assert session.query(LedgerEntry).filter_by(action="evidence.deleted", problem_id=problem_id).count() == 1
    assert client.post(f"/tasks/{task}/evidence/{report_id}/delete", data={"csrf_token": token}).status_code == 404

    done = client.post(f"/tasks/{task}/complete", data={"csrf_token": token, "data": '{"summary": "整改完成"}'})
    assert done.status_code == 302
    with duban.db.reading() as session:
        assert session.get(HumanTask, task).data["evidence"] == [photo_id]
        assert session.get(EvidenceFile, photo_id).submitted_at is not None

    page = client.get(f"/tasks/{task}").get_data(as_text=True)
    assert listed(page) == [photo_id] and "/delete" not in page  # shown as submitted, not deletable
    frozen = client.post(f"/tasks/{task}/evidence/{photo_id}/delete", data={"csrf_token": token})
    assert frozen.status_code == 409
    with duban.db.reading() as session:
        assert session.get(EvidenceFile, photo_id) is not None
    problem_page = client.get(f"/problems/{problem_id}").get_data(as_text=True)
    assert f'data-evidence-id="{photo_id}"' in problem_page.split('id="evidence"')[1].split("</section>")[0]


def test_another_user_cannot_delete_a_draft(client, duban, org):
    problem_id, task = at_rectify(duban, org)
    draft = duban.upload_task_evidence(org["user:responsible"], task, "evidence", "a.pdf", "application/pdf", PDF)
    login(client, "admin")
    token = token_of(client.get("/tasks").get_data(as_text=True))
    assert client.post(f"/tasks/{task}/evidence/{draft.id}/delete", data={"csrf_token": token}).status_code == 403
    with duban.db.reading() as session:
        assert session.get(EvidenceFile, draft.id) is not None


def test_an_upload_and_a_deletion_answer_what_they_committed(client, duban, org):
    from .test_committed_answers import no_connection_after_commit

    _problem_id, task = at_rectify(duban, org)
    login(client, "responsible")
    token = token_of(client.get(f"/tasks/{task}").get_data(as_text=True))
    with no_connection_after_commit(duban) as trap:  # after the commit, the pool gives no connection
        photo = upload(client, task, token, png(), "现场.png")
        assert trap["committed"] and trap["refused"] == 0
    assert photo.status_code == 200
    with duban.db.reading() as session:
        [photo_id] = [row.id for row in session.query(EvidenceFile)]
    assert listed(photo.get_data(as_text=True)) == [photo_id]
    with no_connection_after_commit(duban) as trap:
        deleted = client.post(f"/tasks/{task}/evidence/{photo_id}/delete", headers=HX, data={"csrf_token": token})
        assert trap["committed"]
    assert deleted.status_code == 200 and listed(deleted.get_data(as_text=True)) == []
