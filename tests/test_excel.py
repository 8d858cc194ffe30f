"""Excel ledgers: importing an office's sheet as it is (a dry run first, nothing half-imported)
and exporting the ledger in the same columns."""
from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from engine.errors import Forbidden, Invalid
from engine.excel import columns, deadlines, sheet
from engine.models import (DeadlineKind, LedgerEntry, Official, Post, Problem, ProcessInstance, Region, RegionLevel,
                           Unit, UnitKind)

HEADER = ["序号", "问题编号", "问题来源/批次", "反馈问题", "问题类型", "所属区县/乡镇", "责任领导", "牵头单位",
          "配合单位", "具体责任人", "整改目标", "整改措施", "整改时限（完成时间）", "整改进展"]
PROVINCIAL = "省级生态环境保护督察/2025年省级督察"
GOOD = [
    ["NL-X-001", PROVINCIAL, "县城污水处理厂出水氨氮超标。督察发现多次超标排放", "水", "南岭县", "吴县长",
     "南岭县生态环境分局", "南岭县住房和城乡建设局", "张科长", "稳定达标", "提标改造", "2026年12月底前", "推进中"],
    ["NL-X-002", PROVINCIAL, "青石镇建筑工地扬尘污染", "大气", "南岭县/青石镇", None, "青石镇人民政府",
     "南岭县自然资源局", "陈镇长（副镇长）13912345678", None, "覆盖裸土", "立行立改", None],
    ["NL-X-003", "中央生态环境保护督察/2024年中央督察", "北山县河道非法采砂", "生态", "北山县", "吴县长",
     "北山县水利局", None, "刘工", "修复河道", "常态巡查", "长期坚持", None],
]
BAD = [
    ["NL-X-004", PROVINCIAL, "镇区生活垃圾乱堆", "固废", "南岭县", "吴县长", "南岭县住房和城乡建设局", None,
     "张科长", None, None, "尽快", None],
    ["NL-X-005", PROVINCIAL, "畜禽养殖废水直排", "水", "南岭县", "吴县长", "南岭县农业农村局", None, None, None, None,
     "2026年6月底前", None],
    ["NL-X-006", "市级暗访", "餐饮油烟扰民", "大气", "南岭县", "吴县长", "南岭县生态环境分局", None, "赵科员",
     None, None, "2026年6月", None],
]


def ledger_sheet(rows=GOOD + BAD, header=HEADER) -> bytes:
    """A sheet as an office keeps it: a merged title, a dated subtitle, the header, a blank
    row among the data, a 责任领导 merged over two rows, notes under the table."""
    workbook = Workbook()
    ws = workbook.active
    ws.append(["南岭县生态环境保护督察反馈问题整改台账"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    ws.append(["（截至2026年2月28日）"])
    ws.append(header)
    for number, row in enumerate(rows, 1):
        ws.append([number, *row])
        if number == 2:
            ws.append([])
    ws.merge_cells("G4:G5")  # 吴县长 holds NL-X-001 and NL-X-002
    ws.append(["注：本表由县环督办汇总，每月5日前更新。"])
    ws.append([99, "NL-X-999", PROVINCIAL, "注释下的行不属于表格", "水", "南岭县", "吴县长", "南岭县生态环境分局",
               None, "张科长", None, None, "2026年6月底前", None])
    ws.append(["填报人：赵科员"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def counts(duban) -> dict[str, int]:
    with duban.db.reading() as session:
        return {model.__name__: session.scalar(select(func.count()).select_from(model))
                for model in (Problem, Region, Unit, Official, Post, ProcessInstance, LedgerEntry)}


def by_row(report) -> dict[int, dict]:
    return {row["row"]: row for row in report["rows"]}


# -- deadline texts and headers (no database) -----------------------------------------------------

@pytest.mark.parametrize("text, kind, due", [
    ("2020年12月底前", DeadlineKind.BY_DATE, date(2020, 12, 31)),
    ("2021年6月", DeadlineKind.BY_DATE, date(2021, 6, 30)),
    ("2021年2月底前", DeadlineKind.BY_DATE, date(2021, 2, 28)),
    ("2021年3月15日", DeadlineKind.BY_DATE, date(2021, 3, 15)),
    ("2021年底前", DeadlineKind.BY_DATE, date(2021, 12, 31)),
    ("２０２２年　１月底前", DeadlineKind.BY_DATE, date(2022, 1, 31)),
    ("2022.3.31", DeadlineKind.BY_DATE, date(2022, 3, 31)),
    ("2021年第三季度", DeadlineKind.BY_DATE, date(2021, 9, 30)),
    ("2020年6月底前完成方案，2021年12月底前完成整改", DeadlineKind.BY_DATE, date(2021, 12, 31)),
    ("立行立改", DeadlineKind.IMMEDIATE, None),
    ("长期坚持", DeadlineKind.LONG_TERM, None),
    ("2021年6月底前完成，长期坚持", DeadlineKind.LONG_TERM, date(2021, 6, 30)),
    (datetime(2021, 5, 20), DeadlineKind.BY_DATE, date(2021, 5, 20)),
])
def test_deadline_texts_are_understood(text, kind, due):
    assert deadlines.parse(text) == deadlines.Deadline(kind, due)
    written = deadlines.text(kind, due)
    assert deadlines.parse(written) == deadlines.Deadline(kind, due)  # what an export writes reads back


@pytest.mark.parametrize("text", ["尽快", "", "2021年2月30日", "下个月底"])
def test_deadline_texts_not_understood(text):
    with pytest.raises(deadlines.DeadlineError):
        deadlines.parse(text)


def test_header_names_vary():
    assert columns.field_of("反馈问题") == columns.field_of("问题描述") == "description"
    assert columns.field_of("具体责任人") == columns.field_of("责任人") == "responsible"
    assert columns.field_of("整改时限\n（完成时间）") == "deadline"
    assert columns.field_of("问题来源/批次") == "source_batch"
    assert columns.field_of("责任领导") == "leading_official" and columns.field_of("牵头单位") == "lead_unit"


def test_the_table_is_found_under_its_title_and_ends_at_the_notes():
    table = sheet.read(ledger_sheet())
    assert table.header_row == 3
    assert table.columns["description"] == "反馈问题" and table.columns["responsible"] == "具体责任人"
    assert [row.number for row in table.rows] == [4, 5, 7, 8, 9, 10]  # row 6 blank; NL-X-999 under the notes
    assert table.rows[1].values["leading_official"] == "吴县长"      # the merged cell, copied


def test_a_file_that_is_not_a_workbook_is_refused():
    with pytest.raises(Invalid) as refused:
        sheet.read(b"%PDF-1.4 not a sheet")
    assert "file" in refused.value.errors
    workbook = Workbook()
    workbook.active.append(["会议纪要", "2026年3月"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    with pytest.raises(Invalid, match="no ledger table"):
        sheet.read(buffer.getvalue())


# -- importing ------------------------------------------------------------------------------------

def test_a_dry_run_reports_each_row_and_what_would_be_created(duban, org):
    before = counts(duban)
    report = duban.import_ledger(org["user:admin"], ledger_sheet())
    assert counts(duban) == before
    rows = by_row(report)
    assert report["confirmed"] is False and report["counts"] == {"ok": 3, "refused": 3, "duplicate": 0}
    assert [rows[n]["status"] for n in (4, 5, 7)] == ["ok"] * 3
    assert rows[8]["code"] == "NL-X-004" and rows[8]["status"] == "refused"
    assert any(r.startswith("整改时限（完成时间）: cannot read '尽快'") for r in rows[8]["reasons"])
    assert rows[9]["reasons"] == ["具体责任人: missing"]
    assert any("问题来源/批次: '市级暗访' is not a source" in r for r in rows[10]["reasons"])
    assert report["new_regions"] == [{"name": "北山县", "level": "county", "parent": "清江市"}]
    assert {u["name"]: (u["kind"], u["region"]) for u in report["new_units"]} == {
        "青石镇人民政府": ("government", "青石镇"), "南岭县自然资源局": ("department", "南岭县"),
        "北山县水利局": ("department", "北山县")}  # 南岭县农业农村局 is only named by a refused row
    assert report["new_officials"] == [
        {"name": "陈镇长", "unit": "青石镇人民政府", "title": "副镇长", "mobile": "13912345678"},
        {"name": "刘工", "unit": "北山县水利局", "title": None, "mobile": None}]


def test_a_confirmed_import_with_refused_rows_writes_nothing(duban, org):
    before = counts(duban)
    with pytest.raises(Invalid) as refused:
        duban.import_ledger(org["user:admin"], ledger_sheet(), confirm=True)
    assert set(refused.value.errors) == {"row 8", "row 9", "row 10"}
    assert refused.value.errors["row 9"] == ["具体责任人: missing"]
    assert counts(duban) == before


def test_a_confirmed_import_registers_the_good_rows_and_creates_what_they_name(duban, org):
    before = counts(duban)
    report = duban.import_ledger(org["user:admin"], ledger_sheet(), confirm=True, skip_refused=True,
                                 filename="台账.xlsx", accept_gaps=True)  # 北山县 and three units come without heads
    assert report["imported"] == ["NL-X-001", "NL-X-002", "NL-X-003"]
    after = counts(duban)
    assert after["Problem"] - before["Problem"] == 3 and after["ProcessInstance"] - before["ProcessInstance"] == 3
    assert after["Region"] - before["Region"] == 1 and after["Unit"] - before["Unit"] == 3
    assert after["Official"] - before["Official"] == 2
    with duban.db.reading() as session:
        found = {p.code: p for p in session.scalars(select(Problem))}
        first, second, third = found["NL-X-001"], found["NL-X-002"], found["NL-X-003"]
        assert (first.deadline_kind, first.deadline) == (DeadlineKind.BY_DATE, date(2026, 12, 31))
        assert first.title == "县城污水处理厂出水氨氮超标" and first.source.label == "省级生态环境保护督察"
        assert first.batch == "2025年省级督察" and first.lead_unit_id == org["eco"]
        assert first.responsible_official_id == org["responsible"] and first.leading_official_id == org["magistrate"]
        assert [u.id for u in first.cooperating_units] == [org["housing"]]
        assert second.leading_official_id == org["magistrate"]  # from the merged 责任领导 cell
        assert (second.deadline_kind, second.deadline) == (DeadlineKind.IMMEDIATE, None)
        assert second.region.name == "青石镇" and second.lead_unit.kind == UnitKind.GOVERNMENT
        chen = second.responsible_official
        assert chen.mobile == "13912345678" and [(p.unit.name, p.title) for p in chen.posts] == [("青石镇人民政府", "副镇长")]
        assert third.deadline_kind == DeadlineKind.LONG_TERM and third.source.value == "central"
        assert third.region.level == RegionLevel.COUNTY and third.region.parent.name == "清江市"
        assert third.lead_unit.region.name == "北山县"
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "ledger.imported")).one()
        assert entry.payload["imported"] == report["imported"] and entry.payload["refused_rows"] == [8, 9, 10]
    again = duban.import_ledger(org["user:admin"], ledger_sheet(GOOD))
    assert [r["status"] for r in again["rows"]] == ["duplicate"] * 3
    assert again["new_units"] == [] and again["new_officials"] == []


def test_a_code_twice_in_the_sheet_is_refused(duban, org):
    report = duban.import_ledger(org["user:admin"], ledger_sheet(GOOD + [GOOD[0]]))
    assert by_row(report)[8]["reasons"] == ["问题编号: NL-X-001 is also in row 4"]


def test_only_the_office_imports(duban, org):
    with pytest.raises(Forbidden):
        duban.import_ledger(org["user:responsible"], ledger_sheet(GOOD), confirm=True)
    with duban.db.reading() as session:
        denied = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "permission.denied")).one()
        assert denied.payload == {"action": "import a ledger"}
    assert counts(duban)["Problem"] == 0


# -- the API ----------------------------------------------------------------------------------

def upload(api, content: bytes, as_="admin", name="台账.xlsx", **form):
    data = {"file": (io.BytesIO(content), name), **form}
    return api.post("/api/ledger/import", as_=as_, data=data, content_type="multipart/form-data")


def test_import_through_the_api(api, duban):
    dry = upload(api, ledger_sheet())
    assert dry.status_code == 200 and dry.json["counts"]["refused"] == 3
    refused = upload(api, ledger_sheet(), confirm="true")
    assert refused.status_code == 400 and refused.json["errors"]["row 9"] == ["具体责任人: missing"]
    assert counts(duban)["Problem"] == 0
    done = upload(api, ledger_sheet(), confirm="true", skip_refused="true", accept_gaps="true")
    assert done.status_code == 200 and done.json["imported"] == ["NL-X-001", "NL-X-002", "NL-X-003"]
    forbidden = upload(api, ledger_sheet(GOOD), as_="responsible", confirm="true")
    assert forbidden.status_code == 403 and forbidden.json["code"] == "forbidden"


def test_bad_uploads_are_refused_naming_the_field(api, duban):
    assert upload(api, b"hello", name="notes.txt").json["errors"] == {"file": ["notes.txt is not an .xlsx file"]}
    not_a_workbook = upload(api, b"PK\x03\x04 broken", name="台账.xlsx")
    assert not_a_workbook.status_code == 400 and "file" in not_a_workbook.json["errors"]
    missing = api.post("/api/ledger/import", as_="admin", data={}, content_type="multipart/form-data")
    assert missing.status_code == 400 and "file" in missing.json["errors"]
    flag = upload(api, ledger_sheet(GOOD), confirm="maybe")
    assert flag.status_code == 400 and "confirm" in flag.json["errors"]
    assert counts(duban)["Problem"] == 0


def test_export_then_import_round_trips(api, duban):
    api.register()  # NL-2026-001, through the ordinary form
    assert upload(api, ledger_sheet(GOOD), confirm="true", accept_gaps="true").status_code == 200
    response = api.get("/api/ledger/export.xlsx", as_="admin")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert "filename*=UTF-8''%E6%95%B4%E6%94%B9%E5%8F%B0%E8%B4%A6-20260302.xlsx" in response.headers[
        "Content-Disposition"]
    ws = load_workbook(io.BytesIO(response.data)).active
    assert ws["A1"].value == "生态环境保护督察反馈问题整改台账" and "北京时间 2026年03月02日 09:00" in ws["A2"].value
    header = [c.value for c in ws[3]]
    rows = {r[1]: dict(zip(header, r)) for r in ws.iter_rows(min_row=4, values_only=True) if r[1]}
    assert set(rows) == {"NL-2026-001", "NL-X-001", "NL-X-002", "NL-X-003"}
    assert rows["NL-X-001"]["整改时限"] == "2026年12月底前" and rows["NL-X-002"]["整改时限"] == "立行立改"
    assert rows["NL-X-003"]["整改时限"] == "长期坚持" and rows["NL-X-001"]["红黄绿灯"] == "绿灯"
    # NL-X-001's row said 推进中: imported in progress (整改中); NL-X-002 said nothing: at 签收 (已交办)
    assert rows["NL-X-001"]["整改进展"] == "整改中" and rows["NL-X-002"]["整改进展"] == "已交办"
    assert rows["NL-2026-001"]["点位"] == "县城污水处理厂、城北排口"
    before = counts(duban)
    again = upload(api, response.data, confirm="true")
    assert again.status_code == 200 and again.json["counts"] == {"ok": 0, "refused": 0, "duplicate": 4}
    assert again.json["imported"] == [] and counts(duban)["Problem"] == before["Problem"]
    only_water = api.get("/api/ledger/export.xlsx?category=water&source=provincial", as_="admin")
    codes = [r[1] for r in load_workbook(io.BytesIO(only_water.data)).active.iter_rows(min_row=4, values_only=True)
             if r[1]]
    assert codes == ["NL-2026-001", "NL-X-001"]


def test_an_official_exports_only_their_own_problems(api, duban):
    assert upload(api, ledger_sheet(GOOD), confirm="true", accept_gaps="true").status_code == 200
    response = api.get("/api/ledger/export.xlsx", as_="responsible")  # 张科长 holds NL-X-001 only
    codes = [r[1] for r in load_workbook(io.BytesIO(response.data)).active.iter_rows(min_row=4, values_only=True)
             if r[1]]
    assert codes == ["NL-X-001"]
    assert api.get("/api/ledger/export.xlsx?light=purple", as_="admin").status_code == 400


# -- the command line ---------------------------------------------------------------------------

def test_import_and_export_from_the_command_line(duban, org, database_url, tmp_path):
    from web.cli import main

    path = tmp_path / "台账.xlsx"
    path.write_bytes(ledger_sheet())
    env = {"DUBAN_DATABASE_URL": database_url, "DUBAN_INSTANCE_PATH": str(tmp_path / "cli")}
    dry = CliRunner().invoke(main, ["import-ledger", str(path)], env=env)
    assert dry.exit_code == 0, dry.output
    assert "row    9  refused   NL-X-005  具体责任人: missing" in dry.output
    assert "new units: 青石镇人民政府、南岭县自然资源局、北山县水利局" in dry.output
    assert "3 ok, 3 refused, 0 duplicate; dry run, nothing imported" in dry.output
    refused = CliRunner().invoke(main, ["import-ledger", str(path), "--confirm", "--as", "admin"], env=env)
    assert refused.exit_code == 2 and "row 8: 整改时限（完成时间）: cannot read '尽快'" in refused.output
    assert counts(duban)["Problem"] == 0
    not_admin = CliRunner().invoke(main, ["import-ledger", str(path), "--confirm", "--as", "responsible"], env=env)
    assert not_admin.exit_code == 2 and "you may not import a ledger" in not_admin.output
    done = CliRunner().invoke(main, ["import-ledger", str(path), "--confirm", "--skip-refused", "--accept-gaps",
                                     "--as", "admin"], env=env)
    assert done.exit_code == 0, done.output
    assert "registering" in done.output and "3 imported" in done.output
    assert counts(duban)["Problem"] == 3
    out = tmp_path / "export.xlsx"
    exported = CliRunner().invoke(main, ["export-ledger", str(out)], env=env)
    assert exported.exit_code == 0 and "exporting" in exported.output
    codes = [r[1] for r in load_workbook(out).active.iter_rows(min_row=4, values_only=True) if r[1]]
    assert codes == ["NL-X-001", "NL-X-002", "NL-X-003"]


def test_a_list_with_other_columns_section_headings_and_date_cells(duban, org):
    """A 问题清单 laid out differently: separate 问题来源 and 批次, a header broken over two
    lines, no 问题类型, a section heading merged across the table, a date cell."""
    workbook = Workbook()
    ws = workbook.active
    ws.append(["清江市问题清单"])
    ws.merge_cells("A1:I1")
    ws.append(["序号", "问题\n编号", "问题来源", "批次", "问题描述", "所属区县", "牵头单位", "责任人", "整改时限"])
    ws.append(["一、水环境问题"])
    ws.merge_cells("A3:I3")
    ws.append([1, "QJ-1", "央督", "2019年中央督察", "镇污水管网未接通", "南岭县青石镇", "南岭县住房和城乡建设局", "张科长",
               datetime(2026, 5, 3)])
    ws.append([2, "QJ-2", "回头看", None, "河道垃圾", "南岭县", "南岭县生态环境分局", "赵科员", "2026年13月底前"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    report = duban.import_ledger(org["user:admin"], buffer.getvalue())
    assert report["header_row"] == 2 and [r["row"] for r in report["rows"]] == [4, 5]
    assert by_row(report)[5]["reasons"] == ["整改时限: cannot read '2026年13月底前': '2026年13月' is not a date"]
    assert report["new_regions"] == report["new_units"] == report["new_officials"] == []
    duban.import_ledger(org["user:admin"], buffer.getvalue(), confirm=True, skip_refused=True)
    with duban.db.reading() as session:
        problem = session.scalars(select(Problem)).one()
        assert (problem.code, problem.source.value, problem.batch) == ("QJ-1", "central", "2019年中央督察")
        assert problem.category.label == "其他" and problem.region_id == org["town"]
        assert (problem.deadline_kind, problem.deadline) == (DeadlineKind.BY_DATE, date(2026, 5, 3))
