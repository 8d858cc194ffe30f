"""A diagram from Camunda Modeler in a real browser: uploaded on 流程定义 it is not deployed, with
every finding (its JUEL condition with the translation, its process not executable), but kept as
the process's draft, unfinished (草稿 · 未完成), listed so with its errors; the editor opens it
with them; there 采用建议 rewrites the condition (undoably), the process is marked executable in
the properties panel, 检查 leaves warnings only, and it is published with the warnings accepted.
Its tasks then go to the roles their camunda:candidateGroups name."""
from __future__ import annotations

from pathlib import Path

from lxml import etree
from playwright.sync_api import expect

from .test_admin_config import sign_in_as_admin

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "camunda_review_gbk.bpmn"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "camunda": "http://camunda.org/schema/1.0/bpmn"}


def test_a_camunda_diagram_is_finished_in_the_editor_and_deployed(server, page, shoot, api):
    sign_in_as_admin(page, server)
    page.goto(f"{server}/admin/definitions")
    page.locator('form[data-form="deploy"] input[name="file"]').set_input_files(str(FIXTURE))
    page.locator('form[data-form="deploy"] button[type="submit"]').click()
    expect(page.locator("[data-findings] tbody tr")).to_have_count(5)
    expect(page.locator('tr[data-code="juel-condition"] [data-fix]')).to_have_text('decision == "return"')
    expect(page.locator('tr[data-code="not-executable"]')).to_contain_text("可执行")
    expect(page.locator('tr[data-element="Activity_review"]')).to_contain_text("审核整改方案")   # GBK read as GBK
    expect(page.locator("[data-kept]")).to_contain_text("草稿（未完成）")
    shoot(page, "camunda-kept-unfinished")
    # the version list shows it as 草稿 · 未完成 with the errors that stop its publication
    page.locator('[data-action="open-versions"]').click()
    draft = page.locator('tr[data-version="1"][data-status="draft"]')
    expect(draft.locator("[data-unfinished]")).to_have_text("草稿 · 未完成")
    expect(page.locator('[data-findings-of="1"] li.finding')).to_have_count(2)
    expect(page.locator('[data-findings-of="1"] li[data-code="juel-condition"] [data-fix]')).to_have_text('decision == "return"')
    expect(draft.locator('[data-form="publish"]')).to_have_count(0)
    shoot(page, "camunda-draft-listed")
    page.locator('[data-action="edit"]').click()

    expect(page.locator('#modeler[data-state="ready"]')).to_be_attached()
    expect(page.locator("#modeler[data-unfinished]")).to_be_attached()
    expect(page.locator('#findings li.finding[data-finding="not-executable"]')).to_have_count(1)   # what stops it
    expect(page.locator(".version-tag")).to_have_text("草稿第 1 版 · 未完成")
    expect(page.locator("#canvas [data-element-id='Activity_review']")).to_contain_text("审核整改方案")   # GBK read as GBK
    expect(page.locator('#canvas [data-element-id="Activity_review"]')).to_contain_text("审核整改方案")
    page.locator('[data-action="check"]').click()
    expect(page.locator("#modeler[data-checked]")).to_be_attached()
    juel = page.locator('#findings li.finding[data-finding="juel-condition"]')
    expect(juel).to_have_count(1)
    expect(juel.locator("code.fix")).to_have_text('decision == "return"')
    shoot(page, "camunda-findings")

    juel.locator('[data-action="apply-fix"]').click()
    expect(juel).to_have_attribute("data-applied", "true")
    panel = page.locator("#properties")
    juel.locator("b").click()                                          # the row selects the flow
    expect(page.locator('#canvas .djs-element.selected[data-element-id="Flow_return"]')).to_be_attached()
    condition = panel.locator("#bio-properties-panel-duban-condition")
    expect(condition).to_have_value('decision == "return"')
    # the fix is one command of the editor: undone and redone like any edit
    page.locator("#canvas svg[tabindex]").first.focus()            # the editor's keys work on the canvas
    page.keyboard.press("Control+z")
    expect(condition).to_have_value("${decision == 'return'}")
    page.keyboard.press("Control+y")
    expect(condition).to_have_value('decision == "return"')

    # the process marked executable in the panel (the canvas's background selects the process)
    canvas = page.locator("#canvas").bounding_box()
    page.mouse.click(canvas["x"] + canvas["width"] - 40, canvas["y"] + canvas["height"] - 40)
    executable = panel.locator("#bio-properties-panel-duban-executable")     # 督办 › 可执行
    expect(executable).not_to_be_checked()
    executable.check()
    expect(executable).to_be_checked()
    expect(panel.locator("#bio-properties-panel-isExecutable")).to_be_checked()   # the library's own, in step
    # and declared a process for problems (流程用途), so that problems can be registered on it
    panel.locator("#bio-properties-panel-duban-purpose").select_option("problem")

    page.locator('[data-action="check"]').click()
    expect(page.locator("#modeler-status")).to_contain_text("检查完成：0 个错误")
    expect(page.locator('#findings li.finding[data-severity="error"]')).to_have_count(0)
    expect(page.locator('#findings li.finding[data-finding="camunda-unsupported"]')).to_have_count(2)
    shoot(page, "camunda-checked")

    page.locator('[data-action="deploy"]').click()
    panel = page.locator("#deploy-panel")
    panel.locator("[data-deploy-comment]").fill("由 Camunda Modeler 导入")
    panel.locator('[data-action="publish"]').click()
    expect(page.locator("#modeler-status")).to_contain_text("未部署")
    accept = panel.locator("[data-deploy-warnings]")
    expect(accept).to_be_visible()
    accept.locator("[data-deploy-reason]").fill("表单由督办编辑器另行配置")
    accept.locator('[data-action="accept-publish"]').click()
    expect(page.locator('#modeler[data-deployed="1"]')).to_be_attached()
    shoot(page, "camunda-deployed")
    assert page.js_errors == []

    xml = api.get("/api/process-definitions/camunda_review/versions/1", as_="admin").data
    process = etree.fromstring(xml).find("bpmn:process", NS)
    assert process.get("isExecutable") == "true" and process.get("name") == "整改方案审核"
    flow = process.find("bpmn:sequenceFlow[@id='Flow_return']", NS)
    assert flow.find("bpmn:conditionExpression", NS).text == 'decision == "return"'
    review = process.find("bpmn:userTask[@id='Activity_review']", NS)
    assert review.get(f"{{{NS['camunda']}}}candidateGroups") == "环督办"
    problem = api.register(process_key="camunda_review", code="CAM-B1")
    task = api.get(f"/api/problems/{problem['id']}", as_="admin").json["current_tasks"][0]
    assert (task["element_id"], task["lane"], task["assignee"]) == ("Activity_submit", "责任单位", "responsible")
