"""The form-js viewer's own validation messages in the reader's language: an official submits
the sign-off form without ticking the required box, in Chinese, then in English."""
from __future__ import annotations

from playwright.sync_api import expect

from ..helpers_pages import ready_tasks, register
from .test_inbox import open_task, sign_in


def test_a_required_field_refused_in_chinese_then_in_english(server, page, shoot, duban, org):
    register(duban, org)
    [(task_id, _, _)] = ready_tasks(duban, "responsible", org)
    sign_in(page, server, "responsible")
    open_task(page, "签收")
    page.get_by_role("button", name="提交").click()  # not ticked: form-js refuses at the field
    error = page.locator(".fjs-form-field-error").first
    expect(error).to_have_text("此项必填。")
    shoot(page, "required-in-chinese")

    page.goto(f"{server}/lang/en?next=/tasks/{task_id}")
    expect(page.locator("#task-form[data-ready=true]")).to_be_attached()
    page.locator("#complete-form button[type=submit]").click()
    error = page.locator(".fjs-form-field-error").first
    expect(error).to_have_text("Required.")
    expect(page.locator("#task-form")).not_to_contain_text("Field is required")
    shoot(page, "required-in-english")
