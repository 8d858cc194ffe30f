"""通报 in a real browser: the office issues today's bulletin and reads it, charts drawn."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from ..helpers_pages import register
from ..support import PASSWORD


def test_office_issues_and_reads_todays_bulletin(server, page, shoot, duban, org):
    register(duban, org)
    register(duban, org, code="NL-2026-002", lead_unit="housing")
    page.goto(f"{server}/bulletins")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_text("尚未发布通报")).to_be_visible()
    shoot(page, "no-bulletin-yet")

    page.get_by_role("button", name="生成今日通报").click()
    expect(page).to_have_url(re.compile(r"/bulletins/2026-03-02$"))
    expect(page.locator(".flash.success")).to_contain_text("已生成第 1 期通报")
    expect(page.locator('[data-figure="problems"] b')).to_have_text("2")
    for chart in ("chart-status", "chart-regions", "chart-units"):
        expect(page.locator(f"#{chart}[data-ready=true] svg")).to_be_attached()
    shoot(page, "bulletin")

    page.get_by_role("link", name="通报", exact=True).first.click()
    expect(page.locator('tr[data-day="2026-03-02"]')).to_contain_text("第 1 期")
    shoot(page, "list")
    assert page.js_errors == []
