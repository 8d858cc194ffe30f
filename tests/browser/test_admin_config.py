"""管理 › 督办规则, 节假日安排, 流程定义 in a real browser: the rules table and a refused edit,
the calendar's month grids and entering a single day, and a version's diagram drawn by bpmn-js
with a badge where the running instance waits."""
from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from ..helpers_pages import register
from ..support import PASSWORD


def sign_in_as_admin(page, server):
    page.goto(f"{server}/login?next=/admin")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="管理", exact=True)).to_be_visible()


def test_rules_page_and_a_refused_edit(server, page, shoot, org):
    sign_in_as_admin(page, server)
    page.locator('[data-section="rules"]').click()
    expect(page.locator("table[data-ladder] tbody tr")).to_have_count(5)
    expect(page.locator('tr[data-rule="interview"]')).to_contain_text("党政同责")
    shoot(page, "rules")

    page.locator('[data-action="edit"]').click()
    page.locator('input[name="rules-2-triggers-0-working_days"]').fill("十")
    page.locator('textarea[name="note"]').fill("放宽专函督办")
    page.get_by_role("button", name="保存为新版本").click()
    expect(page.locator("[data-errors]")).to_contain_text("工作日数")
    expect(page.locator('[data-error-for="rules-2-triggers-0-working_days"]')).to_be_visible()
    shoot(page, "rules-refused")

    page.locator('input[name="rules-2-triggers-0-working_days"]').fill("12")
    page.get_by_role("button", name="保存为新版本").click()
    expect(page.locator(".flash.success")).to_contain_text("第 2 版")
    expect(page.locator('tr[data-rule="supervision"]')).to_contain_text("逾期满 12 个工作日")
    assert page.js_errors == []


def test_calendar_months_and_a_single_day(server, page, shoot, org):
    sign_in_as_admin(page, server)
    page.goto(f"{server}/admin/calendar?year=2026")
    expect(page.locator(".month")).to_have_count(12)
    expect(page.locator('td[data-date="2026-02-17"]')).to_have_class(re.compile(r"\bholiday\b"))
    expect(page.locator('td[data-date="2026-02-28"]')).to_have_class(re.compile(r"\bmakeup\b"))
    shoot(page, "calendar-2026")

    page.locator('a[rel="next"]').click()
    expect(page.locator(".year-status")).to_have_attribute("data-provisional", "true")
    form = page.locator('[data-form="day"]')
    form.locator('input[name="date"]').fill("2027-10-09")
    form.get_by_label("上班").check()
    form.locator('input[name="note"]').fill("国庆调休上班")
    form.get_by_role("button", name="保存").click()
    expect(page.locator(".flash.success")).to_contain_text("2027-10-09")
    expect(page.locator('td[data-date="2027-10-09"]')).to_have_class(re.compile(r"\bmakeup\b.*\boverride\b"))
    expect(page.locator("[data-change]")).to_be_visible()
    shoot(page, "calendar-2027-day-set")
    assert page.js_errors == []


def test_a_version_page_draws_its_diagram(server, page, shoot, duban, org):
    register(duban, org)
    sign_in_as_admin(page, server)
    page.goto(f"{server}/admin/definitions")
    expect(page.locator('[data-process="rectification"] [data-running="1"]')).to_be_visible()
    shoot(page, "definitions")
    page.locator('[data-process="rectification"] a', has_text="第 1 版").click()
    expect(page.locator('#diagram[data-state="ready"]')).to_be_attached()
    expect(page.locator("#diagram svg .djs-element").first).to_be_attached()
    expect(page.locator('[data-waiting="Task_sign"]')).to_have_attribute("data-count", "1")
    shoot(page, "definition-version")
    assert page.js_errors == []


def test_a_refused_upload_lists_its_findings_and_warnings_are_accepted_with_a_reason(server, page, shoot, duban,
                                                                                     tmp_path):
    shipped = (Path(__file__).resolve().parents[2] / "bpmn" / "rectification.bpmn").read_text(encoding="utf-8")
    broken = tmp_path / "broken.bpmn"
    broken.write_text(shipped.replace('>decision == "return"<', '>decison == "return"<', 1)
                      .replace(">P5D</bpmn:timeDuration>", ">5 days</bpmn:timeDuration>"), encoding="utf-8")
    warned = tmp_path / "rectification.bpmn"
    warned.write_text(re.sub(r'<spiffworkflow:property name="problemStatus" value="\w+" />', "", shipped),
                      encoding="utf-8")
    sign_in_as_admin(page, server)
    page.goto(f"{server}/admin/definitions")

    page.locator('form[data-form="deploy"] input[name="file"]').set_input_files(str(broken))
    page.locator('form[data-form="deploy"] button[type="submit"]').click()
    rows = page.locator("[data-findings] tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator('tr[data-code="timer-not-iso"]')).to_contain_text("应写作 P5D")
    expect(page.locator('tr[data-code="condition-unknown-field"]')).to_contain_text("decison")
    expect(page.locator('[data-form="accept-warnings"]')).to_have_count(0)
    shoot(page, "definitions-refused")

    page.locator('form[data-form="deploy"] input[name="file"]').set_input_files(str(warned))
    page.locator('form[data-form="deploy"] button[type="submit"]').click()
    expect(page.locator('tr[data-code="no-problem-status"] .severity-warning')).to_have_text("警告")
    page.get_by_label("接受警告的理由", exact=False).first.fill("状态由新的子流程维护")
    shoot(page, "definitions-warnings")
    page.get_by_role("button", name="接受警告并部署").click()
    expect(page.locator(".flash")).to_contain_text("第 2 版")
    shoot(page, "definitions-accepted")
    assert page.js_errors == []
