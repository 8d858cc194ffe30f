"""导入台账 and 导出台账 through the pages: the upload, the dry-run report row by row, the
confirmation (all or nothing, or the refused rows skipped), bad files, who may, and the export."""
from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from engine import accounts, clock
from engine.models import LedgerEntry, Problem, Role

from .test_excel import BAD, GOOD, PROVINCIAL, counts, ledger_sheet
from .support import PASSWORD
from .test_pages import login, token_of


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def office(client, org):
    login(client, "admin")
    return client


def upload(client, content: bytes, name: str = "南岭县整改台账.xlsx"):
    page = client.get("/ledger/import")
    return client.post("/ledger/import", data={"csrf_token": token_of(page.get_data(as_text=True)),
                                               "file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def dry_run(client, content: bytes):
    """Upload and follow to the report; (its address, its HTML)."""
    response = upload(client, content)
    assert response.status_code == 303, response.get_data(as_text=True)
    address = response.headers["Location"]
    report = client.get(address)
    assert report.status_code == 200
    return address, report.get_data(as_text=True)


def confirm(client, address: str, html: str, skip_refused: bool = False, accept_gaps: bool = False):
    data = {"csrf_token": token_of(html)}
    if skip_refused:
        data["skip_refused"] = "1"
    if accept_gaps:  # the sheet creates regions or units without heads (接受组织缺口)
        data["accept_gaps"] = "1"
    return client.post(address, data=data)


def row_html(html: str, number: int) -> str:
    found = re.search(rf'<tr data-row="{number}" data-status="(\w+)">(.*?)</tr>', html, re.S)
    assert found, f"no row {number} in the report"
    return found.group(1) + " " + re.sub(r"\s+", " ", found.group(2))


def codes(duban) -> list[str]:
    with duban.db.reading() as session:
        return list(session.scalars(select(Problem.code).order_by(Problem.code)))


# -- the dry run ------------------------------------------------------------------------------

def test_the_form_and_the_dry_run_report(office, duban):
    form = office.get("/ledger/import").get_data(as_text=True)
    assert "导入台账" in form and 'type="file"' in form and 'name="csrf_token"' in form
    assert 'data-nav="ledger"' in form and 'class="active"' in form   # under 整改台账 in the navigation

    before = counts(duban)
    address, html = dry_run(office, ledger_sheet())
    assert counts(duban) == before                                     # a dry run writes nothing
    assert "预检结果" in html and "南岭县整改台账.xlsx" in html and "尚未写入任何数据" in html
    assert "第 3 行" in html                                             # the header row, under title and subtitle
    assert re.search(r'data-count="rows">6<', html)
    assert re.search(r'data-count="ok">.*?<b>3</b>', html, re.S)
    assert re.search(r'data-count="refused">.*?<b>3</b>', html, re.S)
    for number in (4, 5, 7):
        assert row_html(html, number).startswith("ok")
    assert "NL-X-002" in row_html(html, 5)
    refused = row_html(html, 8)                                          # 尽快 is no deadline
    assert refused.startswith("refused") and "NL-X-004" in refused
    assert '<span class="column">整改时限（完成时间）</span>无法识别“尽快”' in refused
    assert '<span class="column">具体责任人</span>未填写' in row_html(html, 9)
    assert "“市级暗访”不是可识别的问题来源" in row_html(html, 10)
    assert "第 6 行" not in html.split("逐行结果")[1]                    # the blank row is not a row
    created = html.split("将新建")[1]
    for name in ("北山县", "青石镇人民政府", "南岭县自然资源局", "北山县水利局", "陈镇长", "刘工", "13912345678"):
        assert name in created
    assert "南岭县农业农村局" not in created                              # only named by a refused row
    assert "确认导入" in html and 'name="skip_refused"' in html
    assert "若不勾选下面的选项，确认导入将不会导入任何数据" in html


def test_duplicates_are_reported_as_such(office, duban):
    address, html = dry_run(office, ledger_sheet(GOOD))
    assert confirm(office, address, html, accept_gaps=True).status_code == 303
    _, again = dry_run(office, ledger_sheet(GOOD + [["NL-X-010", *GOOD[0][1:]]]))
    assert row_html(again, 4).startswith("duplicate") and "NL-X-001 已登记，本行不再导入" in row_html(again, 4)
    assert row_html(again, 8).startswith("ok")
    assert re.search(r'data-count="duplicate">.*?<b>3</b>', again, re.S)


# -- confirming -------------------------------------------------------------------------------

def test_refused_rows_without_skip_import_nothing(office, duban):
    address, html = dry_run(office, ledger_sheet())
    before = counts(duban)
    response = confirm(office, address, html)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "有 3 行被拒绝，未导入任何数据" in page and "预检结果" in page
    assert counts(duban) == before and codes(duban) == []
    # the sheet is still there: the office may now skip the refused rows
    done = confirm(office, address, page, skip_refused=True, accept_gaps=True)
    assert done.status_code == 303 and codes(duban) == ["NL-X-001", "NL-X-002", "NL-X-003"]


def test_confirm_imports_exactly_the_accepted_rows(office, duban):
    address, html = dry_run(office, ledger_sheet())
    before = counts(duban)
    response = confirm(office, address, html, skip_refused=True, accept_gaps=True)
    assert response.status_code == 303 and response.headers["Location"] == address
    after = counts(duban)
    assert codes(duban) == ["NL-X-001", "NL-X-002", "NL-X-003"]
    assert after["ProcessInstance"] - before["ProcessInstance"] == 3
    assert after["Unit"] - before["Unit"] == 3 and after["Official"] - before["Official"] == 2
    with duban.db.reading() as session:
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "ledger.imported")).one()
        assert entry.payload["filename"] == "南岭县整改台账.xlsx" and entry.payload["refused_rows"] == [8, 9, 10]

    result = office.get(address).get_data(as_text=True)
    assert "导入完成" in result and "已导入 3 个问题" in result and "跳过被拒绝的 3 行" in result
    assert re.search(r'data-imported>.*NL-X-001.*NL-X-002.*NL-X-003', result, re.S)
    assert 'href="/ledger"' in result and "查看整改台账" in result
    # confirming again (a reload, a second click) imports nothing more
    again = confirm(office, address, html, skip_refused=True, accept_gaps=True)
    assert again.status_code == 303 and codes(duban) == ["NL-X-001", "NL-X-002", "NL-X-003"]


def test_a_clean_sheet_imports_without_the_skip_option(office, duban):
    address, html = dry_run(office, ledger_sheet(GOOD))
    assert 'name="skip_refused"' not in html
    assert confirm(office, address, html, accept_gaps=True).status_code == 303
    assert codes(duban) == ["NL-X-001", "NL-X-002", "NL-X-003"]


def test_a_sheet_with_no_good_row_offers_no_confirmation(office, duban):
    _, html = dry_run(office, ledger_sheet(BAD))
    assert "没有可导入的行" in html and "确认导入</button>" not in html


# -- the kept sheet -----------------------------------------------------------------------------

def test_the_kept_sheet_belongs_to_its_uploader_and_expires(app, office, duban, org):
    address, html = dry_run(office, ledger_sheet(GOOD))
    same = app.test_client()
    login(same, "admin")                        # the same account in another browser finds it
    assert same.get(address).status_code == 200
    with duban.db.transaction() as session:     # another member of the office does not
        accounts.create_user(session, "admin2", "钱干事", None, {Role.ADMIN},
                             password_hash=accounts.hash_password(PASSWORD))
    colleague = app.test_client()
    login(colleague, "admin2")
    assert colleague.get(address).status_code == 404
    assert confirm(colleague, address, colleague.get("/ledger/import").get_data(as_text=True)).status_code == 404
    assert codes(duban) == []
    assert office.get("/ledger/import/not-a-token").status_code == 404
    assert office.get("/ledger/import/" + "A" * 32).status_code == 404
    clock.advance(timedelta(hours=3))
    login(office, "admin")  # three idle hours ended the page session too (DUBAN_SESSION_IDLE_MINUTES)
    gone = office.get(address)
    assert gone.status_code == 404 and "已超过保留时间" in gone.get_data(as_text=True)
    assert confirm(office, address, office.get("/ledger/import").get_data(as_text=True)).status_code == 404
    assert codes(duban) == []


# -- bad files ------------------------------------------------------------------------------------

def header_only_sheet() -> bytes:
    workbook = Workbook()
    workbook.active.append(["会议纪要"])
    workbook.active.append(["时间", "地点", "参会人员"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def broken_xml_sheet() -> bytes:
    """A real workbook whose worksheet XML was damaged (a failed copy, a half-written file)."""
    source = zipfile.ZipFile(io.BytesIO(ledger_sheet(GOOD)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as damaged:
        for name in source.namelist():
            damaged.writestr(name, b"<<not xml" if name == "xl/worksheets/sheet1.xml" else source.read(name))
    return buffer.getvalue()


@pytest.mark.parametrize("content, name, status, message", [
    (b"%PDF-1.4", "台账.pdf", 400, "“台账.pdf”不是 Excel 工作簿"),
    (b"", "台账.xlsx", 400, "文件是空的"),
    (b"PK\x03\x04 broken zip", "台账.xlsx", 400, "不是有效的 Excel 工作簿"),
    (b"plain text renamed", "台账.xlsx", 400, "不是有效的 Excel 工作簿"),
    (None, "会议纪要.xlsx", 400, "没有找到台账表格"),
    ("broken", "台账.xlsx", 400, "不是有效的 Excel 工作簿"),
    ("truncated", "台账.xlsx", 400, "不是有效的 Excel 工作簿"),
])
def test_bad_files_are_refused_on_the_page(office, duban, content, name, status, message):
    before = counts(duban)
    content = {None: header_only_sheet, "broken": broken_xml_sheet,
               "truncated": lambda: ledger_sheet(GOOD)[:3000]}.get(content, lambda: content)()
    response = upload(office, content, name)
    page = response.get_data(as_text=True)
    assert response.status_code == status
    assert message in page and 'data-errors="file"' in page and 'type="file"' in page
    assert counts(duban) == before


def test_no_file_and_no_csrf_token(office, duban):
    page = office.get("/ledger/import")
    missing = office.post("/ledger/import", data={"csrf_token": token_of(page.get_data(as_text=True))},
                          content_type="multipart/form-data")
    assert missing.status_code == 400 and "请选择要导入的台账文件" in missing.get_data(as_text=True)
    forged = office.post("/ledger/import", data={"file": (io.BytesIO(ledger_sheet(GOOD)), "台账.xlsx")},
                         content_type="multipart/form-data")
    assert forged.status_code == 400 and "表单已过期" in forged.get_data(as_text=True)
    assert codes(duban) == []


def test_a_sheet_too_large_is_refused(office, duban):
    import dataclasses

    from engine.settings import ImportLimits

    duban.settings = dataclasses.replace(duban.settings, imports=ImportLimits(upload_bytes=1024))
    response = upload(office, ledger_sheet(GOOD))
    assert response.status_code == 413 and "文件超过" in response.get_data(as_text=True)


# -- who may -----------------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["responsible", "jiwei", "magistrate"])
def test_only_the_office_imports(app, org, duban, username):
    client = app.test_client()
    login(client, username)
    assert client.get("/ledger/import").status_code == 403
    page = client.get("/tasks").get_data(as_text=True)
    response = client.post("/ledger/import", data={"csrf_token": token_of(page),
                                                   "file": (io.BytesIO(ledger_sheet(GOOD)), "台账.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 403 and "只有环督办可以导入台账" in response.get_data(as_text=True)
    assert codes(duban) == []
    with duban.db.reading() as session:
        assert session.scalars(select(LedgerEntry).where(LedgerEntry.action == "permission.denied")).first()


def test_signed_out_goes_to_the_login(client, org):
    response = client.get("/ledger/import")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# -- export --------------------------------------------------------------------------------------

def exported(response) -> list[str]:
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    ws = load_workbook(io.BytesIO(response.data)).active
    return [row[1] for row in ws.iter_rows(min_row=4, values_only=True) if row[1]]


def test_export_with_the_ledger_filters(office, duban):
    address, html = dry_run(office, ledger_sheet(GOOD))
    assert confirm(office, address, html, accept_gaps=True).status_code == 303
    response = office.get("/ledger/export.xlsx")
    assert "filename*=UTF-8''%E6%95%B4%E6%94%B9%E5%8F%B0%E8%B4%A6-20260302.xlsx" in response.headers[
        "Content-Disposition"]
    ws = load_workbook(io.BytesIO(response.data)).active
    assert ws["A1"].value == "生态环境保护督察反馈问题整改台账"
    assert exported(response) == ["NL-X-001", "NL-X-002", "NL-X-003"]
    assert exported(office.get("/ledger/export.xlsx?category=water")) == ["NL-X-001"]
    assert exported(office.get("/ledger/export.xlsx?source=central&light=green")) == ["NL-X-003"]
    assert exported(office.get("/ledger/export.xlsx?category=大气")) == ["NL-X-002"]   # the Chinese word too
    assert exported(office.get("/ledger/export.xlsx?region=&unit=&status=&overdue=")) == [
        "NL-X-001", "NL-X-002", "NL-X-003"]                                              # empty: no filter
    assert exported(office.get("/ledger/export.xlsx?overdue=true")) == []
    assert exported(office.get(f"/ledger/export.xlsx?batch={PROVINCIAL.split('/')[1]}")) == ["NL-X-001", "NL-X-002"]
    assert exported(office.get("/ledger/export.xlsx?q=X-002")) == ["NL-X-002"]          # the keyword too


@pytest.mark.parametrize("query, field", [
    ("light=purple", "灯色"), ("region=abc", "区域"), ("unit=x9", "责任单位"),
    ("overdue=maybe", "是否逾期"), ("status=lost", "状态"), ("category=金属", "类别"),
])
def test_export_with_a_bad_filter_is_a_400_page(office, query, field):
    """The export reads the ledger list's filters, with its refusals."""
    response = office.get(f"/ledger/export.xlsx?{query}")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and f"筛选条件「{field}」" in page and 'data-status="400"' in page


def test_an_official_exports_only_their_problems(app, office, duban):
    address, html = dry_run(office, ledger_sheet(GOOD))
    assert confirm(office, address, html, accept_gaps=True).status_code == 303
    client = app.test_client()
    login(client, "responsible")   # 张科长 holds NL-X-001
    assert exported(client.get("/ledger/export.xlsx")) == ["NL-X-001"]
    assert exported(client.get("/ledger/export.xlsx?category=air")) == []


def test_every_reason_the_importer_gives_has_its_wording_on_the_page():
    """The page words the importer's reasons by their codes: a new code without a wording
    would reach the office in English."""
    from pathlib import Path

    from web.ui.excel import _REASONS

    source = (Path(__file__).resolve().parents[1] / "engine" / "excel" / "importing.py").read_text("utf-8")
    codes = set(re.findall(r'why\([^,]+, "(\w+)"', source))
    assert {"missing", "registered", "repeated", "deadline", "source", "same_name", "too_long"} <= codes
    assert codes <= set(_REASONS), codes - set(_REASONS)


def test_a_stopped_import_shows_its_run_and_resumes_from_the_page(office, duban, org, api):
    """An import that stopped part-way (an error after its first batches committed) keeps its
    rows; the report shows the run with 继续导入, the API's dry run names it, and confirming
    imports the rest under the same run."""
    import dataclasses

    from .test_import_batches import sheet

    duban.settings = dataclasses.replace(duban.settings,
                                         imports=dataclasses.replace(duban.settings.imports, batch_seconds=0.01))
    content = sheet(12)

    def stops(run):
        raise RuntimeError("连接中断")

    with pytest.raises(RuntimeError):
        duban.import_ledger(org["user:admin"], content, confirm=True, filename="南岭县整改台账.xlsx", committed=stops)
    done = codes(duban)
    assert 0 < len(done) < 12

    dry = api.post("/api/ledger/import", as_="admin", content_type="multipart/form-data",
                   data={"file": (io.BytesIO(content), "南岭县整改台账.xlsx")})
    assert dry.status_code == 200 and dry.json["run"]["status"] == "failed"
    assert dry.json["run"]["rows_done"] == len(done) and dry.json["counts"]["duplicate"] == len(done)

    address, html = dry_run(office, content)
    run_id = dry.json["run"]["id"]
    assert f'data-run="{run_id}" data-run-status="failed"' in html
    assert f"第 {run_id} 号导入记录" in html and f"已导入 {len(done)} / 12 行" in html
    assert "继续导入</button>" in html and "RuntimeError: 连接中断" in html
    assert f"{done[0]} 已由第 {run_id} 号导入记录导入" in row_html(html, 2)

    response = confirm(office, address, html)
    assert response.status_code == 303
    assert codes(duban) == [f"PI-{n:03d}" for n in range(1, 13)]
    result = office.get(address).get_data(as_text=True)
    assert f"已导入 {12 - len(done)} 个问题" in result
    assert f"第 {run_id} 号导入记录：共导入 12 行（分 2 次确认）" in result and "导入其他台账" in result
