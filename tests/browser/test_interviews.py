"""约谈 in a real browser: the ladder reaches the interview rung of an overdue problem; the
office opens 约谈, follows the link to its step, schedules and holds the interview (minutes
and commitments); the discipline office reads the list and the interview's page with whom,
why, the record and the timeline; the problem page lists the interview."""
from __future__ import annotations

import re
from datetime import date, datetime

from playwright.sync_api import expect
from sqlalchemy import select

from engine import clock
from engine.models import DeadlineKind, ProblemCategory, ProblemSource, ProcessInstance
from engine.problems import NewProblem

from ..support import PASSWORD
from ..test_pages_interviews import HOLD, interview_task
from .second_user import another_user


def sign_in(page, server, username, path):
    page.goto(f"{server}{path}")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def test_offices_follow_an_interview(server, page, browser, shoot, duban, org):
    problem_id = duban.register_problem(org["user:admin"], NewProblem(
        code="YT-2026-007", title="县城污水处理厂出水超标", description="出水氨氮超标。",
        source=ProblemSource("provincial"), batch="2025年省级督察", category=ProblemCategory("water"),
        region_id=org["county"], lead_unit_id=org["eco"], responsible_official_id=org["responsible"],
        leading_official_id=org["magistrate"], deadline_kind=DeadlineKind.BY_DATE, deadline=date(2026, 3, 20)))
    clock.freeze(datetime(2026, 4, 21, 0, 0, 1, tzinfo=clock.SHANGHAI))
    assert [f.level for f in duban.sweep()] == [1, 2, 3, 4]

    sign_in(page, server, "admin", "/ledger")
    page.locator('[data-nav="interviews"]').click()
    row = page.locator("tr[data-interview-id]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("周书记")
    expect(row).to_contain_text("吴县长")
    expect(row).to_contain_text("YT-2026-007")
    shoot(page, "list-before")

    # the office's step: schedule it through its task form
    row.get_by_role("link", name="安排约谈").click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+$"))
    page.get_by_label("约谈日期").fill("2026-04-24")
    page.get_by_label("约谈地点").fill("县委第一会议室")
    page.get_by_label(re.compile(r"^约谈人")).fill("市环督办主任")
    page.get_by_label("约谈事由").fill("出水超标问题逾期未整改")
    page.get_by_role("button", name="提交").click()
    expect(page.locator(".flash.success")).to_contain_text("已办理：安排约谈")
    shoot(page, "scheduled")

    # the interview is held and minuted (through the engine, as the task page does)
    with duban.db.reading() as db:
        [instance_id] = db.scalars(select(ProcessInstance.id).where(
            ProcessInstance.problem_id == problem_id, ProcessInstance.definition.has(key="interview"))).all()
    duban.complete_task(org["user:admin"], interview_task(duban, org, instance_id, "Task_hold"), HOLD)

    with another_user(browser) as discipline:
        sign_in(discipline, server, "jiwei", "/dashboard")
        discipline.locator('[data-nav="interviews"]').click()
        row = discipline.locator(f'tr[data-interview-id="{instance_id}"]')
        expect(row.locator("[data-scheduled]")).to_have_text("2026-04-24")
        expect(row.locator("[data-minutes]")).to_have_text(HOLD["minutes"])
        expect(row.locator("[data-commitments]")).to_have_text(HOLD["commitments"])
        expect(row.locator("[data-step]")).to_contain_text("报送书面整改承诺")
        shoot(discipline, "list-after")
        row.get_by_role("link", name=f"#{instance_id}").click()
        expect(discipline).to_have_url(re.compile(rf"/interviews/{instance_id}$"))
        expect(discipline.locator("[data-interviewee]")).to_have_count(3)  # the county's two heads, the lead unit's head
        expect(discipline.locator('[data-record="place"]')).to_have_text("县委第一会议室")
        expect(discipline.locator('[data-record="commitments"]')).to_have_text(HOLD["commitments"])
        expect(discipline.locator("[data-trigger]")).to_contain_text("20 个工作日")
        expect(discipline.locator('[data-section="timeline"] li[data-action="task.completed"]')).to_have_count(2)
        shoot(discipline, "interview")
        discipline.locator('[data-section="problem"] a').click()
        expect(discipline.locator("#interviews")).to_contain_text(HOLD["commitments"])
        expect(discipline.locator(f'#interviews a[href="/interviews/{instance_id}"]')).to_be_visible()
        shoot(discipline, "problem")
    assert not page.js_errors
