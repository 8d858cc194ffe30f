"""Lights hold at the moment they are read, whether or not a scheduler ran: problems are
registered, the engine's clock moves past their deadlines with no refresh, and the API list and
detail, the ?light= filter, the ledger page, the exported workbook and the dashboard all show red
and yellow; only the rows whose light changed are touched."""
from __future__ import annotations

import io
import re
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from engine import clock, lights
from engine.models import DeadlineKind, HumanTask, Light, Problem, ProblemCategory, ProblemSource
from engine.models.base import LONG_AGO
from engine.problems import NewProblem

from .test_pages import login


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=clock.SHANGHAI)


def register(duban, org, code, deadline):
    return duban.register_problem(org["user:admin"], NewProblem(
        code=code, title=f"{code} 问题", description="督察反馈问题。", source=ProblemSource.PROVINCIAL,
        batch="2026年省级督察", category=ProblemCategory.WATER, region_id=org["county"], lead_unit_id=org["eco"],
        responsible_official_id=org["responsible"], leading_official_id=org["magistrate"],
        deadline_kind=DeadlineKind.BY_DATE, deadline=deadline))


@pytest.fixture
def three(duban, org):
    """At 2 March 2026: A due 20 March and B due 4 March (yellow already), C due 29 May; then
    the clock moves to 25 May with no scheduler: A and B are 40-odd days overdue, C is near."""
    ids = {code: register(duban, org, code, deadline)
           for code, deadline in (("A", date(2026, 3, 20)), ("B", date(2026, 3, 4)), ("C", date(2026, 5, 29)))}
    with duban.db.reading() as session:
        stored = {p.code: p.light for p in session.scalars(select(Problem))}
    assert stored == {"A": Light.GREEN, "B": Light.YELLOW, "C": Light.GREEN}
    clock.freeze(at("2026-05-25T10:00:00"))
    return ids


def stored_lights(duban) -> dict[str, str]:
    with duban.db.reading() as session:
        return {p.code: p.light.value for p in session.scalars(select(Problem))}


def test_the_api_list_detail_filter_and_counts_say_red_and_yellow(api, duban, three):
    listed = api.get("/api/problems", as_="admin").json["items"]
    assert {p["code"]: p["light"] for p in listed} == {"A": "red", "B": "red", "C": "yellow"}
    detail = api.get(f"/api/problems/{three['A']}", as_="admin").json
    assert detail["light"] == "red" and detail["overdue"] is True
    assert sorted(p["code"] for p in api.get("/api/problems?light=red", as_="admin").json["items"]) == ["A", "B"]
    assert [p["code"] for p in api.get("/api/problems?light=yellow", as_="admin").json["items"]] == ["C"]
    assert api.get("/api/problems?light=green", as_="admin").json["total"] == 0
    assert api.get("/api/problems/lights?light=red", as_="admin").json["total"] == 2
    assert stored_lights(duban) == {"A": "red", "B": "red", "C": "yellow"}


def test_the_detail_alone_is_right_on_the_first_read(api, duban, three):
    detail = api.get(f"/api/problems/{three['B']}", as_="admin").json
    assert (detail["light"], detail["overdue"]) == ("red", True)


def test_the_ledger_page_shows_the_lights_of_now(app, duban, three):
    client = app.test_client()
    login(client, "admin")
    html = client.get("/ledger").get_data(as_text=True)
    shown = dict(re.findall(r'<tr data-problem-id="(\d+)" data-light="(\w+)"', html))
    assert shown == {str(three["A"]): "red", str(three["B"]): "red", str(three["C"]): "yellow"}
    red = client.get("/ledger?light=red").get_data(as_text=True)
    assert sorted(re.findall(r'<tr data-problem-id="(\d+)"', red)) == sorted([str(three["A"]), str(three["B"])])
    page = client.get(f"/problems/{three['A']}").get_data(as_text=True)
    assert 'data-light="red"' in page


def test_the_exported_workbook_says_red_and_yellow(api, duban, three):
    response = api.get("/api/ledger/export.xlsx", as_="admin")
    assert response.status_code == 200
    ws = load_workbook(io.BytesIO(response.data)).active
    header = [c.value for c in ws[3]]
    rows = {r[1]: dict(zip(header, r)) for r in ws.iter_rows(min_row=4, values_only=True) if r[1]}
    assert {code: row["红黄绿灯"] for code, row in rows.items()} == {"A": "红灯", "B": "红灯", "C": "黄灯"}


def test_the_engine_export_alone_is_current(duban, three):
    ws = load_workbook(io.BytesIO(duban.export_ledger(None))).active
    header = [c.value for c in ws[3]]
    rows = {r[1]: dict(zip(header, r)) for r in ws.iter_rows(min_row=4, values_only=True) if r[1]}
    assert {code: row["红黄绿灯"] for code, row in rows.items()} == {"A": "红灯", "B": "红灯", "C": "黄灯"}


def test_the_dashboard_counts_the_lights_of_now(app, duban, three):
    client = app.test_client()
    login(client, "jiwei")
    html = client.get("/dashboard").get_data(as_text=True)

    def figure(name):
        return int(re.search(rf'data-figure="{name}"[^>]*>.*?<b>(\d+)</b>', html, re.S).group(1))

    assert (figure("total"), figure("red"), figure("yellow"), figure("green"), figure("overdue")) == (3, 2, 1, 0, 2)


def test_only_the_rows_whose_light_changed_are_touched(api, duban, three):
    with duban.db.reading() as session:
        moments = {p.code: p.light_changes_at for p in session.scalars(select(Problem))}
    # each row knows when its light next changes: A turns yellow on 13 March, B red on 5 March
    assert moments["A"] == at("2026-03-13T00:00:00") and moments["B"] == at("2026-03-05T00:00:00")
    assert duban.current_lights() >= 3  # A red, B red, C yellow (and the open tasks)
    with duban.db.reading() as session:
        assert not lights.stale(session, clock.now())
        moments = {p.code: p.light_changes_at for p in session.scalars(select(Problem))}
        tasks = session.scalars(select(HumanTask).where(HumanTask.light_changes_at == LONG_AGO)).all()
    assert moments["A"] is None and moments["B"] is None  # red is final until closed
    assert moments["C"] == at("2026-05-30T00:00:00")
    assert tasks == []
    assert duban.current_lights() == 0  # nothing more has changed: no row is written
    clock.freeze(at("2026-05-29T23:59:59"))
    assert duban.current_lights() == 0
    clock.freeze(at("2026-05-30T00:00:00"))
    assert duban.current_lights() == 1 and stored_lights(duban)["C"] == "red"


def test_an_extension_that_moves_the_deadline_is_worked_out_again(api, duban, three):
    api.get("/api/problems", as_="admin")
    with duban.db.transaction() as session:
        problem = session.scalar(select(Problem).where(Problem.code == "A"))
        problem.deadline = date(2026, 12, 31)  # a write that does not set the light itself
        session.flush()
        assert problem.light_changes_at == LONG_AGO
    assert api.get(f"/api/problems/{three['A']}", as_="admin").json["light"] == "green"


def test_the_bulletin_counts_the_lights_of_now(duban, three):
    bulletin, made = duban.make_bulletin(None)
    assert made
    assert (bulletin.totals["red"], bulletin.totals["yellow"], bulletin.totals["green"]) == (2, 1, 0)
