"""管理 › 流程定义 › 编辑 in a real browser: the bpmn-js modeler on the latest version of the
rectification flow, a user task inserted into a flow, its lane's role chosen from the list, its
due time written by the helper, a one-field form made in the form-js editor, deployed; the API
then serves the new version with all of it. And a new process from the template: 检查 lists
bpmnlint's findings (the server's check answering 404 until it exists), a refused deployment
marks the element it names and a row selects it."""
from __future__ import annotations

import json

from lxml import etree
from playwright.sync_api import expect

from .test_admin_config import sign_in_as_admin
from .test_versions import deploy_from_editor

NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core", "duban": "urn:duban:bpmn:1.0"}


def _center(box):
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_add_a_user_task_with_role_due_and_form_then_deploy(server, page, shoot, api):
    sign_in_as_admin(page, server)
    page.goto(f"{server}/admin/definitions")
    page.locator('[data-process="rectification"] [data-action="edit"]').click()
    expect(page.locator('#modeler[data-state="ready"]')).to_be_attached()
    expect(page.locator('[data-element-id="Task_sign"]')).to_be_visible()
    shoot(page, "opened")

    # a task dropped onto the flow 签收 → 提交整改方案 is inserted into it, in that lane
    x, y = _center(page.locator('[data-element-id="Flow_to_submit_plan"] .djs-visual > path').bounding_box())
    page.locator('.djs-palette [data-action="create.task"]').click()
    page.mouse.move(x - 20, y, steps=4)
    page.mouse.move(x, y, steps=4)
    page.mouse.click(x, y)
    page.locator('.djs-context-pad [data-action="replace"]').click()
    page.locator('.djs-popup [data-id="replace-with-user-task"]').click()
    task_id = page.locator(".djs-element.selected").first.get_attribute("data-element-id")
    assert task_id and task_id.startswith("Activity_"), task_id
    panel = page.locator("#properties")
    panel.locator("#bio-properties-panel-name").fill("现场复核")

    # the due time by the helper: 7 working days
    expect(panel.locator('[data-group-id="group-duban"]')).to_be_visible()
    helper = panel.locator('[data-entry-id="duban-due-helper"]')
    helper.locator('[data-helper="amount"]').fill("7")
    helper.locator('[data-helper="unit"]').select_option("workday")
    helper.locator('[data-helper="apply"]').click()
    expect(panel.locator("#bio-properties-panel-duban-due")).to_have_value("P7D")
    expect(panel.locator("#bio-properties-panel-duban-calendar")).to_be_checked()
    shoot(page, "task-due")

    # a one-field form in the form-js editor
    panel.locator('[data-action="edit-form"]').click()
    dialog = page.locator("#form-dialog")
    expect(dialog).to_be_visible()
    dialog.locator('.fjs-palette-field[data-field-type="textfield"]').focus()
    page.keyboard.press("Enter")
    dialog.locator('.fjs-editor-container .fjs-form-field-textfield').first.click()
    general = dialog.locator('[data-group-id="group-general"] .bio-properties-panel-group-header')
    if "open" not in (general.get_attribute("class") or ""):
        general.click()
    dialog.locator("#bio-properties-panel-label").fill("复核意见")
    dialog.locator("#bio-properties-panel-key").fill("review_note")
    dialog.locator("#bio-properties-panel-key").press("Tab")
    expect(dialog.locator(".fjs-editor-container .fjs-form-field-label").first).to_have_text("复核意见")
    shoot(page, "form-editor")
    dialog.locator('[data-action="save-form"]').click()
    expect(dialog).to_be_hidden()
    expect(panel.locator("[data-form-summary]")).to_contain_text("review_note")

    # the lane's role, chosen from config/roles.toml's lane names
    lane = page.locator('[data-element-id="Lane_responsible"]').bounding_box()
    page.mouse.click(lane["x"] + 12, lane["y"] + lane["height"] / 2)
    role = panel.locator("#bio-properties-panel-duban-lane-role")
    expect(role).to_have_value("责任单位")
    assert "牵头单位" in role.locator("option").all_inner_texts()[2] + "".join(role.locator("option").all_inner_texts())
    role.select_option("责任人")
    shoot(page, "lane-role")

    deploy_from_editor(page, "加现场复核")
    expect(page.locator('#modeler[data-deployed="2"]')).to_be_attached()
    expect(page.locator("#modeler-status")).to_contain_text("第 2 版")
    shoot(page, "deployed")
    assert page.js_errors == []

    response = api.get("/api/process-definitions/rectification/versions/2", as_="admin")
    assert response.status_code == 200
    process = etree.fromstring(response.data).find("bpmn:process", NS)
    task = process.find(f"bpmn:userTask[@id='{task_id}']", NS)
    assert task is not None and task.get("name") == "现场复核"
    lane = process.find(f".//bpmn:lane[bpmn:flowNodeRef='{task_id}']", NS)
    assert lane.get("name") == "责任人"
    properties = {p.get("name"): p.get("value") for p in
                  task.iterfind("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)}
    assert properties == {"due": "P7D", "calendar": "working"}
    form = json.loads(task.find("bpmn:extensionElements/duban:form", NS).text)
    assert [(c["type"], c["key"], c["label"]) for c in form["components"]] == [("textfield", "review_note", "复核意见")]
    incoming = process.find(f"bpmn:sequenceFlow[@targetRef='{task_id}']", NS)
    outgoing = process.find(f"bpmn:sequenceFlow[@sourceRef='{task_id}']", NS)
    assert incoming.get("sourceRef") == "Task_sign" and outgoing.get("targetRef") == "Task_submit_plan"
    # the shipped tasks kept their properties and forms through the round trip
    sign = process.find("bpmn:userTask[@id='Task_sign']", NS)
    assert json.loads(sign.find("bpmn:extensionElements/duban:form", NS).text)["components"][0]["key"] == "acknowledged"
    listed = api.get("/api/process-definitions", as_="admin").json["items"]
    assert task_id in next(d for d in listed if d["key"] == "rectification" and d["version"] == 2)["user_tasks"]


def test_a_new_process_checked_and_a_refused_deployment_marks_its_element(server, page, shoot):
    sign_in_as_admin(page, server)
    page.goto(f"{server}/admin/definitions")
    page.locator('[data-action="new-process"]').click()
    expect(page.locator('#modeler[data-state="ready"]')).to_be_attached()

    # 检查 with a task left without a name: bpmnlint's label-required finding beside the server's
    # check; the row selects the task
    page.locator('[data-element-id="Task_first"]').click()
    page.locator("#bio-properties-panel-name").fill("")
    page.locator('[data-element-id="StartEvent_new"]').click()
    page.locator('[data-action="check"]').click()
    expect(page.locator("#modeler[data-checked]")).to_be_attached()
    expect(page.locator("#modeler-status")).to_contain_text("检查完成：1 个错误")
    row = page.locator('#findings li.finding[data-element-id="Task_first"]')
    expect(row).to_contain_text("label-required")
    expect(page.locator('[data-finding-badge="Task_first"]')).to_be_visible()
    row.click()
    expect(page.locator('.djs-element.selected[data-element-id="Task_first"]')).to_be_attached()
    page.locator("#bio-properties-panel-name").fill("核实")
    shoot(page, "checked")

    # the task's lane without a role: deployment refuses it, naming the task, marked on the canvas
    lane = page.locator('[data-element-id="Lane_first"]').bounding_box()
    page.mouse.click(lane["x"] + 12, lane["y"] + lane["height"] / 2)
    page.locator("#bio-properties-panel-duban-lane-role").select_option("")
    deploy_from_editor(page, "新流程")
    expect(page.locator("#modeler-status")).to_contain_text("未部署")
    refused = page.locator('#findings li.finding[data-element-id="Task_first"]')
    expect(refused).to_contain_text("lane")
    expect(page.locator('.djs-element.duban-finding-error[data-element-id="Task_first"]')).to_be_attached()
    expect(page.locator('[data-finding-badge="Task_first"]')).to_have_text("1")
    refused.click()
    expect(page.locator('.djs-element.selected[data-element-id="Task_first"]')).to_be_attached()
    shoot(page, "refused")

    # given its role again, it deploys as version 1 of the new process
    page.mouse.click(lane["x"] + 12, lane["y"] + lane["height"] / 2)
    page.locator("#bio-properties-panel-duban-lane-role").select_option("牵头单位")
    page.locator('#deploy-panel [data-action="publish"]').click()
    expect(page.locator('#modeler[data-deployed="1"]')).to_be_attached()
    expect(page.locator("#findings li.finding")).to_have_count(0)
    page.locator("[data-version-link]").click()
    expect(page.locator('#diagram[data-state="ready"]')).to_be_attached()
    shoot(page, "deployed-version")
    assert page.js_errors == []


MIDPOINT = """element => {
  const path = element.querySelector('.djs-visual > path');
  const m = path.getScreenCTM();
  const p = path.getPointAtLength(path.getTotalLength() / 2);
  return [p.x * m.a + p.y * m.c + m.e, p.x * m.b + p.y * m.d + m.f];
}"""


def scroll_to(page, element_id):
    """Scroll the canvas (the mouse wheel, as a user would) until the element is in view."""
    canvas = page.locator("#canvas").bounding_box()
    page.mouse.move(canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2)
    for _ in range(20):
        box = page.locator(f'[data-element-id="{element_id}"]').bounding_box()
        dx = box["x"] + box["width"] / 2 - (canvas["x"] + canvas["width"] / 2)
        dy = box["y"] + box["height"] / 2 - (canvas["y"] + canvas["height"] / 2)
        if abs(dx) < canvas["width"] / 3 and abs(dy) < canvas["height"] / 3:
            return
        page.mouse.wheel(max(-300, min(300, dx)), max(-300, min(300, dy)))
        page.wait_for_timeout(50)
    raise AssertionError(f"{element_id} not brought into view")


def test_timer_and_condition_helpers_round_trip(server, page, shoot, api):
    sign_in_as_admin(page, server)
    page.goto(f"{server}/admin/definitions/rectification/edit")
    expect(page.locator('#modeler[data-state="ready"]')).to_be_attached()
    panel = page.locator("#properties")

    # the public notice's timer: 7 working days by the helper
    scroll_to(page, "Event_public_notice")
    page.locator('[data-element-id="Event_public_notice"]').click()
    expect(panel.locator("#bio-properties-panel-duban-timer-value")).to_have_value("P5D")
    helper = panel.locator('[data-entry-id="duban-timer-helper"]')
    helper.locator('[data-helper="amount"]').fill("7")
    helper.locator('[data-helper="unit"]').select_option("workday")
    helper.locator('[data-helper="apply"]').click()
    expect(panel.locator("#bio-properties-panel-duban-timer-value")).to_have_value("P7D")
    expect(panel.locator("#bio-properties-panel-duban-calendar")).to_be_checked()
    shoot(page, "timer")

    # the send-back flow's condition: the review form's decision is offered with its values
    scroll_to(page, "Flow_plan_returned")
    x, y = page.locator('[data-element-id="Flow_plan_returned"]').evaluate(MIDPOINT)
    page.mouse.click(x, y)
    condition = panel.locator("#bio-properties-panel-duban-condition")
    expect(condition).to_have_value('decision == "return"')
    fields = panel.locator('[data-entry-id="duban-fields"]')
    expect(fields.locator('[data-field="decision"]')).to_be_visible()
    expect(fields.locator('[data-field="acknowledged"]')).to_be_visible()   # 签收, two tasks back
    condition.fill("")
    condition.press("Tab")
    fields.locator('[data-field="decision"] [data-value="return"]').click()
    expect(condition).to_have_value('decision == "return"')
    fields.locator('[data-field="acknowledged"] .duban-chip').first.click()
    expect(condition).to_have_value('decision == "return" and acknowledged == ""')
    condition.fill('decision == "return" and acknowledged')
    condition.press("Tab")
    shoot(page, "condition")

    deploy_from_editor(page, "公示七个工作日")
    expect(page.locator('#modeler[data-deployed="2"]')).to_be_attached()
    assert page.js_errors == []
    process = etree.fromstring(api.get("/api/process-definitions/rectification/versions/2", as_="admin").data)
    timer = process.find(".//bpmn:intermediateCatchEvent[@id='Event_public_notice']", NS)
    assert timer.find("bpmn:timerEventDefinition/bpmn:timeDuration", NS).text == "P7D"
    assert {p.get("name"): p.get("value") for p in timer.iterfind(".//spiffworkflow:property", NS)}["calendar"] == "working"
    flow = process.find(".//bpmn:sequenceFlow[@id='Flow_plan_returned']", NS)
    assert flow.find("bpmn:conditionExpression", NS).text == 'decision == "return" and acknowledged'
