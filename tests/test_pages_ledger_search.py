"""整改台账 as offices use it: the keyword finds problems by the responsible person, the lead and
cooperating units and the region; sorting by days overdue (page and API); the 当前环节 column
from one grouped query; the address carries every filter and the order, so a copied link
shows the same view."""
from __future__ import annotations

import re
from datetime import date
from html import unescape
from urllib.parse import quote

import pytest
from sqlalchemy import event, select

from engine.models import DeadlineKind, HumanTask, ProblemCategory, ProblemSource, TaskState
from engine.problems import NewProblem

from .test_pages import login
from .test_pages_ledger import codes, page_of


@pytest.fixture
def client(app):
    return app.test_client()


def add(duban, org, code, *, region, lead_unit, responsible, cooperating, deadline) -> int:
    return duban.register_problem(org["user:admin"], NewProblem(
        code=code, title="督察反馈问题", description="督察发现的问题。", source=ProblemSource.PROVINCIAL,
        batch="2025年省级督察", category=ProblemCategory.WATER, region_id=org[region], lead_unit_id=org[lead_unit],
        responsible_official_id=org[responsible], cooperating_unit_ids=[org[u] for u in cooperating],
        deadline_kind=DeadlineKind.BY_DATE, deadline=deadline))


@pytest.fixture
def kept(duban, org):
    """At 2026-03-02: KW-1 ten days overdue, KW-2 three days, KW-3 not yet due."""
    ids = {
        "KW-1": add(duban, org, "KW-1", region="county", lead_unit="eco", responsible="responsible",
                    cooperating=["housing"], deadline=date(2026, 2, 20)),
        "KW-2": add(duban, org, "KW-2", region="town", lead_unit="housing", responsible="eco_clerk",
                    cooperating=[], deadline=date(2026, 2, 27)),
        "KW-3": add(duban, org, "KW-3", region="county", lead_unit="county_gov", responsible="eco_head",
                    cooperating=["eco"], deadline=date(2026, 12, 31)),
    }
    duban.refresh_lights()
    duban.sweep()  # the overdue ones get their urging (催办) processes: more than one open instance
    return ids


@pytest.mark.parametrize("keyword, expected", [
    ("赵科员", ["KW-2"]),                    # the responsible person's name
    ("张", ["KW-1"]),                        # a part of it
    ("住房和城乡", ["KW-1", "KW-2"]),          # KW-2's lead unit, KW-1's cooperating unit
    ("人民政府", ["KW-3"]),                   # a lead unit
    ("生态环境分局", ["KW-1", "KW-3"]),        # KW-1's lead unit, KW-3's cooperating unit
    ("青石", ["KW-2"]),                      # the region
    ("KW-3", ["KW-3"]),                     # the code, as before
    ("孙站长", []),                          # a person in no problem's chain
    ("100%_", []),                          # LIKE's wildcards are plain text
])
def test_the_keyword_finds_people_units_and_regions(client, api, org, kept, keyword, expected):
    login(client, "admin")
    status, html = page_of(client, f"/ledger?q={quote(keyword)}")
    assert status == 200 and codes(html) == expected
    body = api.get(f"/api/problems?q={quote(keyword)}", as_="admin").json
    assert sorted(item["code"] for item in body["items"]) == expected and body["total"] == len(expected)


def test_the_keyword_stays_within_what_an_official_may_see(client, org, kept):
    login(client, "eco_clerk")  # 南岭县生态环境分局: KW-1 (lead), KW-3 (cooperating) and their own KW-2
    assert codes(page_of(client, "/ledger?q=" + quote("住房和城乡"))[1]) == ["KW-1", "KW-2"]
    login(client, "housing_head")  # 住房和城乡建设局: KW-1 and KW-2 only
    assert codes(page_of(client, "/ledger?q=" + quote("生态环境分局"))[1]) == ["KW-1"]


def test_the_keyword_is_one_statement_whatever_it_matches(client, duban, org, kept):
    login(client, "admin")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if "FROM problem" in statement and "count(" in statement.lower():
            statements.append(statement)

    event.listen(duban.db.engine, "before_cursor_execute", count)
    try:
        assert codes(page_of(client, "/ledger?q=" + quote("住房和城乡"))[1]) == ["KW-1", "KW-2"]
    finally:
        event.remove(duban.db.engine, "before_cursor_execute", count)
    # the total and the light counts: each one statement with the names looked up inside it
    assert statements and all("official" in s and "region" in s for s in statements)


def test_sorting_by_days_overdue(client, api, org, kept):
    login(client, "admin")
    status, html = page_of(client, "/ledger?sort=-overdue_days")
    assert status == 200 and codes(html) == ["KW-1", "KW-2", "KW-3"]
    assert 'data-sort-key="overdue_days" aria-sort="descending"' in html
    days = re.findall(r'data-overdue="(\d*)"', html)
    assert days == ["10", "3", ""]
    header = html.split('data-sort-key="overdue_days"')[1].split("</th>")[0]
    assert "sort=overdue_days" in header and "逾期天数" in header
    assert codes(page_of(client, "/ledger?sort=overdue_days")[1]) == ["KW-3", "KW-2", "KW-1"]

    for sort, expected in (("-overdue_days", ["KW-1", "KW-2", "KW-3"]), ("overdue_days", ["KW-3", "KW-2", "KW-1"]),
                           ("-code", ["KW-3", "KW-2", "KW-1"])):
        body = api.get(f"/api/problems?sort={sort}", as_="admin").json
        assert [item["code"] for item in body["items"]] == expected, sort
    refused = api.get("/api/problems?sort=days", as_="admin")
    assert refused.status_code == 400 and "sort" in str(refused.json["errors"])
    spec = api.get("/api/openapi.json").json
    parameter = next(p for p in spec["paths"]["/api/problems"]["get"]["parameters"] if p["name"] == "sort")
    assert {"overdue_days", "-overdue_days", "code", "-deadline"} <= set(parameter["schema"]["enum"])


def test_the_current_step_column_names_the_ready_tasks_of_open_instances(client, duban, org, kept):
    with duban.db.reading() as session:
        ready = {}
        for problem_id, name in session.execute(select(HumanTask.problem_id, HumanTask.name)
                                                .where(HumanTask.state == TaskState.READY)
                                                .order_by(HumanTask.id)):
            ready.setdefault(problem_id, [])
            if name not in ready[problem_id]:
                ready[problem_id].append(name)
    assert len(ready[kept["KW-1"]]) >= 2, "the overdue problem waits in its rectification and its urging"
    login(client, "admin")
    html = page_of(client, "/ledger")[1]
    assert ">当前环节<" in html
    for code, problem_id in kept.items():
        row = html.split(f'data-problem-id="{problem_id}"')[1].split("</tr>")[0]
        shown = unescape(re.search(r'data-steps="([^"]*)"', row).group(1))
        assert shown.split("|") == ready[problem_id], code
        for name in ready[problem_id]:
            assert f'<span class="step" data-data>{name}</span>' in row


def test_the_current_steps_are_one_query_for_the_page(client, duban, org, kept):
    login(client, "admin")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if "human_task.problem_id IN" in statement:   # about the page's problems (not the viewer's 待办)
            statements.append(statement)

    event.listen(duban.db.engine, "before_cursor_execute", count)
    try:
        page_of(client, "/ledger")
    finally:
        event.remove(duban.db.engine, "before_cursor_execute", count)
    assert len(statements) == 1 and "GROUP BY" in statements[0]


def test_the_address_carries_every_filter_and_the_order(client, org, kept):
    login(client, "admin")
    address = (f"/ledger?q={quote('住房和城乡')}&region={org['county']}&unit={org['housing']}"
               f"&lead_unit={org['housing']}&source=provincial&batch={quote('2025年省级督察')}&category=water"
               f"&light=red&status=registered&overdue=true&sort=-overdue_days&per_page=10")
    status, html = page_of(client, address)
    assert status == 200 and codes(html) == ["KW-2"]
    form = html.split('id="ledger-filters"')[1].split("</form>")[0]
    assert 'value="住房和城乡"' in form
    for name, value in (("region", org["county"]), ("unit", org["housing"]), ("lead_unit", org["housing"]),
                        ("source", "provincial"), ("batch", "2025年省级督察"), ("category", "water"),
                        ("light", "red"), ("status", "registered"), ("overdue", "true")):
        select_ = form.split(f'name="{name}"')[1].split("</select>")[0]
        assert re.search(rf'value="{value}" selected', select_), name
    assert 'name="sort" value="-overdue_days"' in form and 'name="per_page" value="10"' in form
    # a header link and the light chips keep all of it, so the next view is as reproducible
    header = unescape(html.split('data-sort-key="code"')[1].split("</th>")[0])
    for part in (f"lead_unit={org['housing']}", "overdue=true", "per_page=10", "light=red", "q="):
        assert part in header, part
    chip = unescape(html.split('data-light="all"')[0].rsplit("<a ", 1)[1])
    assert "sort=-overdue_days" in chip and f"lead_unit={org['housing']}" in chip
    # the link copied into another session shows the same rows
    other = client.application.test_client()
    login(other, "admin")
    assert codes(page_of(other, address)[1]) == ["KW-2"]
    assert page_of(client, address.replace("lead_unit=", "lead_unit=x"))[0] == 400
