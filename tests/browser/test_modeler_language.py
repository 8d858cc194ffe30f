"""The process editor speaks the page's language: in Chinese the palette's titles, the context
pad, the replace menu (更改类型) and the properties panel's own groups are Chinese; after the
language switch the same places show the libraries' English."""
from __future__ import annotations

from playwright.sync_api import expect

from .test_admin_config import sign_in_as_admin

EDITOR = "/admin/definitions/rectification/edit"


def _open_task(page):
    """The editor on the rectification flow with 签收 selected (its context pad open)."""
    expect(page.locator('#modeler[data-state="ready"]')).to_be_attached()
    page.locator('[data-element-id="Task_sign"]').click()
    expect(page.locator(".djs-context-pad")).to_be_visible()


def _titles(page):
    palette = page.locator(".djs-palette")
    return {
        "start": palette.locator('[data-action="create.start-event"]').get_attribute("aria-label"),
        "task": palette.locator('[data-action="create.task"]').get_attribute("aria-label"),
        "hand": palette.locator('[data-action="hand-tool"]').get_attribute("aria-label"),
        "gateway": page.locator('.djs-context-pad [data-action="append.gateway"]').get_attribute("title"),
        "replace": page.locator('.djs-context-pad [data-action="replace"]').get_attribute("title"),
    }


def _groups(page):
    return page.locator("#properties .bio-properties-panel-group-header-title").all_inner_texts()


def test_the_editor_speaks_chinese_then_english(server, page, shoot):
    sign_in_as_admin(page, server)
    page.goto(f"{server}{EDITOR}")
    _open_task(page)
    assert _titles(page) == {"start": "创建开始事件", "task": "创建任务", "hand": "启用抓手工具",
                             "gateway": "追加网关", "replace": "更改类型"}
    groups = _groups(page)
    assert groups[:2] == ["常规", "督办"], groups
    assert "说明" in groups, groups
    expect(page.locator("#properties .bio-properties-panel-header-type")).to_have_text("用户任务")
    expect(page.locator(".bjsl-button")).to_contain_text("没有问题")  # the shipped flow lints clean
    expect(page.locator('#properties [data-entry-id="name"] label')).to_have_text("名称")

    page.locator('.djs-context-pad [data-action="replace"]').click()
    menu = page.locator(".djs-popup")
    expect(menu.locator(".djs-popup-title")).to_have_text("更改类型")
    expect(menu.locator('[data-id="replace-with-manual-task"]')).to_contain_text("人工任务")
    expect(menu.locator('[data-id="toggle-parallel-mi"]')).to_have_attribute("title", "并行多实例")
    shoot(page, "chinese")
    page.keyboard.press("Escape")

    page.goto(f"{server}/lang/en?next={EDITOR}")
    _open_task(page)
    assert _titles(page) == {"start": "Create start event", "task": "Create task", "hand": "Activate hand tool",
                             "gateway": "Append gateway", "replace": "Change element"}
    groups = _groups(page)
    assert groups[:2] == ["General", "Duban"], groups
    assert "Documentation" in groups, groups
    expect(page.locator("#properties .bio-properties-panel-header-type")).to_have_text("User Task")
    expect(page.locator(".bjsl-button")).to_contain_text("No Issues")
    page.locator('.djs-context-pad [data-action="replace"]').click()
    menu = page.locator(".djs-popup")
    expect(menu.locator(".djs-popup-title")).to_have_text("Change element")
    expect(menu.locator('[data-id="replace-with-manual-task"]')).to_contain_text("Manual task")
    shoot(page, "english")
