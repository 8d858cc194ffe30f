"""An office's ledger with years of history: each row is registered in the state its status
columns say (engine/excel/status.py): closed rows closed at their 销号时间 with no process and
never on the ladder, rows in progress at the step they reached, new rows at 签收; rows whose
status contradicts itself are refused, naming row and column. On both databases."""
from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from engine import clock
from engine.errors import Invalid
from engine.excel import importing, sheet, status as row_status
from engine.models import LedgerEntry, HumanTask, Problem, ProblemStatus, ProcessInstance, TaskState

HEADER = ["序号", "问题编号", "问题来源/批次", "反馈问题", "问题类型", "所属区县/乡镇", "牵头单位", "具体责任人",
          "整改措施", "整改时限", "整改进展", "完成情况", "是否销号", "销号时间"]
# code, deadline, 整改进展, 完成情况, 是否销号, 销号时间
ROWS = [
    ("H-01", "2019年12月底前", "已完成整改", "已完成", "是", datetime(2020, 1, 15)),   # closed, long overdue
    ("H-02", "2020年6月30日", "", "已销号", "", None),                                  # closed, no date
    ("H-03", "2020年12月底前", "已完成", "", "", "2021-03-01"),                        # 已完成 + 销号时间
    ("H-04", "2025年12月底前", "正在整改，已清理80%", "推进中", "否", None),           # in progress, overdue
    ("H-05", "2026年12月底前", "整改中", "", "否", None),                              # in progress
    ("H-06", "2025年10月底前", "已申请销号", "已完成", "否", None),                    # awaiting acceptance, overdue
    ("H-07", "2026年12月底前", "", "", "", None),                                      # new
    ("H-08", "2026年12月底前", "", "未完成", "否", None),                              # new
    ("H-12", "2026年12月底前", "方案编制中", "", "否", None),                          # the plan being drafted
]
BAD = [
    ("H-09", "2020年12月底前", "", "未完成", "是", None),           # 是否销号=是 but 未完成
    ("H-10", "2026年12月底前", "整改中", "", "否", "2021-05-01"),   # a close date on an open row
    ("H-11", "2026年12月底前", "", "", "也许", None),               # neither 是 nor 否
]
EXPECTED = {"H-01": "closed", "H-02": "closed", "H-03": "closed", "H-04": "implementation",
            "H-05": "implementation", "H-06": "acceptance", "H-07": "new", "H-08": "new", "H-12": "planning"}


def ledger(rows) -> bytes:
    book = Workbook()
    ws = book.active
    ws.append(["南岭县环保督察整改台账"])
    ws.append(HEADER)
    for n, (code, deadline, progress, completion, closed, closed_at) in enumerate(rows, 1):
        ws.append([n, code, "省级生态环境保护督察/2019年省级督察", f"{code}号问题：河道沿岸垃圾堆放", "水", "南岭县",
                   "南岭县生态环境分局", "李四", "清理并常态巡查", deadline, progress, completion, closed, closed_at])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_dry_run_says_the_state_of_every_row(duban, org):
    report = duban.import_ledger(org["user:admin"], ledger(ROWS + BAD))
    rows = {r["code"]: r for r in report["rows"]}
    assert {code: rows[code]["state"] for code in EXPECTED} == EXPECTED
    assert rows["H-01"]["closed_on"] == "2020-01-15" and rows["H-03"]["closed_on"] == "2021-03-01"
    assert rows["H-02"]["closed_on"] is None and rows["H-04"]["state_label"] == "整改中"
    assert report["states"] == {"closed": 3, "acceptance": 1, "implementation": 2, "planning": 1, "new": 2}
    assert report["counts"] == {"ok": 9, "refused": 3, "duplicate": 0}
    # the ladder report counts only the open overdue rows, never the closed ones
    assert report["ladder"]["overdue"] == 2 and {r["code"] for r in report["ladder"]["rows"]} == {"H-04", "H-06"}
    assert rows["H-09"]["status"] == "refused" and rows["H-09"]["state"] is None
    assert any(r.startswith("完成情况: '未完成' contradicts 是否销号") for r in rows["H-09"]["reasons"])
    assert any(r.startswith("销号时间: a close date 2021-05-01") for r in rows["H-10"]["reasons"])
    assert rows["H-11"]["reasons"] == ["是否销号: '也许' is neither 是 nor 否"]
    assert {d["column"] for d in rows["H-09"]["details"]} == {"完成情况"}
    with duban.db.reading() as session:
        assert session.scalars(select(Problem)).first() is None


def test_a_contradictory_row_stops_the_confirmed_import_with_nothing_written(duban, org):
    with pytest.raises(Invalid) as refused:
        duban.import_ledger(org["user:admin"], ledger(ROWS + BAD), confirm=True)
    assert "row 12" in refused.value.errors and "row 13" in refused.value.errors
    with duban.db.reading() as session:
        assert session.scalars(select(Problem)).first() is None


def test_confirmed_import_keeps_each_row_in_its_state(duban, org):
    report = duban.import_ledger(org["user:admin"], ledger(ROWS), confirm=True)
    assert sorted(report["imported"]) == sorted(EXPECTED)
    with duban.db.reading() as session:
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "ledger.imported")).one()
        assert entry.payload["states"] == {"closed": 3, "acceptance": 1, "implementation": 2, "planning": 1, "new": 2}
        assert duban.verify_ledger().intact
    with duban.db.reading() as session:
        problems = {p.code: p for p in session.scalars(select(Problem))}
        ready = {}
        for code, problem in problems.items():
            instances = session.scalars(select(ProcessInstance).where(ProcessInstance.problem_id == problem.id)).all()
            tasks = session.scalars(select(HumanTask.element_id).where(
                HumanTask.problem_id == problem.id, HumanTask.state == TaskState.READY)).all()
            ready[code] = (len(instances), sorted(tasks))
        closed = {c: p.closed_at.astimezone(clock.SHANGHAI).date() for c, p in problems.items()
                  if p.status == ProblemStatus.CLOSED}
        statuses = {c: p.status for c, p in problems.items()}
    assert closed == {"H-01": date(2020, 1, 15), "H-02": clock.today(), "H-03": date(2021, 3, 1)}
    for code in ("H-01", "H-02", "H-03"):
        assert ready[code] == (0, [])  # no process, no task
    assert ready["H-04"] == (1, ["Task_rectify"]) and ready["H-05"] == (1, ["Task_rectify"])
    assert statuses["H-04"] == ProblemStatus.RECTIFYING
    assert ready["H-06"] == (1, ["Task_industry_certify"]) and statuses["H-06"] == ProblemStatus.ACCEPTING
    assert ready["H-07"] == (1, ["Task_sign"]) and ready["H-08"] == (1, ["Task_sign"])
    assert statuses["H-07"] == ProblemStatus.REGISTERED
    assert ready["H-12"] == (1, ["Task_submit_plan"]) and statuses["H-12"] == ProblemStatus.PLANNING

    # the ladder: the closed rows, years overdue, never fire; the open overdue rows do, once each
    fired = [(f.problem_code, f.level) for f in duban.sweep()]
    assert {code for code, _ in fired} == {"H-04", "H-06"}
    assert len(fired) == 2
    clock.freeze(datetime(2027, 1, 6, 9, 0, tzinfo=clock.SHANGHAI))  # the 2026 deadlines passed
    later = [f.problem_code for f in duban.sweep()]
    assert {"H-05", "H-07", "H-08"} <= set(later) and not set(later) & {"H-01", "H-02", "H-03"}


def test_the_api_reports_the_states_and_documents_them(api, duban):
    answer = api.post("/api/ledger/import", as_="admin", data={"file": (io.BytesIO(ledger(ROWS + BAD)), "台账.xlsx")},
                      content_type="multipart/form-data")
    assert answer.status_code == 200
    assert answer.json["states"] == {"closed": 3, "acceptance": 1, "implementation": 2, "planning": 1, "new": 2}
    assert {r["code"]: r["state"] for r in answer.json["rows"] if r["status"] == "ok"} == EXPECTED
    refused = api.post("/api/ledger/import", as_="admin", data={"file": (io.BytesIO(ledger(ROWS + BAD)), "台账.xlsx"),
                                                               "confirm": "true"}, content_type="multipart/form-data")
    assert refused.status_code == 400 and "row 12" in refused.get_data(as_text=True)
    document = api.client.get("/api/openapi.json").json
    schema = document["paths"]["/api/ledger/import"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(answer.json) <= set(schema["properties"])
    assert set(answer.json["states"]) == set(schema["properties"]["states"]["properties"])
    row = schema["properties"]["rows"]["items"]["properties"]
    assert all(set(r) <= set(row) for r in answer.json["rows"])


def test_duban_reads_its_own_export_back_in_the_same_states(duban, org, api, settings, tmp_path):
    duban.import_ledger(org["user:admin"], ledger(ROWS), confirm=True)
    exported = api.get("/api/ledger/export.xlsx", as_="admin")
    assert exported.status_code == 200
    # the exported sheet read as another office's ledger: each row's state from 整改进展 / 完成情况 / 是否销号
    table = sheet.read(exported.data, duban.settings.imports)
    states = {}
    for row in table.rows:
        header = lambda f: table.columns.get(f, f)  # noqa: E731
        judged = row_status.judge(row.values, header, importing.why, clock.today())
        states[row.values["code"]] = judged.state, judged.closed_on
    assert {code: state for code, (state, _) in states.items()} == EXPECTED
    # the close dates go out in 销号时间 and come back: H-02 had none, so it closed on the import's day
    assert {code: day for code, (_, day) in states.items() if day} == {
        "H-01": date(2020, 1, 15), "H-02": date(2026, 3, 2), "H-03": date(2021, 3, 1)}


def test_the_import_page_shows_each_rows_state_in_both_languages(app, org):
    from .test_pages import login
    from .test_pages_imports import dry_run, row_html

    client = app.test_client()
    login(client, "admin")
    _address, html = dry_run(client, ledger(ROWS + BAD))
    assert "按台账状态导入：已销号 3 个（不启动流程，不进入督办），验收中 1 个，整改中 2 个，待签收 2 个" in html
    assert 'data-state="closed">导入后：已销号 （销号于 2020-01-15）' in row_html(html, 3)
    assert 'data-state="acceptance">导入后：验收中' in row_html(html, 8)
    bad = row_html(html, 12)
    assert bad.startswith("refused") and "data-state" not in bad
    assert '<span class="column">完成情况</span>“未完成”与“是否销号”矛盾' in bad
    assert "“也许”应填写“是”或“否”" in row_html(html, 14)
    client.get("/lang/en")
    _address, english = dry_run(client, ledger(ROWS + BAD))
    assert "Imported in the state the ledger gives: 3 closed out (no process, never escalated)" in english
    assert "the row says both closed out and not closed out" in row_html(english, 12)


@pytest.mark.parametrize("cells, state, refused", [
    ({"closed": "√"}, "closed", []),
    ({"closed": "是", "completion": "已完成", "closed_at": "2021年3月"}, "closed", []),
    ({"completion": "已完成", "closed_at": "2021.3.1"}, "closed", []),
    ({"progress": "已销号"}, "closed", []),
    ({"progress": "已销号", "closed": "否"}, None, ["是否销号"]),
    ({"closed": "是", "progress": "整改中"}, None, ["整改进展"]),
    ({"completion": "已完成", "closed": "否", "closed_at": "2021-03-01"}, None, ["销号时间"]),
    ({"closed": "是", "closed_at": "去年"}, None, ["销号时间"]),
    ({"closed": "是", "closed_at": "2027-01-01"}, None, ["销号时间"]),
    ({"completion": "已完成"}, "implementation", []),
    ({"progress": "阶段性办结", "completion": "推进中"}, "implementation", []),
    ({"completion": "待验收"}, "acceptance", []),
    ({"progress": "公示中", "completion": "推进中"}, "acceptance", []),
    ({"progress": "已交办", "completion": "推进中"}, "new", []),
    ({"progress": "方案编制", "completion": "推进中"}, "planning", []),   # Duban's own export
    ({"completion": "方案待审"}, "planning", []),
    ({"closed": "是", "progress": "方案编制中"}, None, ["整改进展"]),
    ({"closed": "否"}, "new", []),
    ({"progress": "看情况"}, "new", []),
    ({"completion": "未销号", "closed": "否"}, "new", []),
    ({"completion": "未销号", "closed": "是"}, None, ["完成情况"]),
])
def test_the_status_cells_give_the_state(cells, state, refused):
    names = {"closed": "是否销号", "completion": "完成情况", "progress": "整改进展", "closed_at": "销号时间"}
    judged = row_status.judge(cells, names.get, importing.why, date(2026, 3, 2))
    assert [r.params["column"] for r in judged.reasons] == refused
    if not refused:
        assert judged.state == state


def test_the_command_line_says_each_rows_state(duban, org, database_url, tmp_path):
    from click.testing import CliRunner

    from web.cli import main

    path = tmp_path / "台账.xlsx"
    path.write_bytes(ledger(ROWS))
    env = {"DUBAN_DATABASE_URL": database_url, "DUBAN_INSTANCE_PATH": str(tmp_path / "cli")}
    dry = CliRunner().invoke(main, ["import-ledger", str(path)], env=env)
    assert dry.exit_code == 0, dry.output
    assert "row    3  ok        H-01  [closed 2020-01-15]" in dry.output
    assert "row    8  ok        H-06  [acceptance]" in dry.output
    assert "states: 3 closed, 1 acceptance, 2 implementation, 1 planning, 2 new" in dry.output


def test_an_imported_closed_problem_reads_as_closed_on_its_page(app, duban, org):
    from .test_pages import login

    duban.import_ledger(org["user:admin"], ledger(ROWS), confirm=True)
    with duban.db.reading() as session:
        closed_id = session.scalar(select(Problem.id).where(Problem.code == "H-01"))
        open_id = session.scalar(select(Problem.id).where(Problem.code == "H-04"))
    client = app.test_client()
    login(client, "admin")
    page = client.get(f"/problems/{closed_id}")
    assert page.status_code == 200 and "已销号" in page.get_data(as_text=True)
    assert client.get(f"/problems/{open_id}").status_code == 200
    assert client.get("/dashboard").status_code in (200, 302)


def test_an_imported_row_in_acceptance_carries_on_through_its_process(duban, org):
    duban.import_ledger(org["user:admin"], ledger(ROWS), confirm=True)
    with duban.db.reading() as session:
        problem_id = session.scalar(select(Problem.id).where(Problem.code == "H-06"))
        task_id = session.scalar(select(HumanTask.id).where(HumanTask.problem_id == problem_id,
                                                            HumanTask.state == TaskState.READY))
    # the industry department (the lead unit, none other named) refuses to certify: back to 整改实施
    duban.complete_task(org["user:eco_head"], task_id, {"decision": "reject", "opinion": "出水仍超标"})
    with duban.db.reading() as session:
        ready = session.scalars(select(HumanTask.element_id).where(HumanTask.problem_id == problem_id,
                                                                   HumanTask.state == TaskState.READY)).all()
        assert ready == ["Task_rectify"]
        assert session.get(Problem, problem_id).status == ProblemStatus.RECTIFYING


def test_closed_rows_get_their_look_back_when_the_office_wants_one(api, duban):
    answer = api.post("/api/ledger/import", as_="admin", data={"file": (io.BytesIO(ledger(ROWS)), "台账.xlsx"),
                                                              "confirm": "true", "look_back": "true"},
                      content_type="multipart/form-data")
    assert answer.status_code == 200, answer.json
    with duban.db.reading() as session:
        for code, closed_on in (("H-01", date(2020, 1, 15)), ("H-03", date(2021, 3, 1))):
            problem = session.scalar(select(Problem).where(Problem.code == code))
            assert problem.status == ProblemStatus.CLOSED
            assert problem.closed_at.astimezone(clock.SHANGHAI).date() == closed_on
            ready = session.scalars(select(HumanTask.element_id).where(HumanTask.problem_id == problem.id,
                                                                       HumanTask.state == TaskState.READY)).all()
            assert ready == ["Task_look_back"]
        h04 = session.scalar(select(Problem).where(Problem.code == "H-04"))
        assert h04.status == ProblemStatus.RECTIFYING
    assert {f.problem_code for f in duban.sweep()} == {"H-04", "H-06"}
    flag = api.post("/api/ledger/import", as_="admin", data={"file": (io.BytesIO(ledger(ROWS)), "台账.xlsx"),
                                                            "look_back": "perhaps"}, content_type="multipart/form-data")
    assert flag.status_code == 400 and "look_back" in flag.json["errors"]


def test_the_office_asks_for_the_look_back_on_the_page(app, duban, org):
    from .test_pages import login, token_of
    from .test_pages_imports import dry_run

    client = app.test_client()
    login(client, "admin")
    address, html = dry_run(client, ledger(ROWS))
    assert 'name="look_back" value="1" data-look-back>' in html and "已销号的 3 个问题安排回头看" in html
    done = client.post(address, data={"csrf_token": token_of(html), "look_back": "1"})
    assert done.status_code in (200, 303)
    with duban.db.reading() as session:
        looked = session.scalars(select(Problem.code).join(HumanTask, HumanTask.problem_id == Problem.id)
                                 .where(HumanTask.element_id == "Task_look_back")).all()
    assert sorted(looked) == ["H-01", "H-02", "H-03"]


def test_a_row_whose_step_the_process_lost_starts_at_the_first_task_and_says_so(duban, org):
    import re
    from pathlib import Path

    shipped = (Path(__file__).resolve().parent.parent / "bpmn" / "rectification.bpmn").read_text(encoding="utf-8")
    edited = re.sub(r"\bTask_rectify\b", "Task_carry_out", shipped)  # the office renamed the step's id
    assert edited != shipped
    duban.deploy(org["user:admin"], edited.encode("utf-8"), "rectification.bpmn", accepted="renamed a step",
                 comment="renamed a step")
    report = duban.import_ledger(org["user:admin"], ledger([ROWS[4]]), confirm=True)  # H-05, 整改中
    [row] = report["rows"]
    assert [d["code"] for d in row["details"] if d["severity"] == "warning"] == ["status_no_step"]
    assert "no step Task_rectify" in row["warnings"][0]
    with duban.db.reading() as session:
        problem = session.scalars(select(Problem).where(Problem.code == "H-05")).one()
        assert session.scalars(select(HumanTask.element_id).where(HumanTask.problem_id == problem.id)).all() == [
            "Task_sign"]
