"""Changing a process, the whole journey of an office administrator in a real browser, never
touching XML: the rectification flow opened in the editor, a user task added in a lane with a
form made in the form-js editor, 检查 marking a finding on the diagram, fixed and checked clean,
saved as a draft with its 版本说明 and published from the version list; a problem reaches the
new step and the official finds it in 我的待办; the open problems of the old version migrated
after the dry run, the heatmap's badge moving with them; a problem stuck on a broken version
repaired from 管理 → 异常流程. Each step's screenshot goes to test-artifacts/browser/changing-a-process/,
and with DUBAN_HELP_PICTURES=1 to web/static/help/changing-a-process/ (the README's pictures,
committed; refreshed on purpose, not by every run, since a pixel here or there differs between runs)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from lxml import etree
from playwright.sync_api import expect

from ..helpers_incidents import deploy
from ..helpers_repair import instance
from ..test_repair_api import BROKEN, FIXED, stuck
from .test_admin_config import sign_in_as_admin
from .test_inbox import open_task, sign_in
from .test_modeler import NS
from .test_versions import deploy_from_editor

ROOT = Path(__file__).resolve().parents[2]
HELP = (ROOT / "web" / "static" / "help" / "changing-a-process" if os.environ.get("DUBAN_HELP_PICTURES") == "1"
        else ROOT / "test-artifacts" / "browser" / "changing-a-process")


def _center(box):
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def picture(page, name: str, centre=None) -> None:
    """The viewport (1280x800) as <HELP>/<name>.png, overwritten; scrolled first to bring
    `centre` (a locator) to the middle."""
    if centre is not None:
        centre.evaluate('e => e.scrollIntoView({block: "center", behavior: "instant"})')
    HELP.mkdir(parents=True, exist_ok=True)
    # the test runs once per database, and two workers may take the same picture at once: each
    # writes a file of its own and moves it into place, so <name>.png is always one whole picture
    part = HELP / f".{name}.{os.getpid()}.png"
    page.screenshot(path=str(part), animations="disabled")
    os.replace(part, HELP / f"{name}.png")


def test_an_administrator_adds_a_step_publishes_migrates_and_repairs(server, page, api, duban, org):
    page.set_viewport_size({"width": 1280, "height": 800})
    # two problems already under way on version 1: one waiting at 签收, one at 提交整改方案
    signing = api.register(code="NL-2026-101")["id"]
    planning = api.register(code="NL-2026-102")["id"]
    api.complete(api.ready_task(planning, "Task_sign"), "responsible", {"acknowledged": True})

    # 1. 管理 → 流程定义 → 编辑 on the rectification flow
    sign_in_as_admin(page, server)
    page.goto(f"{server}/admin/definitions")
    page.locator('[data-process="rectification"] [data-action="edit"]').click()
    expect(page.locator('#modeler[data-state="ready"]')).to_be_attached()
    expect(page.locator('[data-element-id="Task_sign"]')).to_be_visible()
    picture(page, "01-open-editor")

    # 2. a user task dropped onto the flow 签收 → 提交整改方案 is inserted into it; dragged down
    # into the free space of 责任单位's lane, clear of its neighbours
    x, y = _center(page.locator('[data-element-id="Flow_to_submit_plan"] .djs-visual > path').bounding_box())
    page.locator('.djs-palette [data-action="create.task"]').click()
    page.mouse.move(x - 20, y, steps=4)
    page.mouse.move(x, y, steps=4)
    page.mouse.click(x, y)
    page.locator('.djs-context-pad [data-action="replace"]').click()
    page.locator('.djs-popup [data-id="replace-with-user-task"]').click()
    task_id = page.locator(".djs-element.selected").first.get_attribute("data-element-id")
    assert task_id and task_id.startswith("Activity_"), task_id
    task = page.locator(f'[data-element-id="{task_id}"]')
    x, y = _center(task.bounding_box())
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + 60, steps=5)
    page.mouse.move(x, y + 110, steps=5)
    page.mouse.up()
    expect(page.locator(f'.djs-element.selected[data-element-id="{task_id}"]')).to_be_attached()
    # an ID that says what it is (the migration page and the API name steps by it)
    panel = page.locator("#properties")
    panel.locator("#bio-properties-panel-id").fill("Task_site_review")
    panel.locator("#bio-properties-panel-id").press("Tab")
    task_id = "Task_site_review"
    expect(page.locator(f'.djs-element.selected[data-element-id="{task_id}"]')).to_be_attached()
    picture(page, "02-add-task")

    # 3. its form in the form-js editor: a text field and a select with two options
    panel.locator('[data-action="edit-form"]').click()
    dialog = page.locator("#form-dialog")
    expect(dialog).to_be_visible()
    dialog.locator('.fjs-palette-field[data-field-type="textfield"]').focus()
    page.keyboard.press("Enter")
    dialog.locator('.fjs-editor-container .fjs-form-field-textfield').first.click()
    field(dialog, "复核意见", "review_note")
    dialog.locator('.fjs-palette-field[data-field-type="select"]').focus()
    page.keyboard.press("Enter")
    dialog.locator('.fjs-editor-container .fjs-form-field-select').first.click()
    field(dialog, "复核结论", "review_result")
    options = dialog.locator('[data-group-id="group-staticOptions"]')
    open_group(options)
    option(options, 0, "属实", "confirmed")
    options.locator(".bio-properties-panel-add-entry").click()
    option(options, 1, "不属实", "unfounded")
    expect(dialog.locator(".fjs-editor-container .fjs-form-field-label")).to_have_text(["复核意见", "复核结论"])
    picture(page, "03-form")
    dialog.locator('[data-action="save-form"]').click()
    expect(dialog).to_be_hidden()
    expect(panel.locator("[data-form-summary]")).to_contain_text("review_note")
    expect(panel.locator("[data-form-summary]")).to_contain_text("review_result")

    # 4. 检查: the task has no name yet, an error marked on it; a click on the row selects it
    page.locator('[data-element-id="Task_sign"]').click()
    page.locator('[data-action="check"]').click()
    expect(page.locator("#modeler[data-checked]")).to_be_attached()
    expect(page.locator("#modeler-status")).to_contain_text("检查完成：1 个错误，0 个警告")
    row = page.locator(f'#findings li.finding[data-element-id="{task_id}"]')
    expect(row).to_contain_text("label-required")
    expect(page.locator(f'[data-finding-badge="{task_id}"]')).to_have_text("1")
    row.click()
    expect(page.locator(f'.djs-element.selected[data-element-id="{task_id}"]')).to_be_attached()
    picture(page, "04-check-finding")

    # 5. named 现场复核, checked again: clean
    panel.locator("#bio-properties-panel-name").fill("现场复核")
    panel.locator("#bio-properties-panel-name").press("Tab")
    page.locator('[data-action="check"]').click()
    expect(page.locator("#modeler-status")).to_contain_text("检查完成：0 个错误，0 个警告")
    expect(page.locator("#findings li.finding")).to_have_count(0)
    expect(page.locator(f'[data-finding-badge="{task_id}"]')).to_have_count(0)
    picture(page, "05-check-clean")

    # 6. 部署 → 保存为草稿 with its 版本说明
    deploy_from_editor(page, "签收后增加现场复核", action="save-draft")
    expect(page.locator('#modeler[data-deployed="2"][data-deployed-status="draft"]')).to_be_attached()
    expect(page.locator("#modeler-status")).to_contain_text("第 2 版草稿")
    picture(page, "06-draft-saved")

    # 7. the version list: 发布 the draft with a reason; it becomes current
    page.locator("[data-versions-link]").click()
    draft = page.locator('tr[data-version="2"]')
    expect(draft).to_have_attribute("data-status", "draft")
    expect(draft.locator("[data-comment]")).to_have_text("签收后增加现场复核")
    publish = draft.locator('form[data-form="publish"]')
    publish.locator('input[name="comment"]').fill("经环督办审议发布")
    picture(page, "07-version-list")
    publish.locator("button").click()
    expect(page.locator('tr[data-version="2"]')).to_have_attribute("data-status", "current")
    expect(page.locator('tr[data-version="1"]')).to_have_attribute("data-status", "published")
    expect(page.locator('tr[data-version="1"] [data-open]')).to_have_text("2")
    picture(page, "08-published")
    # the new version holds the task in 责任单位's lane, with its form
    process = etree.fromstring(api.get("/api/process-definitions/rectification/versions/2", as_="admin").data)
    added = process.find(f"bpmn:process/bpmn:userTask[@id='{task_id}']", NS)
    assert added.get("name") == "现场复核"
    assert process.find(f".//bpmn:lane[bpmn:flowNodeRef='{task_id}']", NS).get("name") == "责任单位"
    form = json.loads(added.find("bpmn:extensionElements/duban:form", NS).text)
    assert [(c["type"], c["key"], c["label"]) for c in form["components"]] == [
        ("textfield", "review_note", "复核意见"), ("select", "review_result", "复核结论")]
    assert [(v["label"], v["value"]) for v in form["components"][1]["values"]] == [
        ("属实", "confirmed"), ("不属实", "unfounded")]

    # 8. a new problem starts on version 2; once 签收 is done, 现场复核 is the official's
    fresh = api.register(code="NL-2026-103")["id"]
    api.complete(api.ready_task(fresh, "Task_sign"), "responsible", {"acknowledged": True})
    assert api.ready_task(fresh)["element_id"] == task_id
    page.locator(".who").get_by_role("button", name="退出").click()
    sign_in(page, server, "responsible")
    row = page.locator("tr[data-task-id]", has_text="NL-2026-103")
    expect(row).to_contain_text("现场复核")
    picture(page, "09-my-tasks")
    open_task(page, "现场复核")
    expect(page.locator("#task-form")).to_contain_text("复核意见")
    expect(page.locator("#task-form")).to_contain_text("复核结论")
    picture(page, "10-task-form")

    # 9. version 1's heatmap: its two open problems, at 签收 and at 提交整改方案
    page.locator(".who").get_by_role("button", name="退出").click()
    sign_in_as_admin(page, server)
    page.goto(f"{server}/admin/definitions/rectification/1")
    expect(page.locator('#diagram[data-state="ready"]')).to_be_attached()
    expect(page.locator('.heat-badge[data-waiting="Task_sign"]')).to_have_attribute("data-count", "1")
    expect(page.locator('.heat-badge[data-waiting="Task_submit_plan"]')).to_have_attribute("data-count", "1")
    picture(page, "11-heatmap-before", page.locator("#diagram"))

    # 10. 迁移 to version 2: 试运行 first (nothing changes), then 确认迁移 with a reason
    migration = page.locator('[data-section="migration"]')
    migration.locator('select[name="to_version"]').select_option("2")
    migration.locator('[data-action="dry-run"]').click()
    expect(page.locator("[data-dry-run]")).to_be_visible()
    expect(page.locator(f'[data-added="{task_id}"]')).to_have_text("现场复核")
    expect(page.locator('[data-dry-run] [data-token="Task_sign"]')).to_be_visible()
    expect(page.locator('[data-dry-run] [data-token="Task_submit_plan"]')).to_be_visible()
    picture(page, "12-dry-run", page.locator("[data-dry-run]"))
    assert [instance(duban, p).definition.version for p in (signing, planning)] == [1, 1]   # nothing changed
    page.locator('input[name="reason"]').fill("在办问题按新流程办理")
    page.locator('[data-action="confirm-migration"]').click()
    expect(page.locator('[data-result="migrated"]')).to_have_count(2)
    expect(page.locator('[data-remaining="0"]')).to_be_attached()
    picture(page, "13-migrated")
    assert [instance(duban, p).definition.version for p in (signing, planning)] == [2, 2]
    assert [api.ready_task(p)["element_id"] for p in (signing, planning)] == ["Task_sign", "Task_submit_plan"]

    # 11. the heatmap: version 1 has no one left; on version 2 the badges count all three
    page.goto(f"{server}/admin/definitions/rectification/1")
    expect(page.locator('#diagram[data-state="ready"]')).to_be_attached()
    expect(page.locator(".heat-badge")).to_have_count(0)
    page.goto(f"{server}/admin/definitions/rectification/2")
    expect(page.locator('#diagram[data-state="ready"]')).to_be_attached()
    for element in ("Task_sign", "Task_submit_plan", task_id):
        expect(page.locator(f'.heat-badge[data-waiting="{element}"]')).to_have_attribute("data-count", "1")
    picture(page, "14-heatmap-after", page.locator("#diagram"))

    # 12. a problem stuck on a broken version (its script fails at run time): 管理 → 异常流程;
    # 重试 fails again while the script is wrong; 迁移 to the fixed version runs it again
    deploy(api, BROKEN)
    broken, incident = stuck(api, duban)
    deploy(api, FIXED)
    page.goto(f"{server}/admin")
    page.locator('[data-section="incidents"]').click()
    page.locator(f'[data-open-incident="{incident["id"]}"]').click()
    expect(page.locator('#diagram[data-state="ready"]')).to_be_attached()
    expect(page.locator('.djs-element.duban-failed[data-element-id="Script"]')).to_be_attached()
    expect(page.locator("[data-error-message]")).to_contain_text("count")
    retry = page.locator('[data-form="retry"]')
    retry.locator('input[name="reason"]').fill("先重试一次")
    retry.get_by_role("button", name="重试").click()
    expect(page.locator('[data-incident-status="open"]')).to_be_visible()
    expect(page.locator(".flash")).to_contain_text("重试仍未成功")
    expect(page.locator('#diagram[data-state="ready"]')).to_be_attached()
    picture(page, "15-incident")
    form = page.locator('[data-form="migrate"]')
    form.locator('select[name="to_version"]').select_option("2")
    form.locator('input[name="reason"]').fill("脚本已修正")
    form.get_by_role("button", name="迁移").click()
    expect(page.locator('[data-incident-status="resolved"]')).to_be_visible()
    expect(page.locator('[data-resolution="migrated"]')).to_contain_text("脚本已修正")
    picture(page, "16-repaired")
    assert [t["element_id"] for t in api.get(f"/api/problems/{broken}", as_="admin").json["current_tasks"]] == [
        "Task_after"]
    assert page.js_errors == []


def open_group(group):
    header = group.locator(".bio-properties-panel-group-header")
    if "open" not in (header.get_attribute("class") or ""):
        header.click()


def option(group, index: int, label: str, value: str) -> None:
    """The select's static option at `index` (its collapsed entry opened first)."""
    box = group.locator(f"#bio-properties-panel-staticOptions-{index}-label")
    if not box.is_visible():
        group.locator(f'[data-entry-id="staticOptions-{index}"] .bio-properties-panel-collapsible-entry-header').click()
    box.fill(label)
    group.locator(f"#bio-properties-panel-staticOptions-{index}-value").fill(value)
    group.locator(f"#bio-properties-panel-staticOptions-{index}-value").press("Tab")


def field(dialog, label: str, key: str) -> None:
    """The selected form field's label and key, in the form editor's properties panel."""
    open_group(dialog.locator('[data-group-id="group-general"]'))
    dialog.locator("#bio-properties-panel-label").fill(label)
    dialog.locator("#bio-properties-panel-key").fill(key)
    dialog.locator("#bio-properties-panel-key").press("Tab")
