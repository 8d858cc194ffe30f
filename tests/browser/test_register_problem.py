"""登记问题 in a real browser: the office opens the form from the ledger, picks the chain of
responsibility, types the deadline as a ledger writes it and reads it back (htmx), is
refused at the deadline field for a text that names none, then registers and lands on the
new problem's page with its process started."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from ..support import PASSWORD


def test_office_registers_a_problem(server, page, shoot, duban, org):
    page.goto(f"{server}/ledger")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.locator('[data-action="register"]').click()
    expect(page.get_by_role("heading", name="登记问题")).to_be_visible()

    page.get_by_label("问题编号").fill("DJ-2026-009")
    page.get_by_label("问题标题").fill("城区河道黑臭")
    page.get_by_label("问题描述").fill("城北河段黑臭，群众反映强烈。")
    page.get_by_label("问题来源").select_option(label="中央生态环境保护督察")
    page.get_by_label("批次").fill("2026年中央督察")
    page.get_by_label("问题类别").select_option(label="水")
    page.get_by_label("所属区域").select_option(label="　南岭县")
    page.get_by_label("牵头单位").select_option(label="南岭县生态环境分局")
    page.get_by_label("配合单位").select_option(label=["南岭县住房和城乡建设局", "南岭县人民政府"])
    page.get_by_label("责任人").select_option(value=str(org["responsible"]))
    page.get_by_label("包抓领导").select_option(value=str(org["magistrate"]))

    deadline = page.get_by_label("整改时限", exact=False).last
    deadline.fill("明年")
    expect(page.locator("#deadline-reading [data-reading-error]")).to_contain_text("无法识别的整改时限")
    deadline.fill("2027年6月底前")
    expect(page.locator("#deadline-reading [data-reading]")).to_have_text("截止 2027-06-30")
    shoot(page, "form-with-reading")

    # a deadline that names none is refused at its field, the rest kept
    deadline.fill("尽快")
    page.get_by_role("button", name="登记并交办").click()
    expect(page.locator('[data-error-for="deadline"]')).to_contain_text("无法识别的整改时限：尽快")
    expect(page.get_by_label("问题编号")).to_have_value("DJ-2026-009")
    shoot(page, "refused")

    page.get_by_label("整改时限", exact=False).last.fill("2027年6月底前")
    expect(page.locator("#deadline-reading [data-reading]")).to_have_text("截止 2027-06-30")
    page.get_by_role("button", name="登记并交办").click()
    expect(page).to_have_url(re.compile(r"/problems/\d+$"))
    expect(page.locator("[data-problem-code]")).to_have_text("DJ-2026-009")
    expect(page.locator("[data-deadline]")).to_have_text("2027年6月底前")
    expect(page.locator('#chain [data-chain="responsible"]')).to_have_text("张科长")
    expect(page.locator("#current-tasks")).to_contain_text("张科长")
    expect(page.locator("#diagram[data-ready=true]")).to_be_attached()
    shoot(page, "registered")
    assert not page.js_errors
