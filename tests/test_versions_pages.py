"""管理 › 流程定义 › a process's versions through the test client: the list with status, note
and open instances; 发布 and 回滚到此版本 with a required reason, warnings accepted with one;
the comparison page; the editor opened on the draft; its door saving drafts; refusals as 4xx
with the database unchanged."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from engine.models import ProcessDefinition

from .helpers_flow import ledger_actions
from .test_definitions import RENAMED
from .test_modeler_page import editor_data, post_xml
from .test_pages import login, token_of
from .test_versions import deploy as deploy_api

WARNED = RENAMED
for status in ("registered", "planning", "rectifying", "accepting", "public_notice", "closed"):
    WARNED = WARNED.replace(f'<spiffworkflow:property name="problemStatus" value="{status}" />', "")


@pytest.fixture
def admin(app, org):
    client = app.test_client()
    login(client, "admin")
    return client


def states(duban) -> list[tuple[int, str, int | None]]:
    with duban.db.reading() as session:
        return [(v, s.value, p) for v, s, p in session.execute(
            select(ProcessDefinition.version, ProcessDefinition.status, ProcessDefinition.publication)
            .where(ProcessDefinition.key == "rectification").order_by(ProcessDefinition.version))]


def row_of(html: str, version: int) -> str:
    start = html.index(f'<tr data-version="{version}"')
    return html[start:html.index("</tr>", start)]


def publish(client, version: int, comment: str | None, accept: bool = False):
    page = client.get("/admin/definitions/rectification").get_data(as_text=True)
    data = {"csrf_token": token_of(page)}
    if comment is not None:
        data["comment"] = comment
    if accept:
        data["accept_warnings"] = "1"
    return client.post(f"/admin/definitions/rectification/{version}/publish", data=data)


def test_the_version_list_shows_status_note_and_open_instances(admin, api, duban):
    assert deploy_api(api, RENAMED, comment="签收改名", draft=True).status_code == 201
    api.register()
    html = admin.get("/admin/definitions/rectification").get_data(as_text=True)
    draft, current = row_of(html, 2), row_of(html, 1)
    assert 'data-status="draft"' in draft and "草稿" in draft and "签收改名" in draft and 'data-open="0"' in draft
    assert 'data-form="publish"' in draft and "rectification/edit?version=2" in draft
    assert 'data-status="current"' in current and "当前" in current and 'data-open="1"' in current
    assert 'data-form=' not in current  # the current version is not published again
    assert 'data-edit-version="2"' in html   # 编辑 opens the draft
    overview = admin.get("/admin/definitions").get_data(as_text=True)
    assert 'data-status="draft"' in overview and 'data-status="current"' in overview
    assert admin.get("/admin/definitions/nothing").status_code == 404


def test_publish_and_roll_back_need_a_reason_and_are_recorded(admin, api, duban):
    deploy_api(api, RENAMED, draft=True)
    before = states(duban)
    refused = publish(admin, 2, "  ")
    assert refused.status_code == 400 and 'data-error="comment"' in refused.get_data(as_text=True)
    no_token = admin.post("/admin/definitions/rectification/2/publish", data={"comment": "x"})
    assert no_token.status_code == 400
    assert states(duban) == before

    done = publish(admin, 2, "审议通过")
    assert done.status_code == 302
    assert states(duban) == [(1, "published", 1), (2, "published", 2)]
    back = publish(admin, 1, "回滚")
    assert back.status_code == 302
    assert states(duban) == [(1, "published", 3), (2, "published", 2)]
    assert [e.payload["comment"] for e in ledger_actions(duban, action="definition.rolled_back")] == ["回滚"]
    again = publish(admin, 1, "再来")
    assert again.status_code == 409 and "第 1 版已经是当前版本" in again.get_data(as_text=True)
    assert publish(admin, 9, "无此版本").status_code == 404


def test_warnings_are_accepted_with_a_reason_on_the_page(admin, api, duban):
    assert deploy_api(api, WARNED, draft=True).status_code == 201
    refused = publish(admin, 2, "发布")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and 'data-code="no-problem-status"' in html
    assert 'data-form="accept-publish"' in html
    assert states(duban)[1][1] == "draft"
    accepted = publish(admin, 2, "状态由人工维护", accept=True)
    assert accepted.status_code == 302 and states(duban)[1] == (2, "published", 2)


def test_officials_may_not_publish(app, org, api, duban):
    deploy_api(api, RENAMED, draft=True)
    client = app.test_client()
    login(client, "responsible")
    assert client.get("/admin/definitions/rectification").status_code == 403
    assert client.get("/admin/definitions/rectification/diff").status_code == 403
    assert states(duban)[1][1] == "draft"


def test_the_comparison_page_lists_the_changes_and_hands_them_to_the_script(admin, api):
    deploy_api(api, RENAMED, draft=True)
    html = admin.get("/admin/definitions/rectification/diff").get_data(as_text=True)
    assert 'data-diff-element="Task_sign"' in html and 'data-field="name"' in html
    data = json.loads(re.search(r'<script type="application/json" id="diff-data">(.*?)</script>', html, re.S).group(1))
    assert (data["older"]["version"], data["newer"]["version"]) == (1, 2)
    assert data["changes"] == {"added": [], "removed": [], "changed": ["Task_sign"]}
    assert 'id="rectification"' in data["older"]["xml"] and "签收确认" in data["newer"]["xml"]
    same = admin.get("/admin/definitions/rectification/diff?from=2&to=2").get_data(as_text=True)
    assert "data-no-changes" in same
    assert admin.get("/admin/definitions/rectification/diff?from=x").status_code == 400
    assert admin.get("/admin/definitions/rectification/diff?from=1&to=99").status_code == 404
    assert admin.get("/admin/definitions/rectification/diff?from=99999999999&to=1").status_code == 400


def test_the_editor_opens_the_draft_and_its_door_saves_drafts(admin, api, duban):
    data = editor_data(admin, "/admin/definitions/rectification/edit")
    changed = data["xml"].replace('name="签收"', 'name="签收（草稿）"', 1)
    url, csrf = data["urls"]["deploy"], data["csrf"]
    saved = post_xml(admin, url + "?draft=true&comment=草稿一", changed, csrf)
    assert saved.status_code == 201 and (saved.json["status"], saved.json["version"]) == ("draft", 2)
    assert saved.json["versions_url"] == "/admin/definitions/rectification"
    again = post_xml(admin, url + "?draft=true&comment=草稿二", changed.replace("草稿）", "草稿二）"), csrf)
    assert again.status_code == 200 and again.json["outcome"] == "replaced"
    assert "草稿二）" in editor_data(admin, "/admin/definitions/rectification/edit")["xml"]
    assert 'name="签收"' in editor_data(admin, "/admin/definitions/rectification/edit?version=1")["xml"]
    assert admin.get("/admin/definitions/rectification/edit?version=7").status_code == 404
    long = post_xml(admin, url + "?draft=true&comment=" + "长" * 2001, changed, csrf)
    assert long.status_code == 400 and "comment" in long.json["errors"]
    no_reason = post_xml(admin, url + "?accept_warnings=true&comment=说明&reason=%20", changed, csrf)
    assert no_reason.status_code == 400 and "reason" in no_reason.json["errors"]
    assert [s for _, s, _ in states(duban)] == ["published", "draft"]
