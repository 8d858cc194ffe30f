"""管理 › 流程定义 › 编辑 through the test client: the editor page carries the latest version's
XML, the lane names of config/roles.toml and Duban's vocabularies; the JSON doors its script
calls deploy like the API (201, 200 unchanged, 400 naming the element) with the page session and
the CSRF header, and answer 404 for 检查 until the server's check exists."""
from __future__ import annotations

import json
import re

import pytest

from engine.assignment import load_lane_roles

from .test_pages import login

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def admin(app, org):
    client = app.test_client()
    login(client, "admin")
    return client


def editor_data(client, path):
    html = client.get(path).get_data(as_text=True)
    found = re.search(r'<script type="application/json" id="modeler-data">(.*?)</script>', html, re.S)
    assert found, html[:500]
    return json.loads(found.group(1))


def post_xml(client, url, xml, csrf):
    return client.post(url, data=xml.encode() if isinstance(xml, str) else xml,
                       headers={"Content-Type": "application/xml", "X-CSRFToken": csrf})


def test_the_editor_opens_the_latest_version_with_the_roles_and_vocabularies(admin):
    data = editor_data(admin, "/admin/definitions/rectification/edit")
    assert 'id="rectification"' in data["xml"] and "<duban:form>" in data["xml"]
    assert [r["lane"] for r in data["vocab"]["roles"]] == list(load_lane_roles())
    assert {"lane": "牵头单位", "role": "lead_unit", "label": "牵头单位负责人"} in data["vocab"]["roles"]
    assert [s["value"] for s in data["vocab"]["statuses"]][:2] == ["registered", "planning"]
    assert "region_heads" in [t["value"] for t in data["vocab"]["targets"]]
    assert data["strings"]["group"] == "督办"
    assert admin.get("/admin/definitions/nonexistent/edit").status_code == 404


def test_the_english_page_hands_english_strings_to_the_script(admin):
    admin.get("/lang/en")
    data = editor_data(admin, "/admin/definitions/rectification/edit")
    assert data["strings"]["group"] == "Duban"
    assert data["strings"]["editForm"] == "Edit form"
    untranslated = {k: v for k, v in data["strings"].items() if CJK.search(v)}
    assert not untranslated, f"strings without English in messages.po: {untranslated}"
    labels = [o["label"] for name in ("statuses", "events", "targets", "planFields", "records") for o in data["vocab"][name]]
    labels += [r["label"] for r in data["vocab"]["roles"]]   # the lane names themselves stay as roles.toml has them
    assert not [label for label in labels if CJK.search(label)]
    html = admin.get("/admin/definitions/new").get_data(as_text=True)
    page = html[html.index("<main"):html.index('<script type="application/json"')]
    assert not CJK.search(re.sub(r"<[^>]+>", "", page).replace("新流程", "")), "the page's own text in English"


def test_a_new_process_from_the_template_deploys_and_a_second_time_is_unchanged(admin):
    data = editor_data(admin, "/admin/definitions/new")
    assert 'name="责任单位"' in data["xml"] and 'name="环督办"' in data["xml"]
    first = post_xml(admin, data["urls"]["deploy"], data["xml"], data["csrf"])
    assert first.status_code == 201, first.json
    assert first.json["key"] == "new_process" and first.json["version"] == 1
    assert first.json["url"] == "/admin/definitions/new_process/1"
    again = post_xml(admin, data["urls"]["deploy"], data["xml"], data["csrf"])
    assert again.status_code == 200 and again.json["created"] is False


def test_a_refused_deployment_names_the_element_and_bad_input_is_a_4xx(admin):
    data = editor_data(admin, "/admin/definitions/new")
    url, csrf = data["urls"]["deploy"], data["csrf"]
    unknown_lane = data["xml"].replace('name="责任单位"', 'name="外包公司"')
    refused = post_xml(admin, url, unknown_lane, csrf)
    assert refused.status_code == 400
    assert "Task_first" in refused.json["errors"] and "外包公司" in refused.json["errors"]["Task_first"][0]
    assert refused.json["findings"][0]["element_id"] == "Task_first" and refused.json["findings"][0]["line"]

    broken = post_xml(admin, url, "<bpmn:definitions", csrf)
    assert broken.status_code == 400 and "document" in broken.json["errors"]
    empty = post_xml(admin, url, "", csrf)
    assert empty.status_code == 400 and "document" in empty.json["errors"]
    no_token = admin.post(url, data=data["xml"].encode(), headers={"Content-Type": "application/xml"})
    assert no_token.status_code == 400


def test_check_lists_every_finding_of_the_edited_diagram(admin):
    data = editor_data(admin, "/admin/definitions/rectification/edit")
    clean = post_xml(admin, data["urls"]["check"], data["xml"], data["csrf"])
    assert clean.status_code == 200 and clean.json["errors"] == 0, clean.json
    broken = data["xml"].replace('targetRef="Task_submit_plan"', 'targetRef="Task_nowhere"', 1)
    answer = post_xml(admin, data["urls"]["check"], broken, data["csrf"])
    assert answer.status_code == 200 and answer.json["errors"] >= 1
    assert all({"severity", "code", "element_id", "line", "message", "message_zh"} <= set(f) for f in answer.json["findings"])
    assert any("Task_nowhere" in f["message"] for f in answer.json["findings"]), answer.json


def test_deploy_refuses_warnings_until_a_comment_accepts_them(admin):
    data = editor_data(admin, "/admin/definitions/new")
    xml = data["xml"].replace('<spiffworkflow:property name="problemStatus" value="rectifying" />', "")
    refused = post_xml(admin, data["urls"]["deploy"], xml, data["csrf"])
    assert refused.status_code == 400 and refused.json["warning_count"] == 1 and refused.json["error_count"] == 0
    assert refused.json["findings"][0]["code"] == "no-problem-status"
    no_reason = post_xml(admin, data["urls"]["deploy"] + "?accept_warnings=true", xml, data["csrf"])
    assert no_reason.status_code == 400 and "comment" in no_reason.json["errors"]
    accepted = post_xml(admin, data["urls"]["deploy"] + "?accept_warnings=true&comment=试运行", xml, data["csrf"])
    assert accepted.status_code == 201, accepted.json


def test_only_administrators_edit(app, org):
    client = app.test_client()
    login(client, "responsible")
    assert client.get("/admin/definitions/rectification/edit").status_code == 403
    assert client.get("/admin/definitions/new").status_code == 403
