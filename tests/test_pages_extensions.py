"""延期申请 through Flask's test client: the responsible official files a request from the
problem page; the office decides it from the list (pending first, with the problem's earlier
requests); the decision shows on the problem page. Bad input comes back at its field with
nothing written; only the problem's chain files and only the office decides."""
from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from engine import clock, extensions
from engine.models import ExtensionRequest, ExtensionStatus, LedgerEntry, Problem

from .helpers_pages import register
from .test_pages import login, token_of


@pytest.fixture
def client(app):
    return app.test_client()


def signed_in(app, user):
    client = app.test_client()
    login(client, user)
    return client


def field_errors(html: str) -> dict[str, str]:
    return {m[0]: m[1] for m in re.findall(r'data-error-for="([^"]+)">([^<]*)<', html)}


def written(duban) -> tuple[int, int]:
    with duban.db.reading() as db:
        return (db.scalar(select(func.count()).select_from(ExtensionRequest)),
                db.scalar(select(func.count()).select_from(LedgerEntry)))


def file(client, problem_id, **data):
    token = token_of(client.get(f"/problems/{problem_id}").get_data(as_text=True))
    return client.post(f"/problems/{problem_id}/extension-requests", data={"csrf_token": token, **data})


def decide(client, request_id, **data):
    token = token_of(client.get("/extensions").get_data(as_text=True))
    return client.post(f"/extensions/{request_id}/decision", data={"csrf_token": token, **data})


def deadline_of(duban, problem_id) -> date:
    with duban.db.reading() as db:
        return db.get(Problem, problem_id).deadline


def test_the_official_files_and_the_office_approves(app, duban, org):
    problem_id = register(duban, org)
    official = signed_in(app, "responsible")
    page = official.get(f"/problems/{problem_id}").get_data(as_text=True)
    assert 'data-form="extension-request"' in page
    response = file(official, problem_id, requested_deadline="2026-09-30", reason="雨季施工受限，管网改造需顺延。")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/problems/{problem_id}#extensions")
    page = official.get(f"/problems/{problem_id}").get_data(as_text=True)
    assert 'data-extension-status="pending"' in page
    assert 'data-form="extension-request"' not in page  # one pending request at a time

    office = signed_in(app, "admin")
    listing = office.get("/extensions").get_data(as_text=True)
    assert 'data-pending-count="1"' in listing and "雨季施工受限" in listing
    assert "2026-06-30" in listing and "2026-09-30" in listing
    [request_id] = [int(i) for i in re.findall(r'<section class="card extension" id="extension-(\d+)"', listing)]
    response = decide(office, request_id, decision="approve", note="同意", approved_deadline="2026-08-31")
    assert response.status_code == 302
    assert deadline_of(duban, problem_id) == date(2026, 8, 31)
    page = official.get(f"/problems/{problem_id}").get_data(as_text=True)
    section = page.split('id="extensions"')[1]
    assert 'data-extension-status="approved"' in section and "批准至 2026-08-31" in section and "同意" in section


def test_the_office_refuses_with_a_reason_and_sees_the_history(app, duban, org):
    problem_id = register(duban, org)
    official, office = signed_in(app, "responsible"), signed_in(app, "admin")
    file(official, problem_id, requested_deadline="2026-09-30", reason="第一次申请")
    [first] = _ids(duban)
    response = decide(office, first, decision="refuse", note="理由不充分")
    assert response.status_code == 302
    assert deadline_of(duban, problem_id) == date(2026, 6, 30)
    file(official, problem_id, requested_deadline="2026-07-31", reason="第二次申请")
    listing = office.get("/extensions").get_data(as_text=True)
    # pending first, carrying the earlier request of its problem
    sections = re.findall(r'data-extension-id="(\d+)" data-extension-status="(\w+)"', listing)
    assert [s[1] for s in sections] == ["pending", "refused"]
    pending = listing.split(f'id="extension-{first + 1}"')[1].split("</section>")[0]
    assert "data-history" in pending and "第一次申请" in pending and "理由不充分" in pending
    page = official.get(f"/problems/{problem_id}").get_data(as_text=True).split('id="extensions"')[1]
    assert 'data-extension-status="refused"' in page and "理由不充分" in page and "第二次申请" in page


def _ids(duban) -> list[int]:
    with duban.db.reading() as db:
        return list(db.scalars(select(ExtensionRequest.id).order_by(ExtensionRequest.id)))


@pytest.mark.parametrize("data, field, message", [
    ({"requested_deadline": "", "reason": "x"}, "requested_deadline", "请选择申请延至的日期"),
    ({"requested_deadline": "2026-02-30", "reason": "x"}, "requested_deadline", "请选择申请延至的日期"),
    ({"requested_deadline": "2026-05-31", "reason": "x"}, "requested_deadline", "申请的时限须晚于现在的整改时限 2026-06-30"),
    ({"requested_deadline": "2026-09-30", "reason": "  "}, "reason", "请说明延期理由"),
    ({"requested_deadline": "2026-09-30", "reason": "长" * 4001}, "reason", "延期理由最多 4000 个字符"),
])
def test_bad_requests_come_back_at_their_field(app, duban, org, data, field, message):
    problem_id = register(duban, org)
    official = signed_in(app, "responsible")
    before = written(duban)
    response = file(official, problem_id, **data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in field_errors(html).get(field, ""), field_errors(html)
    assert 'data-form="extension-request"' in html and 'data-problem-code' in html
    assert written(duban) == before


def test_a_second_pending_request_is_refused(app, duban, org):
    problem_id = register(duban, org)
    official = signed_in(app, "responsible")
    file(official, problem_id, requested_deadline="2026-09-30", reason="第一次")
    before = written(duban)
    response = file(official, problem_id, requested_deadline="2026-10-31", reason="第二次")
    assert response.status_code == 400
    assert "已有一份延期申请等待审批" in field_errors(response.get_data(as_text=True))["form"]
    assert written(duban) == before


@pytest.mark.parametrize("data, field, message", [
    ({"decision": "refuse", "note": ""}, "note", "驳回须说明理由"),
    ({"decision": "approve", "approved_deadline": "2026-05-01"}, "approved_deadline", "批准的时限须晚于现在的整改时限 2026-06-30"),
    ({"decision": "approve", "approved_deadline": "明天"}, "approved_deadline", "批准的时限应为日期"),
    ({"decision": "maybe"}, "form", "请选择批准或驳回"),
])
def test_bad_decisions_come_back_at_their_field(app, duban, org, data, field, message):
    problem_id = register(duban, org)
    file(signed_in(app, "responsible"), problem_id, requested_deadline="2026-09-30", reason="顺延")
    [request_id] = _ids(duban)
    office = signed_in(app, "admin")
    before = written(duban)
    response = decide(office, request_id, **data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in field_errors(html).get(field, ""), field_errors(html)
    assert written(duban) == before
    with duban.db.reading() as db:
        assert extensions.get(db, request_id).status == ExtensionStatus.PENDING
    assert deadline_of(duban, problem_id) == date(2026, 6, 30)


def test_a_decided_request_is_not_decided_again(app, duban, org):
    problem_id = register(duban, org)
    file(signed_in(app, "responsible"), problem_id, requested_deadline="2026-09-30", reason="顺延")
    [request_id] = _ids(duban)
    office = signed_in(app, "admin")
    token = token_of(office.get("/extensions").get_data(as_text=True))
    assert decide(office, request_id, decision="approve").status_code == 302
    response = office.post(f"/extensions/{request_id}/decision", data={"csrf_token": token, "decision": "refuse",
                                                                       "note": "不同意"})
    assert response.status_code == 400 and "这份申请已经审批过了" in response.get_data(as_text=True)
    assert deadline_of(duban, problem_id) == date(2026, 9, 30)
    assert office.post("/extensions/99999/decision", data={"csrf_token": token, "decision": "maybe"}).status_code == 404
    assert office.post("/problems/99999/extension-requests", data={"csrf_token": token}).status_code == 404


def test_who_files_and_who_decides(app, duban, org):
    problem_id = register(duban, org)
    # outside the chain: the problem is not theirs to see, nor to extend
    outsider = signed_in(app, "outsider")
    token = token_of(outsider.get("/tasks").get_data(as_text=True))
    response = outsider.post(f"/problems/{problem_id}/extension-requests",
                             data={"csrf_token": token, "requested_deadline": "2026-09-30", "reason": "x"})
    assert response.status_code == 403
    # the discipline office watches; it neither files nor decides, and sees no form
    jiwei = signed_in(app, "jiwei")
    assert 'data-form="extension-request"' not in jiwei.get(f"/problems/{problem_id}").get_data(as_text=True)
    token = token_of(jiwei.get("/tasks").get_data(as_text=True))
    response = jiwei.post(f"/problems/{problem_id}/extension-requests",
                          data={"csrf_token": token, "requested_deadline": "2026-09-30", "reason": "x"})
    assert response.status_code == 403
    assert written(duban)[0] == 0
    file(signed_in(app, "responsible"), problem_id, requested_deadline="2026-09-30", reason="顺延")
    [request_id] = _ids(duban)
    for user in ("responsible", "jiwei", "secretary"):
        client = signed_in(app, user)
        assert client.get("/extensions").status_code == 403
        assert 'data-nav="extensions"' not in client.get("/tasks").get_data(as_text=True)
        token = token_of(client.get("/tasks").get_data(as_text=True))
        response = client.post(f"/extensions/{request_id}/decision", data={"csrf_token": token, "decision": "approve"})
        assert response.status_code == 403
    assert deadline_of(duban, problem_id) == date(2026, 6, 30)
    assert 'data-nav="extensions"' in signed_in(app, "admin").get("/tasks").get_data(as_text=True)


def test_past_the_deadline_there_is_no_form_and_a_request_is_refused_at_the_date(app, duban, org):
    problem_id = register(duban, org)
    clock.freeze(datetime(2026, 7, 1, 9, 0, tzinfo=clock.SHANGHAI))
    official = signed_in(app, "responsible")
    page = official.get(f"/problems/{problem_id}").get_data(as_text=True)
    assert 'data-form="extension-request"' not in page
    before = written(duban)
    response = file(official, problem_id, requested_deadline="2026-09-30", reason="顺延")
    assert response.status_code == 400
    assert "整改时限 2026-06-30 已过" in field_errors(response.get_data(as_text=True))["requested_deadline"]
    assert written(duban) == before


def test_the_list_shows_every_pending_request_and_only_the_latest_decisions(app, duban, org, monkeypatch):
    """Cost follows what is shown: the decided requests are the latest DECIDED_SHOWN, not every
    request ever filed; the pending ones are all there, with their problem's history."""
    from web.ui import extension_requests

    monkeypatch.setattr(extension_requests, "DECIDED_SHOWN", 1)
    problem_id = register(duban, org)
    official, office = signed_in(app, "responsible"), signed_in(app, "admin")
    file(official, problem_id, requested_deadline="2026-09-30", reason="第一次申请")
    decide(office, _ids(duban)[-1], decision="refuse", note="理由一")
    file(official, problem_id, requested_deadline="2026-08-31", reason="第二次申请")
    decide(office, _ids(duban)[-1], decision="refuse", note="理由二")
    file(official, problem_id, requested_deadline="2026-07-31", reason="第三次申请")
    first, second, third = _ids(duban)
    listing = office.get("/extensions").get_data(as_text=True)
    sections = re.findall(r'data-extension-id="(\d+)" data-extension-status="(\w+)"', listing)
    assert sections == [(str(third), "pending"), (str(second), "refused")]
    pending = listing.split(f'id="extension-{third}"')[1].split("</section>")[0]
    assert "第一次申请" in pending and "第二次申请" in pending   # the history is read for what is shown
