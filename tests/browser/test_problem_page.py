"""整改台账 and the problem page in a real browser: the office filters the ledger, opens an
overdue problem, and reads its process diagram with the open task highlighted and the path
taken marked; then switches to the urging process the escalation ladder started."""
from __future__ import annotations

import re
from datetime import date, datetime

from playwright.sync_api import expect

from engine import clock
from engine.models import DeadlineKind, ProblemCategory, ProblemSource
from engine.problems import NewProblem

from ..helpers_pages import ready_tasks
from ..support import PASSWORD


def add(duban, org, code, title, category, deadline):
    return duban.register_problem(org["user:admin"], NewProblem(
        code=code, title=title, description="督察发现的问题。", source=ProblemSource("provincial"),
        batch="2025年省级督察", category=ProblemCategory(category), region_id=org["county"],
        lead_unit_id=org["eco"], responsible_official_id=org["responsible"], leading_official_id=org["magistrate"],
        industry_unit_id=org["housing"], cooperating_unit_ids=[org["housing"]], deadline_kind=DeadlineKind.BY_DATE,
        deadline=deadline, sites=["县城污水处理厂"], milestones=[]))


def element(page, element_id):
    return page.locator(f'#diagram g.djs-element[data-element-id="{element_id}"]')


def test_office_filters_the_ledger_and_reads_the_diagram(server, page, shoot, duban, org):
    overdue = add(duban, org, "NL-2026-001", "县城污水处理厂出水超标", "water", date(2026, 3, 20))
    add(duban, org, "NL-2026-002", "城区建筑工地扬尘", "air", date(2026, 9, 30))
    [(sign, _, _)] = [t for t in ready_tasks(duban, "responsible", org) if t[2] == "NL-2026-001"]
    duban.complete_task(org["user:responsible"], sign, {"acknowledged": True})
    clock.freeze(datetime(2026, 3, 25, 9, 0, tzinfo=clock.SHANGHAI))
    assert [f.level for f in duban.sweep()] == [1, 2]  # reminded, then urged (催办): a process of its own

    page.goto(f"{server}/ledger")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="整改台账")).to_be_visible()
    rows = page.locator("#problem-table tr[data-problem-id]")
    expect(rows).to_have_count(2)
    expect(page.locator('[data-count="red"]')).to_have_text("1")
    expect(page.get_by_role("link", name="导入台账")).to_be_visible()
    shoot(page, "ledger")

    # filter in place (htmx): only the red one; the address follows
    page.get_by_label("灯色", exact=True).select_option("red")
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/ledger\?.*light=red"))
    expect(rows.first).to_contain_text("逾期 5 天")
    expect(page.locator("#export-link")).to_have_attribute("href", re.compile(r"light=red"))
    shoot(page, "filtered-red")

    # sort by deadline, descending, keeping the filter
    page.get_by_label("灯色", exact=True).select_option("")
    expect(rows).to_have_count(2)
    page.locator('th[data-sort-key="deadline"] a').click()
    expect(page.locator('th[data-sort-key="deadline"]')).to_have_attribute("aria-sort", "ascending")
    page.locator('th[data-sort-key="deadline"] a').click()
    expect(page.locator('th[data-sort-key="deadline"]')).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_contain_text("NL-2026-002")
    shoot(page, "sorted")

    page.get_by_role("link", name="县城污水处理厂出水超标").click()
    expect(page).to_have_url(re.compile(rf"/problems/{overdue}$"))
    expect(page.locator("[data-problem-code]")).to_have_text("NL-2026-001")
    expect(page.locator("[data-overdue]")).to_contain_text("已逾期 5 天")
    expect(page.locator('#chain [data-head="party"]')).to_have_text("周书记")
    expect(page.locator("#timeline")).to_contain_text("触发督办")

    diagram = page.locator("#diagram[data-ready=true]")
    expect(diagram).to_be_attached()
    expect(element(page, "Task_submit_plan")).to_have_class(re.compile(r"\bduban-current\b"))
    expect(element(page, "Task_sign")).to_have_class(re.compile(r"\bduban-done\b"))
    expect(element(page, "StartEvent_assigned")).to_have_class(re.compile(r"\bduban-done\b"))
    expect(element(page, "Flow_to_submit_plan")).to_have_class(re.compile(r"\bduban-flow\b"))
    expect(element(page, "Task_review_plan")).not_to_have_class(re.compile(r"duban-"))
    page.locator("#process").scroll_into_view_if_needed()
    shoot(page, "problem")

    # the urging process (催办) started by the ladder, in its own tab
    tabs = page.locator(".process-tabs [data-instance-id]")
    expect(tabs).to_have_count(2)
    tabs.nth(1).click()
    expect(tabs.nth(1)).to_have_attribute("aria-selected", "true")
    expect(page.locator("#diagram[data-ready=true]")).to_be_attached()
    expect(page.locator("#diagram .duban-current").first).to_be_attached()
    expect(element(page, "Task_submit_plan")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"instance=\d+"))
    shoot(page, "urging-process")

    # back to the rectification diagram
    tabs.nth(0).click()
    expect(element(page, "Task_submit_plan")).to_have_class(re.compile(r"\bduban-current\b"))
    assert page.js_errors == []
