"""The pages through Flask's test client: signing in and out, CSRF, languages, 我的待办, the
task page's refusals, and completing a task with evidence."""
from __future__ import annotations

import re
from io import BytesIO

import pytest

from engine.models import EvidenceFile, HumanTask, LedgerEntry

from .helpers_flow import PLAN
from .helpers_pages import ready_tasks, register
from .support import PASSWORD


def token_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def login(client, username, password=PASSWORD, next=None):
    page = client.get("/login")
    data = {"username": username, "password": password, "csrf_token": token_of(page.get_data(as_text=True))}
    if next:
        data["next"] = next
    return client.post("/login", data=data)


@pytest.fixture
def client(app):
    return app.test_client()


def test_pages_need_a_signed_in_user(client, org):
    response = client.get("/tasks?light=red")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/tasks")


def test_login_and_logout(client, org):
    response = login(client, "responsible", next="/tasks")
    assert response.status_code == 302 and response.headers["Location"] == "/tasks"
    page = client.get("/tasks").get_data(as_text=True)
    assert "张科长" in page and "责任人员" in page and "我的待办" in page
    assert 'data-nav="ledger"' in page  # the later pages are in the navigation, not yet links

    logout = client.post("/logout", data={"csrf_token": token_of(page)})
    assert logout.status_code == 302 and logout.headers["Location"] == "/login"
    assert client.get("/tasks").status_code == 302


def test_wrong_password_and_foreign_next(client, org):
    response = login(client, "responsible", password="wrong")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    response = login(client, "responsible", next="https://evil.example/")
    assert response.headers["Location"] == "/tasks"


def test_post_without_csrf_token_is_refused(client, org):
    response = client.post("/login", data={"username": "responsible", "password": PASSWORD})
    assert response.status_code == 400
    assert "表单已过期" in response.get_data(as_text=True)
    assert client.get("/tasks").status_code == 302  # not signed in
    login(client, "responsible")
    assert client.post("/logout").status_code == 400
    assert client.get("/tasks").status_code == 200  # still signed in


def test_the_api_needs_no_csrf_token(client, org):
    response = client.post("/api/auth/token", json={"username": "responsible", "password": PASSWORD})
    assert response.status_code == 200 and response.json["token"]


def test_english_switch_is_kept_in_the_session(client, org):
    login(client, "responsible")
    assert "我的待办" in client.get("/tasks").get_data(as_text=True)
    response = client.get("/lang/en?next=/tasks")
    assert response.status_code == 302 and response.headers["Location"] == "/tasks"
    page = client.get("/tasks").get_data(as_text=True)
    assert "My tasks" in page and "Sign out" in page and "我的待办" not in page
    assert '<html lang="en">' in page
    client.get("/lang/zh_CN")
    assert "我的待办" in client.get("/tasks").get_data(as_text=True)
    assert client.get("/lang/fr").status_code == 404


def test_my_tasks_lists_only_ones_own_ready_tasks(client, duban, org):
    mine = register(duban, org, "NL-2026-001", responsible="responsible")
    other = register(duban, org, "NL-2026-002", responsible="eco_clerk")
    login(client, "responsible")
    page = client.get("/tasks").get_data(as_text=True)
    assert "NL-2026-001" in page and "NL-2026-002" not in page
    [(task_id, element, _code)] = ready_tasks(duban, "responsible", org)
    assert element == "Task_sign"
    assert f'data-task-id="{task_id}"' in page
    assert 'data-count="green">1<' in page and 'data-count="red">0<' in page

    red = client.get("/tasks?light=red", headers={"HX-Request": "true", "HX-Target": "task-list"})
    text = red.get_data(as_text=True)
    assert "<html" not in text and 'data-filter="red"' in text and "NL-2026-001" not in text
    green = client.get("/tasks?light=green", headers={"HX-Request": "true", "HX-Target": "task-list"})
    assert "NL-2026-001" in green.get_data(as_text=True)
    assert client.get("/tasks?light=purple").status_code == 404
    assert mine != other


def test_task_page_refuses_others_and_unknown_tasks(client, duban, org):
    register(duban, org, "NL-2026-002", responsible="eco_clerk")
    [(task_id, _, _)] = ready_tasks(duban, "eco_clerk", org)
    login(client, "outsider")
    response = client.get(f"/tasks/{task_id}")
    assert response.status_code == 403
    assert "text/html" in response.content_type and "无权访问" in response.get_data(as_text=True)
    with duban.db.reading() as session:
        denied = session.query(LedgerEntry).filter_by(subject_type="human_task", subject_id=str(task_id)).all()
    assert any(entry.payload.get("action") == f"see task {task_id}" for entry in denied)
    assert client.get("/tasks/999999").status_code == 404
    page = client.get("/tasks").get_data(as_text=True)
    refused = client.post(f"/tasks/{task_id}/complete", data={"csrf_token": token_of(page), "data": '{"acknowledged": true}'})
    assert refused.status_code == 403
    assert ready_tasks(duban, "eco_clerk", org)[0][0] == task_id  # still ready


def test_task_page_shows_form_and_problem(client, duban, org):
    register(duban, org)
    [(task_id, _, _)] = ready_tasks(duban, "responsible", org)
    login(client, "responsible")
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "form-viewer.umd.js" in page and '"key": "acknowledged"' in page
    for shown in ("NL-2026-001", "南岭县", "吴县长", "南岭县生态环境分局", "张科长", "2026-06-30", "签收"):
        assert shown in page


def test_complete_with_errors_then_with_evidence(client, duban, org):
    problem_id = register(duban, org)
    login(client, "responsible")
    [(task_id, _, _)] = ready_tasks(duban, "responsible", org)
    token = token_of(client.get(f"/tasks/{task_id}").get_data(as_text=True))

    wrong = client.post(f"/tasks/{task_id}/complete", data={"csrf_token": token, "data": '{"acknowledged": "maybe"}'})
    assert wrong.status_code == 422
    assert '"Field_sign_acknowledged": [' in wrong.get_data(as_text=True)  # handed to form-js at its field
    done = client.post(f"/tasks/{task_id}/complete", data={"csrf_token": token, "data": '{"acknowledged": true}'})
    assert done.status_code == 302
    assert "已办理：签收（NL-2026-001）" in client.get("/tasks").get_data(as_text=True)

    [(plan_task, element, _)] = ready_tasks(duban, "responsible", org)
    assert element == "Task_submit_plan"
    duban.complete_task(org["user:responsible"], plan_task, PLAN)
    [(review, _, _)] = ready_tasks(duban, "admin", org)
    duban.complete_task(org["user:admin"], review, {"decision": "approve"})
    [(rectify, element, _)] = ready_tasks(duban, "responsible", org)
    assert element == "Task_rectify"

    missing = client.post(f"/tasks/{rectify}/complete", data={"csrf_token": token, "data": '{"summary": "整改完成"}'})
    assert missing.status_code == 422
    section = missing.get_data(as_text=True).split('id="evidence-evidence"')[1].split("</section>")[0]
    assert 'class="field-error"' in section

    upload = client.post(f"/tasks/{rectify}/evidence", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "field": "evidence", "file": (BytesIO(b"\x89PNG\r\n\x1a\n fake"), "现场.png", "image/png")},
        content_type="multipart/form-data")
    assert upload.status_code == 200
    with duban.db.reading() as session:
        [row] = session.query(EvidenceFile).filter_by(problem_id=problem_id).all()
    fragment = upload.get_data(as_text=True)
    assert "<html" not in fragment and f'data-evidence-id="{row.id}"' in fragment and 'class="thumb"' in fragment
    image = client.get(f"/evidence/{row.id}")
    assert image.status_code == 200 and image.content_type == "image/png"

    done = client.post(f"/tasks/{rectify}/complete", data={"csrf_token": token, "data": '{"summary": "整改完成"}'})
    assert done.status_code == 302
    with duban.db.reading() as session:
        task = session.get(HumanTask, rectify)
        assert task.data["evidence"] == [row.id] and task.data["summary"] == "整改完成"


def test_evidence_of_a_problem_is_not_for_strangers(client, duban, org):
    problem_id = register(duban, org)
    row = duban.upload_evidence(org["user:responsible"], problem_id, "a.pdf", "application/pdf", b"%PDF-1.4")
    login(client, "outsider")
    assert client.get(f"/evidence/{row.id}").status_code == 403
    assert client.get("/evidence/999999").status_code == 404


@pytest.mark.parametrize("username, home", [("responsible", "/tasks"), ("jiwei", "/dashboard"),
                                            ("admin", "/ledger"), ("secretary", "/dashboard")])
def test_each_role_starts_at_its_home(client, org, username, home):
    assert client.get("/").headers["Location"] == "/login"
    response = login(client, username)
    assert response.status_code == 302 and response.headers["Location"] == home
    assert client.get("/").headers["Location"] == home


def test_the_navigation_shows_each_area_to_its_roles(client, org):
    login(client, "responsible")
    page = client.get("/tasks").get_data(as_text=True)
    assert 'data-nav="ledger"' in page and 'data-nav="bulletins"' not in page
    assert 'data-nav="dashboard"' not in page and 'data-nav="admin"' not in page
    assert 'data-nav="accountability"' not in page
    assert client.get("/admin/").status_code == 403


def test_before_and_after_photos_side_by_side(client, duban, org):
    """The close-out application's before/after photos: their upload boxes side by side, and
    for the reviewer and on the problem page the pair as one comparison (整改前后对比)."""
    problem_id = register(duban, org)
    for user, data in (("responsible", {"acknowledged": True}), ("responsible", PLAN), ("admin", {"decision": "approve"})):
        [(task_id, _, _)] = ready_tasks(duban, user, org)
        duban.complete_task(org[f"user:{user}"], task_id, data)
    [(rectify, element, _)] = ready_tasks(duban, "responsible", org)
    assert element == "Task_rectify"
    login(client, "responsible")
    page = client.get(f"/tasks/{rectify}").get_data(as_text=True)
    pair = page.split('class="upload-pair"')[1].split('id="complete-form"')[0]
    assert pair.index('id="evidence-photos_before"') < pair.index('id="evidence-photos_after"')
    assert "data-comparison" not in page  # nothing submitted yet

    upload = duban.upload_evidence
    before = upload(org["user:responsible"], problem_id, "前.png", "image/png", b"\x89PNG\r\n\x1a\n before").id
    after = upload(org["user:responsible"], problem_id, "后.png", "image/png", b"\x89PNG\r\n\x1a\n after").id
    report = upload(org["user:responsible"], problem_id, "报告.pdf", "application/pdf", b"%PDF-1.4 report").id
    duban.complete_task(org["user:responsible"], rectify, {"summary": "整改完成", "evidence": [report],
                                                           "photos_before": [before], "photos_after": [after]})
    [(certify, element, _)] = ready_tasks(duban, "housing_head", org)
    assert element == "Task_industry_certify"

    def comparison(html: str) -> tuple[list[str], list[str]]:
        block = html.split("data-comparison")[1].split("</section>")[0]
        sides = {side: re.findall(r'data-evidence-id="(\d+)"', block.split(f'data-side="{side}"')[1].split("</figure>")[0])
                 for side in ("before", "after")}
        return sides["before"], sides["after"]

    client.post("/logout", data={"csrf_token": token_of(page)})
    login(client, "housing_head")
    review = client.get(f"/tasks/{certify}").get_data(as_text=True)
    assert "整改前后对比" in review and "整改实施并申请销号" in review
    assert comparison(review) == ([str(before)], [str(after)])
    problem_page = client.get(f"/problems/{problem_id}").get_data(as_text=True)
    assert comparison(problem_page) == ([str(before)], [str(after)])


def test_every_event_the_ladder_knows_has_one_name_on_the_pages():
    from engine.escalation.rules import EVENTS
    from web.ui.layout import EVENT_LABELS

    assert set(EVENT_LABELS) == set(EVENTS)


def test_my_tasks_come_a_page_at_a_time_soonest_first(client, duban, org, monkeypatch):
    from web.ui import inbox

    monkeypatch.setattr(inbox, "PER_PAGE", 3)
    for n in range(1, 8):
        register(duban, org, f"NL-2026-1{n:02d}", responsible="responsible")
    login(client, "responsible")
    seen = []
    for number in (1, 2, 3):
        html = client.get(f"/tasks?page={number}").get_data(as_text=True)
        seen += re.findall(r'data-task-id="(\d+)"', html)
        assert f'data-page="{number}" data-pages="3"' in html
        assert 'data-count="total">7<' in html  # the counts are of every task, not of the page
    assert len(seen) == 7 and len(set(seen)) == 7
    with duban.db.reading() as session:
        ordered = [str(task.id) for task in session.query(HumanTask).filter(HumanTask.state == "ready")
                   .order_by(HumanTask.due_at, HumanTask.id) if task.problem.code.startswith("NL-2026-1")]
    assert seen == ordered
    partial = client.get("/tasks?page=2", headers={"HX-Request": "true", "HX-Target": "task-list"})
    assert "<html" not in partial.get_data(as_text=True) and 'rel="prev"' in partial.get_data(as_text=True)
    for bad in ("0", "x", "99999999"):
        response = client.get(f"/tasks?page={bad}")
        assert response.status_code == 400 and "page" in response.get_data(as_text=True)
