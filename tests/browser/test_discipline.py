"""The discipline office (纪委监委) in a real browser: signs in and lands on 督办看板 with its
figures and ECharts charts, filters the ladder's firings by level, then opens an accountability
case the ladder started and sees its steps and decision, and the official's record."""
from __future__ import annotations

import re
from datetime import date, datetime

from playwright.sync_api import expect
from sqlalchemy import select

from engine import clock
from engine.models import DeadlineKind, HumanTask, ProblemCategory, ProblemSource, ProcessInstance, TaskState
from engine.problems import NewProblem

from ..support import PASSWORD

DECISION = {"decision_no": "清纪问〔2026〕5号", "decision_date": "2026-05-08", "basis": "整改不力，逾期未完成",
            "government_form": "gov_demerit"}


def ready(duban, instance_id: int, element: str) -> int:
    with duban.db.reading() as session:
        return session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance_id,
                                                         HumanTask.element_id == element,
                                                         HumanTask.state == TaskState.READY))


def ladder_to_accountability(duban, org) -> int:
    """Two problems; one 30 working days overdue by 8 May, when the sweep walks it up to the
    top rung; 张科长's case decided (记过). That case's id."""
    def register(code, title, region, deadline, lead_unit):
        return duban.register_problem(org["user:admin"], NewProblem(
            code=code, title=title, description="督察反馈问题。", source=ProblemSource.PROVINCIAL,
            batch="2025年省级督察", category=ProblemCategory.WATER, region_id=org[region],
            lead_unit_id=org[lead_unit], responsible_official_id=org["responsible"],
            leading_official_id=org["magistrate"], industry_unit_id=org["housing"],
            deadline_kind=DeadlineKind.BY_DATE, deadline=deadline))

    register("NL-2026-001", "县城污水处理厂出水超标", "county", date(2026, 3, 20), "eco")
    register("QS-2026-002", "青石镇生活污水直排", "town", date(2026, 12, 31), "housing")
    clock.freeze(datetime(2026, 5, 8, 9, 0, tzinfo=clock.SHANGHAI))
    duban.refresh_lights()
    assert [f.level for f in duban.sweep()] == [1, 2, 3, 4, 5]
    with duban.db.reading() as session:
        case = session.scalar(select(ProcessInstance.id).where(ProcessInstance.subject_official_id == org["responsible"]))
    jiwei = org["user:jiwei"]
    duban.complete_task(jiwei, ready(duban, case, "Task_referral"),
                        {"referred_by": "市环督办", "received_on": "2026-05-08", "clue": "逾期30个工作日"})
    duban.complete_task(jiwei, ready(duban, case, "Task_verify"), {"facts": "推进不力", "finding": "accountable"})
    duban.complete_task(jiwei, ready(duban, case, "Task_decide"), DECISION)
    return case


def test_the_discipline_office_reads_the_dashboard_and_a_case(server, page, shoot, duban, org):
    case = ladder_to_accountability(duban, org)

    page.goto(f"{server}/dashboard")
    expect(page).to_have_url(re.compile(r"/login\?next=/dashboard"))
    page.get_by_label("用户名").fill("jiwei")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="督办看板")).to_be_visible()

    expect(page.locator('[data-figure="total"] b')).to_have_text("2")
    expect(page.locator('[data-figure="red"] b')).to_have_text("1")
    expect(page.locator('[data-figure="overdue"] b')).to_have_text("1")
    for name in ("region", "unit", "source", "batch"):  # ECharts drew each breakdown
        chart = page.locator(f'[data-chart="{name}"][data-rendered=true]')
        expect(chart.locator("svg")).to_have_count(1)
    expect(page.locator('[data-chart="region"] svg')).to_contain_text("南岭县")
    expect(page.locator('[data-breakdown="region"] details.chart-data')).not_to_have_attribute("open", "")
    expect(page.locator('[data-section="interviews"]')).to_contain_text("进行中 1")
    expect(page.locator('[data-section="cases"] [data-count="running"]')).to_have_text("办理中 5")
    assert not page.js_errors, page.js_errors
    shoot(page, "dashboard")

    # the ladder's firings by level, filtered in place
    page.locator('.level-filter .chip[data-level="5"]').click()
    expect(page).to_have_url(re.compile(r"/dashboard\?level=5$"))
    expect(page.locator("#escalation-list tr[data-escalation-id]")).to_have_count(1)
    expect(page.locator("#escalation-list tr[data-escalation-id]")).to_contain_text("问责")
    shoot(page, "level-5")

    # the case 张科长: its steps and its decision
    page.locator(f'[data-section="cases"] a[href="/accountability/cases/{case}"]').click()
    expect(page.get_by_role("heading", name=re.compile(f"问责案件 #{case}"))).to_be_visible()
    expect(page.locator('[data-section="cause"]')).to_contain_text("逾期 30 个工作日")
    decision = page.locator('[data-section="decisions"] tr[data-decision-id]')
    expect(decision).to_have_count(1)
    expect(decision).to_contain_text("记过")
    expect(decision).to_contain_text("2026-05-08 至 2027-05-07")
    expect(decision).to_have_class(re.compile("in-force"))
    open_step = page.locator('[data-section="tasks"] tr[data-state="ready"] a')
    expect(open_step).to_have_attribute("href", f"/tasks/{ready(duban, case, 'Task_record')}")
    expect(page.locator(".timeline li[data-action='accountability.decided']")).to_contain_text("记过")
    shoot(page, "case")

    page.get_by_role("link", name="查看问责记录").click()
    expect(page.get_by_role("heading", name="问责记录 · 张科长")).to_be_visible()
    expect(page.locator("tr.in-force")).to_contain_text("记过")
    shoot(page, "official-record")

    page.get_by_role("link", name="问责案件").first.click()
    expect(page.locator("tr[data-case-id]")).to_have_count(5)
    shoot(page, "case-list")
    assert not page.js_errors, page.js_errors
