"""问责 pages through Flask's test client: the cases the ladder opened (list, status filter,
pages), one case with its official, problem, cause, steps, decision and ledger trail, an
official's record with the influence period (影响期) in force and later run out; who may read
them and what unknown ids and bad arguments answer."""
from __future__ import annotations

import re
from datetime import date, datetime
from html import unescape

import pytest
from sqlalchemy import select

from engine import clock
from engine.models import DeadlineKind, HumanTask, ProblemCategory, ProblemSource, ProcessInstance, TaskState
from engine.problems import NewProblem
from web.ui import accountability as pages

from .test_pages import login

REFERRAL = {"referred_by": "市环督办", "received_on": "2026-05-08", "clue": "逾期30个工作日未完成整改"}
VERIFY = {"facts": "经核实，责任人对整改推进不力负有责任", "finding": "accountable"}
DECISION = {"decision_no": "清纪问〔2026〕5号", "decision_date": "2026-05-08", "basis": "整改不力，逾期未完成",
            "government_form": "gov_demerit"}


@pytest.fixture
def client(app):
    return app.test_client()


def task_of(duban, instance_id: int, element: str) -> int:
    with duban.db.reading() as session:
        return session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance_id,
                                                         HumanTask.element_id == element,
                                                         HumanTask.state == TaskState.READY))


@pytest.fixture
def cases(duban, org) -> dict:
    """A problem due 20 March, swept on 8 May (30 working days overdue): the top rung opens one
    accountability case per official in the chain. The discipline office decides 张科长's case
    (记过, 12 months). {"problem": id, "rectification": its instance, official key: case id}."""
    problem_id = duban.register_problem(org["user:admin"], NewProblem(
        code="NL-2026-001", title="县城污水处理厂出水超标", description="出水氨氮超标。",
        source=ProblemSource.PROVINCIAL, batch="2025年省级督察", category=ProblemCategory.WATER,
        region_id=org["county"], lead_unit_id=org["eco"], responsible_official_id=org["responsible"],
        leading_official_id=org["magistrate"], industry_unit_id=org["housing"], cooperating_unit_ids=[org["housing"]],
        deadline_kind=DeadlineKind.BY_DATE, deadline=date(2026, 3, 20)))
    clock.freeze(datetime(2026, 5, 8, 0, 0, 1, tzinfo=clock.SHANGHAI))
    assert [f.level for f in duban.sweep()] == [1, 2, 3, 4, 5]
    keys = {org[k]: k for k in ("responsible", "eco_head", "magistrate", "secretary", "housing_head")}
    with duban.db.reading() as session:
        found = {keys[i.subject_official_id]: i.id for i in session.scalars(
            select(ProcessInstance).where(ProcessInstance.subject_official_id.is_not(None)))}
        found["rectification"] = session.scalar(select(ProcessInstance.id).where(
            ProcessInstance.problem_id == problem_id, ProcessInstance.escalation_id.is_(None)))
    found["problem"] = problem_id
    case = found["responsible"]
    jiwei = org["user:jiwei"]
    duban.complete_task(jiwei, task_of(duban, case, "Task_referral"), REFERRAL)
    duban.complete_task(jiwei, task_of(duban, case, "Task_verify"), VERIFY)
    duban.complete_task(jiwei, task_of(duban, case, "Task_decide"), DECISION)
    return found


def rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-case-id="(\d+)"', html)]


def test_the_list_shows_every_case_with_its_official_problem_tasks_and_decisions(client, duban, org, cases):
    login(client, "jiwei")
    response = client.get("/accountability")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    officials = ("responsible", "eco_head", "magistrate", "secretary", "housing_head")
    assert sorted(rows(html)) == sorted(cases[k] for k in officials)
    assert 'data-status="open">办理中 <b>5</b>' in html and 'data-status="closed">已办结 <b>0</b>' in html

    row = re.search(rf'<tr data-case-id="{cases["responsible"]}".*?</tr>', html, re.S).group(0)
    assert "张科长" in row and f"/officials/{org['responsible']}" in row
    assert "NL-2026-001" in row and f"/problems/{cases['problem']}" in row
    recording = task_of(duban, cases["responsible"], "Task_record")
    assert f"/tasks/{recording}" in row and 'class="badge in-force">记过' in row
    other = re.search(rf'<tr data-case-id="{cases["secretary"]}".*?</tr>', html, re.S).group(0)
    assert "周书记" in other and f"/tasks/{task_of(duban, cases['secretary'], 'Task_referral')}" in other

    assert rows(client.get("/accountability?status=closed").get_data(as_text=True)) == []
    assert "没有问责案件" in client.get("/accountability?status=closed").get_data(as_text=True)
    assert len(rows(client.get("/accountability?status=open").get_data(as_text=True))) == 5


def test_the_list_is_paginated(client, org, cases, monkeypatch):
    monkeypatch.setattr(pages, "PER_PAGE", 2)
    login(client, "admin")
    seen = []
    for page in (1, 2, 3):
        html = client.get(f"/accountability?status=open&page={page}").get_data(as_text=True)
        seen += rows(html)
        assert f"第 {page}/3 页" in html
    assert len(seen) == 5 and len(set(seen)) == 5
    assert 'href="/accountability?page=2&amp;status=open" rel="next"' in client.get(
        "/accountability?status=open").get_data(as_text=True)
    assert rows(client.get("/accountability?page=9").get_data(as_text=True)) == []


def test_the_case_page(client, duban, org, cases):
    login(client, "jiwei")
    response = client.get(f"/accountability/cases/{cases['responsible']}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    official = re.search(r'data-section="official".*?</section>', html, re.S).group(0)
    assert "张科长" in official and "南岭县住房和城乡建设局 科长" in official and "部门职务" in official
    assert "中共党员" in official
    problem = re.search(r'data-section="problem".*?</section>', html, re.S).group(0)
    assert f"/problems/{cases['problem']}" in problem and "NL-2026-001" in problem and "红灯" in problem

    cause = re.search(r'data-section="cause".*?</section>', html, re.S).group(0)
    assert "L5" in cause and "问责" in cause and "逾期 30 个工作日" in cause and "2026-03-20" in cause

    steps = re.search(r'data-section="tasks".*?</section>', html, re.S).group(0)
    assert re.findall(r'data-state="(\w+)"', steps) == ["completed", "completed", "completed", "ready"]
    assert f'href="/tasks/{task_of(duban, cases["responsible"], "Task_record")}"' in steps
    assert "jiwei 于 2026-05-08" in steps

    decisions = re.search(r'data-section="decisions".*?</section>', html, re.S).group(0)
    assert "政务处分" in decisions and "记过" in decisions and "清纪问〔2026〕5号" in decisions
    assert "12 个月：2026-05-08 至 2027-05-07" in decisions and 'data-in-force="true"' in decisions

    timeline = re.findall(r'data-action="([\w.]+)"', html)
    # in the ledger's order: the firing's entry follows the cases it started, in one transaction
    assert timeline[0] == "instance.started" and "escalation.fired" in timeline
    assert "accountability.decided" in timeline and timeline.count("task.completed") == 3

    undecided = client.get(f"/accountability/cases/{cases['secretary']}").get_data(as_text=True)
    assert "尚未作出问责决定" in undecided and "周书记" in undecided and "党委（党组）职务" in undecided


def test_an_official_record_shows_the_influence_period_while_it_runs(client, org, cases):
    login(client, "jiwei")
    html = client.get(f"/officials/{org['responsible']}").get_data(as_text=True)
    assert "问责记录 · 张科长" in html
    assert re.search(r'<tr data-decision-id="\d+" class="in-force">', html)
    assert "影响期内的问责决定 1 项" in html and f"/accountability/cases/{cases['responsible']}" in html
    clean = client.get(f"/officials/{org['secretary']}").get_data(as_text=True)
    assert "没有问责决定" in clean and f"/accountability/cases/{cases['secretary']}" in clean

    clock.freeze(datetime(2027, 5, 8, 9, 0, tzinfo=clock.SHANGHAI))  # the twelve months have run
    login(client, "jiwei")  # a year later the page session has long ended
    later = client.get(f"/officials/{org['responsible']}").get_data(as_text=True)
    assert 'class="in-force"' not in later and 'data-in-force="false"' in later and "影响期已满" in later
    assert "影响期内的问责决定 0 项" in later and "记过" in later


def test_only_the_discipline_office_and_the_office_read_cases(app, org, cases):
    paths = ("/accountability", f"/accountability/cases/{cases['responsible']}", f"/officials/{org['responsible']}")
    for user in ("responsible", "secretary", "eco_head"):  # an official, a leader, a unit head
        client = app.test_client()
        login(client, user)
        for path in paths:
            response = client.get(path)
            if user == "responsible" and path == f"/officials/{org['responsible']}":  # his own record
                own = response.get_data(as_text=True)
                assert response.status_code == 200 and "记过" in own and "/accountability/cases/" not in own
                continue
            assert response.status_code == 403, (user, path)
            assert "无权访问" in response.get_data(as_text=True)


@pytest.mark.parametrize("path, status, words", [
    ("/accountability/cases/99999", 404, "没有这个问责案件"),
    ("/officials/99999", 404, "没有这名公职人员"),
    ("/accountability?status=bogus", 400, "status"),
    ("/accountability?page=0", 400, "page"),
    ("/accountability?page=abc", 400, "page"),
])
def test_unknown_ids_and_bad_arguments(client, org, path, status, words):
    login(client, "jiwei")
    response = client.get(path)
    assert response.status_code == status
    assert words in unescape(response.get_data(as_text=True))


def test_an_instance_of_another_process_is_not_a_case(client, org, cases):
    login(client, "admin")
    assert client.get(f"/accountability/cases/{cases['rectification']}").status_code == 404


def test_no_case_yet(client, org):
    login(client, "jiwei")
    html = client.get("/accountability").get_data(as_text=True)
    assert "没有问责案件" in html and "共 0 条" in html
