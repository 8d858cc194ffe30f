"""An appeal (申诉) in a real browser: the official told of a decision finds 申诉 among their
tasks with the decision beside it and appeals with their grounds; the discipline office
reviews it with the grounds in front of it and changes 记过 to the lighter 政务警告; the
official's own record then shows both decisions and what the appeal did."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from ..support import PASSWORD
from .test_discipline import ladder_to_accountability, ready

GROUNDS = "延误系设备供货原因，本人已按期组织整改，请求从轻处理"


def sign_in(page, server, username, path):
    page.goto(f"{server}{path}")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def test_the_official_appeals_and_the_discipline_office_changes_the_decision(server, page, shoot, duban, org):
    case = ladder_to_accountability(duban, org)  # 张科长: 记过, decided 2026-05-08
    duban.complete_task(org["user:jiwei"], ready(duban, case, "Task_record"), {"recorded_in": ["ledger"]})
    appeal = ready(duban, case, "Task_appeal")

    sign_in(page, server, "responsible", "/tasks")
    expect(page.get_by_role("heading", name="我的待办")).to_be_visible()
    page.locator(f'tr[data-task-id="{appeal}"] a[href="/tasks/{appeal}"]').first.click()
    expect(page.locator("#task-form[data-ready=true]")).to_be_attached()
    expect(page.locator("main")).to_contain_text("记过")  # the decision appealed, beside the form
    page.get_by_label("提出申诉", exact=True).check()
    page.get_by_role("button", name="提交").click()  # no grounds: refused at the field
    expect(page.locator("main")).to_contain_text("申诉理由")
    page.get_by_label("申诉理由").fill(GROUNDS)
    shoot(page, "appeal")
    page.get_by_role("button", name="提交").click()
    expect(page.locator(".flash.success")).to_contain_text("已办理：申诉")
    page.get_by_role("button", name="退出").click()

    review = ready(duban, case, "Task_appeal_review")
    sign_in(page, server, "jiwei", f"/tasks/{review}")
    expect(page.locator("#task-form[data-ready=true]")).to_be_attached()
    expect(page.locator("main")).to_contain_text(GROUNDS)  # the grounds in front of the reviewer
    page.get_by_label("变更问责决定", exact=True).check()
    select = page.locator(".fjs-form-field-select").filter(has_text="变更后的政务处分")  # form-js's own dropdown
    select.locator(".fjs-input-group").click()
    select.locator(".fjs-dropdownlist-item", has_text="政务警告").click()
    page.get_by_label("申诉处理决定文号").fill("清纪申复〔2026〕1号")
    page.get_by_label("决定日期").fill("2026-05-08")
    page.get_by_label("复查意见").fill("申诉理由部分成立，改为政务警告")
    shoot(page, "review")
    page.get_by_role("button", name="提交").click()
    expect(page.locator(".flash.success")).to_contain_text("已办理：申诉复查")
    page.get_by_role("button", name="退出").click()

    sign_in(page, server, "responsible", f"/officials/{org['responsible']}")
    expect(page.get_by_role("heading", name=re.compile("问责记录"))).to_be_visible()
    changed = page.locator('[data-revision="changed"]')
    expect(changed).to_contain_text(GROUNDS)
    expect(changed).to_contain_text("政务警告")
    expect(page.locator("tr.in-force")).to_contain_text("政务警告")
    expect(page.locator("tr[data-decision-id]").filter(has_text="记过")).to_contain_text("影响期止于 2026-05-08")
    shoot(page, "record")
    assert not page.js_errors, page.js_errors
