"""登记问题 through Flask's test client: the office registers one problem from the form (the
same registration as the API: its process and ledger entry), the deadline read as the
importer reads it and shown back; bad input comes back at its field with nothing written;
only the office may register."""
from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from engine.models import DeadlineKind, LedgerEntry, Problem, ProcessInstance

from .helpers_pages import register as register_through_engine
from .test_pages import login, token_of


@pytest.fixture
def client(app):
    return app.test_client()


def form(client, org, **overrides) -> dict:
    token = token_of(client.get("/problems/new").get_data(as_text=True))
    data = {"csrf_token": token, "code": "DJ-2026-001", "title": "城区河道黑臭", "description": "城北河段黑臭。",
            "source": "central", "batch": "2026年中央督察", "category": "water", "region_id": str(org["county"]),
            "lead_unit_id": str(org["eco"]), "cooperating_unit_ids": [str(org["housing"]), str(org["county_gov"])],
            "responsible_official_id": str(org["responsible"]), "leading_official_id": str(org["magistrate"]),
            "industry_unit_id": "", "deadline": "2027年6月底前", "sites": "城北河段\n城南河段\n"}
    data.update(overrides)
    return data


def count(duban, model) -> int:
    with duban.db.reading() as db:
        return db.scalar(select(func.count()).select_from(model))


def field_errors(html: str) -> dict[str, str]:
    return {m[0]: m[1] for m in re.findall(r'data-error-for="([^"]+)">([^<]*)<', html)}


def test_the_office_registers_a_problem_which_gets_its_process_and_ledger_entry(client, duban, org):
    login(client, "admin")
    page = client.get("/problems/new").get_data(as_text=True)
    for picker in ("南岭县生态环境分局", "南岭县住房和城乡建设局", "张科长", "青石镇", "中央生态环境保护督察", "固废"):
        assert picker in page, picker
    assert 'name="cooperating_unit_ids" multiple' in page
    response = client.post("/problems/new", data=form(client, org))
    assert response.status_code == 302
    problem_id = int(re.fullmatch(r"/problems/(\d+)", response.headers["Location"])[1])
    with duban.db.reading() as db:
        problem = db.get(Problem, problem_id)
        assert (problem.code, problem.deadline_kind, problem.deadline) == ("DJ-2026-001", DeadlineKind.BY_DATE,
                                                                          date(2027, 6, 30))
        assert sorted(u.name for u in problem.cooperating_units) == ["南岭县人民政府", "南岭县住房和城乡建设局"]
        assert problem.responsible_official.name == "张科长" and problem.leading_official.name == "吴县长"
        assert [s.name for s in problem.sites] == ["城北河段", "城南河段"]
        assert problem.industry_unit is None
        [instance] = db.scalars(select(ProcessInstance).where(ProcessInstance.problem_id == problem_id)).all()
        assert instance.definition.key == "rectification"
        actions = db.scalars(select(LedgerEntry.action).where(LedgerEntry.problem_id == problem_id)).all()
        assert "problem.registered" in actions
    shown = client.get(f"/problems/{problem_id}").get_data(as_text=True)
    assert "DJ-2026-001" in shown and "2027年6月底前" in shown


def test_long_term_and_immediate_deadlines_need_no_date(client, duban, org):
    login(client, "admin")
    assert client.post("/problems/new", data=form(client, org, deadline="长期坚持")).status_code == 302
    assert client.post("/problems/new", data=form(client, org, code="DJ-2", deadline="立行立改")).status_code == 302
    with duban.db.reading() as db:
        kinds = dict(db.execute(select(Problem.code, Problem.deadline_kind)).all())
    assert kinds == {"DJ-2026-001": DeadlineKind.LONG_TERM, "DJ-2": DeadlineKind.IMMEDIATE}


def test_the_deadline_preview_reads_the_text_as_the_importer_does(client, org):
    login(client, "admin")
    for text, shown in (("2027年6月底前", "截止 2027-06-30"), ("2027-03-15", "截止 2027-03-15"),
                        ("2027年第一季度", "截止 2027-03-31"), ("长期坚持", "长期坚持"),
                        ("2027年6月底前完成，长期坚持", "长期坚持 · 截止 2027-06-30"), ("立行立改", "立行立改")):
        html = client.get("/problems/new/deadline", query_string={"deadline": text}).get_data(as_text=True)
        assert f"data-reading>{shown}<" in html, (text, html)
    html = client.get("/problems/new/deadline", query_string={"deadline": "明年"}).get_data(as_text=True)
    assert "data-reading-error" in html and "无法识别的整改时限：明年" in html


@pytest.mark.parametrize("overrides, field, message", [
    ({"deadline": "尽快"}, "deadline", "无法识别的整改时限：尽快"),
    ({"deadline": "2027年2月30日"}, "deadline", "无法识别的整改时限"),
    ({"deadline": ""}, "deadline", "请填写整改时限"),
    ({"code": ""}, "code", "请填写问题编号"),
    ({"title": "长" * 201}, "title", "问题标题最多 200 个字符"),
    ({"source": "rumour"}, "source", "请选择问题来源"),
    ({"category": ""}, "category", "请选择问题类别"),
    ({"region_id": ""}, "region_id", "请选择所属区域"),
    ({"region_id": "abc"}, "region_id", "所属区域的选项无效"),
    ({"region_id": "99999"}, "region_id", "所选的所属区域不存在"),
    ({"responsible_official_id": "99999"}, "responsible_official_id", "所选的责任人不存在"),
    ({"cooperating_unit_ids": ["99999"]}, "cooperating_unit_ids", "所选的配合单位不存在"),
    ({"cooperating_unit_ids": ["x"]}, "cooperating_unit_ids", "配合单位的选项无效"),
])
def test_bad_input_comes_back_at_its_field_with_nothing_written(client, duban, org, overrides, field, message):
    login(client, "admin")
    before = (count(duban, Problem), count(duban, LedgerEntry), count(duban, ProcessInstance))
    response = client.post("/problems/new", data=form(client, org, **overrides))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in field_errors(html).get(field, ""), field_errors(html)
    assert ">城北河段黑臭。</textarea>" in html  # what was typed is kept
    assert (count(duban, Problem), count(duban, LedgerEntry), count(duban, ProcessInstance)) == before


def test_a_code_already_registered_is_refused_at_the_code(client, duban, org):
    register_through_engine(duban, org, code="DJ-2026-001")
    login(client, "admin")
    before = count(duban, Problem)
    response = client.post("/problems/new", data=form(client, org))
    assert response.status_code == 400
    assert "问题编号 DJ-2026-001 已经登记过" in field_errors(response.get_data(as_text=True))["code"]
    assert count(duban, Problem) == before


@pytest.mark.parametrize("user", ["responsible", "jiwei", "secretary"])
def test_only_the_office_registers(app, client, duban, org, user):
    login(client, "admin")
    data = form(client, org)
    client = app.test_client()
    login(client, user)
    assert client.get("/problems/new").status_code == 403
    assert client.get("/problems/new/deadline?deadline=2027年").status_code == 403
    data["csrf_token"] = token_of(client.get("/tasks").get_data(as_text=True))
    assert client.post("/problems/new", data=data).status_code == 403
    assert count(duban, Problem) == 0
    assert 'data-nav="register"' not in client.get("/tasks").get_data(as_text=True)
    with duban.db.reading() as db:
        assert db.scalar(select(func.count()).select_from(LedgerEntry)
                         .where(LedgerEntry.action == "permission.denied")) == 3


def test_the_ledger_links_to_the_form_for_the_office(client, org):
    login(client, "admin")
    html = client.get("/ledger").get_data(as_text=True)
    assert 'href="/problems/new" data-action="register"' in html
    assert 'data-nav="register"' in html
