"""The process editor's 批准整改方案的条件 (approvesPlan) on a user task: the review task shows
its value, a malformed one is refused by 检查 naming the task, a chip of the task's own form
writes `field=value`, and the deployed XML carries it."""
from __future__ import annotations

from lxml import etree
from playwright.sync_api import expect

from .test_admin_config import sign_in_as_admin
from .test_modeler import NS, scroll_to
from .test_versions import deploy_from_editor


def test_the_review_task_carries_the_plan_approval_condition(server, page, shoot, api):
    sign_in_as_admin(page, server)
    page.goto(f"{server}/admin/definitions/rectification/edit")
    expect(page.locator('#modeler[data-state="ready"]')).to_be_attached()
    panel = page.locator("#properties")
    scroll_to(page, "Task_review_plan")
    page.locator('[data-element-id="Task_review_plan"]').click()
    field = panel.locator("#bio-properties-panel-duban-approves-plan")
    expect(field).to_have_value("decision=approve")
    expect(panel.locator('[data-entry-id="duban-approves-plan"]')).to_contain_text("批准整改方案的条件")

    # a value without "=": the check refuses it, naming the review task
    field.fill("approve")
    field.press("Tab")
    page.locator('[data-action="check"]').click()
    expect(page.locator("#modeler[data-checked]")).to_be_attached()
    row = page.locator('#findings li.finding[data-element-id="Task_review_plan"]')
    expect(row).to_contain_text("approvesPlan")
    shoot(page, "malformed")

    # the chips offer the options of the task's own form: decision=approve is written
    chips = panel.locator('[data-entry-id="duban-approves-plan-choices"]')
    expect(chips.locator('[data-field="decision"] [data-value="return"]')).to_be_visible()
    chips.locator('[data-field="decision"] [data-value="approve"]').click()
    expect(field).to_have_value("decision=approve")
    shoot(page, "chosen")

    deploy_from_editor(page, "批准条件")
    expect(page.locator('#modeler[data-deployed="2"]')).to_be_attached()
    assert page.js_errors == []
    process = etree.fromstring(api.get("/api/process-definitions/rectification/versions/2", as_="admin").data)
    task = process.find(".//bpmn:userTask[@id='Task_review_plan']", NS)
    properties = {p.get("name"): p.get("value") for p in
                  task.iterfind("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)}
    assert properties["approvesPlan"] == "decision=approve"
