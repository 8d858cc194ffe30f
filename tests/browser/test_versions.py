"""管理 › 流程定义 › versions in a real browser: the rectification flow opened in the editor, a
task renamed, saved as a draft with its 版本说明; the version list shows it as 草稿 beside the
current version; the comparison page draws both versions with the renamed task marked as
changed and lists the change; the draft is published (new problems start on it), then the
office rolls back to version 1."""
from __future__ import annotations

from playwright.sync_api import expect

from .test_admin_config import sign_in_as_admin


def deploy_from_editor(page, comment: str, action: str = "publish"):
    """The editor's 部署 panel: the 版本说明, then 保存为草稿 (`save-draft`) or 发布 (`publish`)."""
    page.locator('[data-action="deploy"]').click()
    panel = page.locator("#deploy-panel")
    expect(panel).to_be_visible()
    panel.locator("[data-deploy-comment]").fill(comment)
    panel.locator(f'[data-action="{action}"]').click()


def test_draft_compare_publish_and_roll_back(server, page, shoot, api):
    sign_in_as_admin(page, server)
    page.goto(f"{server}/admin/definitions")
    page.locator('[data-process="rectification"] [data-action="edit"]').click()
    expect(page.locator('#modeler[data-state="ready"]')).to_be_attached()

    page.locator('[data-element-id="Task_sign"]').click()
    page.locator("#bio-properties-panel-name").fill("签收并确认责任")
    page.locator("#bio-properties-panel-name").press("Tab")

    # the note is required: without it nothing is sent
    page.locator('[data-action="deploy"]').click()
    page.locator('#deploy-panel [data-action="save-draft"]').click()
    expect(page.locator("#deploy-panel [data-deploy-error]")).to_be_visible()
    page.locator("#deploy-panel [data-deploy-comment]").fill("签收步骤改名，写明责任")
    page.locator('#deploy-panel [data-action="save-draft"]').click()
    expect(page.locator('#modeler[data-deployed="2"][data-deployed-status="draft"]')).to_be_attached()
    expect(page.locator("#modeler-status")).to_contain_text("第 2 版草稿")
    shoot(page, "draft-saved")

    # the version list: 2 is a draft, 1 is current
    page.locator("[data-versions-link]").click()
    draft = page.locator('tr[data-version="2"]')
    expect(draft).to_have_attribute("data-status", "draft")
    expect(draft.locator('[data-status="draft"]')).to_have_text("草稿")
    expect(draft.locator("[data-comment]")).to_have_text("签收步骤改名，写明责任")
    expect(page.locator('tr[data-version="1"]')).to_have_attribute("data-status", "current")
    expect(page.locator('tr[data-version="1"] [data-status="current"]')).to_have_text("当前")
    shoot(page, "version-list")

    # a problem registered now starts on version 1
    first = api.register()["id"]
    assert api.ready_task(first, "Task_sign")["name"] == "签收"

    # the comparison: Task_sign marked as changed in both diagrams, the change in the table
    draft.locator('[data-action="diff-version"]').click()
    expect(page.locator('#diff[data-state="ready"]')).to_be_attached()
    expect(page.locator('#diff-older .djs-element.duban-diff-changed[data-element-id="Task_sign"]')).to_be_attached()
    expect(page.locator('#diff-newer .djs-element.duban-diff-changed[data-element-id="Task_sign"]')).to_be_attached()
    row = page.locator('tr[data-diff-element="Task_sign"][data-field="name"]')
    expect(row).to_contain_text("签收")
    expect(row).to_contain_text("签收并确认责任")
    shoot(page, "compared")

    # publish the draft with a reason: it becomes current
    page.goto(f"{server}/admin/definitions/rectification")
    form = page.locator('tr[data-version="2"] form[data-form="publish"]')
    form.locator('input[name="comment"]').fill("经环督办审议发布")
    form.locator("button").click()
    expect(page.locator('tr[data-version="2"]')).to_have_attribute("data-status", "current")
    expect(page.locator('tr[data-version="1"]')).to_have_attribute("data-status", "published")
    expect(page.locator(".flash.success")).to_contain_text("第 2 版已成为当前版本")
    second = api.register(code="NL-2026-002")["id"]
    assert api.ready_task(second, "Task_sign")["name"] == "签收并确认责任"
    expect(page.locator('tr[data-version="1"] [data-open]')).to_have_text("1")
    shoot(page, "published")

    # roll back to version 1: a reason is required
    back = page.locator('tr[data-version="1"] form[data-form="rollback"]')
    expect(back.locator("button")).to_have_text("回滚到此版本")
    back.locator('input[name="comment"]').fill("新版签收名称待定，先回滚")
    back.locator("button").click()
    expect(page.locator('tr[data-version="1"]')).to_have_attribute("data-status", "current")
    expect(page.locator('tr[data-version="2"]')).to_have_attribute("data-status", "published")
    third = api.register(code="NL-2026-003")["id"]
    assert api.ready_task(third, "Task_sign")["name"] == "签收"
    shoot(page, "rolled-back")
    assert page.js_errors == []


def test_the_editor_offers_to_accept_warnings_with_a_reason(server, page, shoot, api):
    sign_in_as_admin(page, server)
    page.goto(f"{server}/admin/definitions/new")
    expect(page.locator('#modeler[data-state="ready"]')).to_be_attached()
    # the template's task sets the problem's status; without it the check warns (no-problem-status)
    page.locator('[data-element-id="Task_first"]').click()
    status = page.locator("#bio-properties-panel-duban-problem-status")
    status.select_option("")

    # a draft is saved although it warns: its warnings wait for its publication
    deploy_from_editor(page, "先存草稿", action="save-draft")
    expect(page.locator('#modeler[data-deployed="1"][data-deployed-status="draft"]')).to_be_attached()

    deploy_from_editor(page, "第一版")
    expect(page.locator("#modeler-status")).to_contain_text("未部署")
    warned = page.locator("#deploy-panel [data-deploy-warnings]")
    expect(warned).to_be_visible()
    expect(page.locator('#findings li.finding[data-element-id="new_process"]')).to_contain_text("problemStatus")
    shoot(page, "warnings")
    warned.locator('[data-action="accept-publish"]').click()   # no reason yet: nothing is sent
    expect(warned.locator("[data-deploy-reason]")).to_have_attribute("aria-invalid", "true")
    warned.locator("[data-deploy-reason]").fill("状态由人工维护")
    warned.locator('[data-action="accept-publish"]').click()
    expect(page.locator('#modeler[data-deployed-status="published"]')).to_be_attached()
    expect(warned).to_be_hidden()
    shoot(page, "published")
    listed = [d for d in api.get("/api/process-definitions", as_="admin").json["items"] if d["key"] == "new_process"]
    # the draft was published with the accepted content, under its number
    assert [(d["version"], d["status"], d["current"], d["comment"]) for d in listed] == [
        (1, "published", True, "第一版")]
    assert page.js_errors == []
