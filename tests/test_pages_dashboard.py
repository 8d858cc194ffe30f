"""督办看板 through Flask's test client: the totals, lights and breakdowns equal what the
database holds for problems in three regions, the region filter, the ladder's firings by level,
the overdue list, the forecast, who may open it, and bad arguments."""
from __future__ import annotations

import json
import re
from datetime import date, datetime
from html import unescape

import pytest
from sqlalchemy import func, select

from engine import clock
from engine.models import (DeadlineKind, Escalation, LedgerEntry, Light, Problem, ProblemCategory, ProblemSource,
                           ProblemStatus, ProcessInstance)
from engine.problems import NewProblem

from .test_pages import login


@pytest.fixture
def client(app):
    return app.test_client()


def register(duban, org, code, region, deadline, lead_unit="eco", source="provincial", batch="2025年省级督察"):
    return duban.register_problem(org["user:admin"], NewProblem(
        code=code, title=f"{code} 问题", description="督察反馈问题。", source=ProblemSource(source), batch=batch,
        category=ProblemCategory.WATER, region_id=org[region], lead_unit_id=org[lead_unit],
        responsible_official_id=org["responsible"], leading_official_id=org["magistrate"],
        deadline_kind=DeadlineKind.BY_DATE, deadline=deadline))


@pytest.fixture
def city(duban, org):
    """Three problems at 2026-03-02: one in the township due in two days (yellow), one in the
    county past its deadline (red, overdue), one of the city's own due at the end of the year
    (green); the ladder swept."""
    ids = {
        "town": register(duban, org, "QS-001", "town", date(2026, 3, 4)),
        "county": register(duban, org, "NL-001", "county", date(2026, 2, 20)),
        "city": register(duban, org, "QJ-001", "city", date(2026, 12, 31), lead_unit="housing", source="central",
                         batch="2024年中央督察"),
    }
    duban.refresh_lights()
    duban.sweep()
    return ids


def chart_data(html: str) -> dict:
    found = re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>', html, re.S)
    assert found, "no chart data in the page"
    return json.loads(found.group(1))


def figure(html: str, name: str) -> int:
    found = re.search(rf'data-figure="{name}"[^>]*>.*?<b>(\d+)</b>', html, re.S)
    assert found, name
    return int(found.group(1))


def test_the_figures_are_those_the_database_holds(client, duban, org, city):
    login(client, "jiwei")
    response = client.get("/dashboard")
    assert response.status_code == 200
    html = response.get_data(as_text=True)

    with duban.db.reading() as session:
        lights = dict(session.execute(select(Problem.light, func.count()).group_by(Problem.light)).all())
        closed = session.scalar(select(func.count()).where(Problem.status == ProblemStatus.CLOSED))
        levels = dict(session.execute(select(Escalation.level, func.count()).group_by(Escalation.level)).all())
    assert lights == {Light.RED: 1, Light.YELLOW: 1, Light.GREEN: 1}
    assert (figure(html, "total"), figure(html, "red"), figure(html, "yellow"), figure(html, "green")) == (3, 1, 1, 1)
    assert figure(html, "closed") == closed == 0 and figure(html, "in_progress") == 3
    assert figure(html, "overdue") == 1

    # the charts' figures, embedded for ECharts and printed in the tables beneath
    charts = chart_data(html)["charts"]
    region = charts["region"]
    assert region["categories"] == ["南岭县", "清江市（本级）"]  # the township counts with its county
    assert region["series"] == {"red": [1, 0], "yellow": [1, 0], "green": [0, 1], "closed": [0, 0]}
    assert charts["unit"]["categories"] == ["南岭县生态环境分局", "南岭县住房和城乡建设局"]
    assert charts["source"]["categories"] == ["省级生态环境保护督察", "中央生态环境保护督察"]
    assert charts["batch"]["series"]["green"] == [0, 1]
    assert '<tr data-row="南岭县">' in html and 'data-chart="region"' in html
    # each bar leads to the ledger filtered to its problems (a region's own problems: no filter fits)
    assert region["links"] == [f"/ledger?region={org['county']}", None]
    assert charts["unit"]["links"] == [f"/ledger?lead_unit={org['eco']}", f"/ledger?lead_unit={org['housing']}"]
    assert charts["source"]["links"] == ["/ledger?source=provincial", "/ledger?source=central"]
    assert f'<a href="/ledger?region={org["county"]}">南岭县</a>' in html
    assert 'data-figure="red" href="/ledger?light=red"' in html
    assert "/vendor/echarts/dist/echarts.min.js" in html

    # the ladder's firings, counted by level as the database has them
    assert levels and sum(levels.values()) >= 2
    for level, count in levels.items():
        assert f'data-count="{level}">{count}</b>' in html
    assert html.count("data-escalation-id=") == sum(levels.values())

    # the overdue problem, with its days past the deadline (20 Feb to 2 Mar) and a link to it
    overdue = re.search(r'data-section="overdue".*?</section>', html, re.S).group(0)
    assert f'data-problem-id="{city["county"]}"' in overdue and 'data-days="10"' in overdue
    assert "QS-001" not in overdue and "QJ-001" not in overdue
    assert f"/problems/{city['county']}" in overdue

    # the forecast is the engine's: the township problem falls overdue within ten working days
    forecast = re.search(r'data-section="forecast".*?</section>', html, re.S).group(0)
    expected = {(f.problem_code, f.level) for f in duban.forecast(10)}
    assert ("QS-001", 2) in expected
    shown = set(re.findall(r'<tr data-level="(\d)">.*?class="code">([^<]+)</a>', forecast, re.S))
    assert {(code, int(level)) for level, code in shown} == expected


def test_the_region_filter_narrows_everything_to_the_region_and_below(client, duban, org, city):
    login(client, "admin")
    html = client.get(f"/dashboard?region={org['county']}").get_data(as_text=True)
    assert '<span data-scope>南岭县</span>' in html
    assert (figure(html, "total"), figure(html, "red"), figure(html, "yellow"), figure(html, "green")) == (2, 1, 1, 0)
    charts = chart_data(html)["charts"]
    assert sorted(charts["region"]["categories"]) == ["南岭县（本级）", "青石镇"]  # the county's own and its township
    assert "QJ-001" not in html
    assert charts["unit"]["links"] == [f"/ledger?region={org['county']}&lead_unit={org['eco']}"]
    assert f'data-figure="overdue" href="/ledger?overdue=true&amp;region={org["county"]}"' in html
    with duban.db.reading() as session:
        fired = session.scalar(select(func.count()).select_from(Escalation).join(Problem)
                               .where(Problem.code.in_(["QS-001", "NL-001"])))
    assert html.count("data-escalation-id=") == fired

    town = client.get(f"/dashboard?region={org['town']}").get_data(as_text=True)
    assert figure(town, "total") == 1 and figure(town, "yellow") == 1 and figure(town, "overdue") == 0
    assert "没有逾期问题" in town


def test_the_escalations_filter_by_level_in_place(client, duban, org, city):
    login(client, "jiwei")
    with duban.db.reading() as session:
        twos = session.scalars(select(Escalation.id).where(Escalation.level == 2)).all()
    assert twos
    partial = client.get("/dashboard?level=2", headers={"HX-Request": "true", "HX-Target": "escalation-list"})
    body = partial.get_data(as_text=True)
    assert partial.status_code == 200 and "<html" not in body
    assert sorted(int(i) for i in re.findall(r'data-escalation-id="(\d+)"', body)) == sorted(twos)
    assert set(re.findall(r'<tr data-escalation-id="\d+" data-level="(\d)"', body)) == {"2"}
    full = client.get("/dashboard?level=5").get_data(as_text=True)
    assert "暂无督办升级记录" in full and 'data-level="5"' in full


def test_who_may_open_the_dashboard(client, duban, org, city):
    login(client, "responsible")
    refused = client.get("/dashboard")
    assert refused.status_code == 403
    with duban.db.reading() as session:
        denied = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "permission.denied")).all()
    assert denied[-1].payload["action"] == "read the dashboard"

    leader = login(client, "secretary")
    assert leader.status_code == 302
    html = client.get("/dashboard").get_data(as_text=True)
    # the county secretary heads the county (党政同责): the dashboard counts the county's and its
    # town's problems, not the city's, exactly those the ledger shows them
    assert figure(html, "total") == 2 and 'data-nav="dashboard"' in html
    ledger = client.get("/ledger").get_data(as_text=True)
    assert 'data-total="2"' in ledger and "NL-001" in ledger and "QS-001" in ledger and "QJ-001" not in ledger
    # the forecast and the accountability cases are the office's and the discipline office's
    assert 'data-section="forecast"' not in html and 'data-section="cases"' not in html
    assert 'data-section="interviews"' in html


@pytest.mark.parametrize("query, status, field", [
    ("region=abc", 400, "region"), ("region=-1", 400, "region"), ("level=7", 400, "level"),
    ("level=x", 400, "level"), ("region=99999", 404, "区域"),
])
def test_bad_arguments_answer_a_page_naming_the_field(client, org, query, status, field):
    login(client, "jiwei")
    response = client.get(f"/dashboard?{query}")
    assert response.status_code == status
    html = unescape(response.get_data(as_text=True))
    assert field in html and f'data-status="{status}"' in html


def test_an_empty_city_shows_zeros_and_empty_states(client, org):
    login(client, "jiwei")
    html = client.get("/dashboard").get_data(as_text=True)
    assert figure(html, "total") == 0 and figure(html, "overdue") == 0
    assert "暂无问题" in html and "暂无督办升级记录" in html and "没有逾期问题" in html
    assert "暂无约谈" in html and "暂无问责案件" in html
    assert chart_data(html)["charts"]["region"]["categories"] == []


def test_interviews_and_cases_show_when_the_ladder_reaches_them(client, duban, org):
    register(duban, org, "NL-009", "county", date(2026, 3, 20))
    clock.freeze(datetime(2026, 5, 8, 0, 0, 1, tzinfo=clock.SHANGHAI))
    assert {f.level for f in duban.sweep()} == {1, 2, 3, 4, 5}
    with duban.db.reading() as session:
        opened = session.scalars(select(ProcessInstance.id).where(ProcessInstance.subject_official_id.is_not(None))).all()
    assert len(opened) == 4  # the chain: 张科长, 吴县长, 李局长 and the county's Party secretary 周书记
    login(client, "jiwei")
    html = client.get("/dashboard").get_data(as_text=True)
    interviews = re.search(r'data-section="interviews".*?</section>', html, re.S).group(0)
    assert "进行中 1" in interviews and "NL-009" in interviews and 'data-status="running"' in interviews
    cases = re.search(r'data-section="cases".*?</section>', html, re.S).group(0)
    assert "办理中 4" in cases and "已办结 0" in cases
    assert sorted(int(i) for i in re.findall(r'/accountability/cases/(\d+)', cases)) == sorted(opened)
