"""整改台账 in a real browser as an office uses it: type a person's name and see their problems,
the address keeps the keyword (a reload shows the same view); sort by days overdue from the
header, most overdue first on the second click; each row names its current step."""
from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import expect

from engine.models import DeadlineKind, ProblemCategory, ProblemSource
from engine.problems import NewProblem

from ..support import PASSWORD


def add(duban, org, code, responsible, lead_unit, deadline):
    return duban.register_problem(org["user:admin"], NewProblem(
        code=code, title="督察反馈问题", description="督察发现的问题。", source=ProblemSource.PROVINCIAL,
        batch="2025年省级督察", category=ProblemCategory.WATER, region_id=org["county"],
        lead_unit_id=org[lead_unit], responsible_official_id=org[responsible], deadline_kind=DeadlineKind.BY_DATE,
        deadline=deadline))


def test_an_office_finds_a_persons_problems_and_sorts_by_days_overdue(server, page, shoot, duban, org):
    # at 2026-03-02: KW-1 ten days overdue, KW-2 three days, KW-3 not due
    add(duban, org, "KW-1", "responsible", "eco", date(2026, 2, 20))
    add(duban, org, "KW-2", "eco_clerk", "housing", date(2026, 2, 27))
    add(duban, org, "KW-3", "eco_head", "eco", date(2026, 12, 31))
    duban.refresh_lights()

    page.goto(f"{server}/ledger")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    rows = page.locator("#problem-table tr[data-problem-id]")
    expect(rows).to_have_count(3)
    expect(rows.first.locator("td.steps")).to_contain_text("签收")

    # a person's name
    page.get_by_label("关键词").fill("赵科员")
    page.get_by_label("关键词").press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("KW-2")
    expect(rows.first).to_contain_text("赵科员")
    expect(page).to_have_url(re.compile(r"/ledger\?.*q=%E8%B5%B5%E7%A7%91%E5%91%98"))
    shoot(page, "by-person")
    page.reload()
    expect(rows).to_have_count(1)
    expect(page.get_by_label("关键词")).to_have_value("赵科员")

    # a unit's name finds it as lead or cooperating unit
    page.get_by_label("关键词").fill("生态环境分局")
    page.get_by_label("关键词").press("Enter")
    expect(rows).to_have_count(2)

    # sort by days overdue: fewest first, then most overdue first
    page.get_by_label("关键词").fill("")
    page.get_by_label("关键词").press("Enter")
    expect(rows).to_have_count(3)
    header = page.locator('th[data-sort-key="overdue_days"] a')
    header.click()
    expect(page).to_have_url(re.compile(r"sort=overdue_days"))
    expect(rows.locator("a.code")).to_have_text(["KW-3", "KW-2", "KW-1"])
    page.locator('th[data-sort-key="overdue_days"] a').click()
    expect(page).to_have_url(re.compile(r"sort=-overdue_days"))
    expect(rows.locator("a.code")).to_have_text(["KW-1", "KW-2", "KW-3"])
    expect(rows.first).to_contain_text("逾期 10 天")
    shoot(page, "by-days-overdue")
    page.reload()
    expect(rows.locator("a.code")).to_have_text(["KW-1", "KW-2", "KW-3"])
