"""Text officials type is written to Excel as text, never as a live formula: the ledger export
and the bulletin's workbook (read back as a zip: no <f> element anywhere)."""
from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime

from openpyxl import Workbook, load_workbook

from engine import clock
from engine.bulletin import Bulletin, render
from engine.excel import text_cells

HOSTILE = {
    "title": '=HYPERLINK("http://x","y")',
    "description": "+1+cmd|' /C calc'!A0",
    "batch": "@SUM(1+1)*cmd|' /C calc'!A0",
    "measures": "-2+3+cmd|' /C calc'!A0",
    "target": "\t=1+1",
    "sites": ["\r=1+1"],
}


def formulas(content: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return [f"{name}: {match}" for name in archive.namelist() if name.startswith("xl/worksheets/")
                for match in re.findall(r"<f[ >].*?</f>|<f/>", archive.read(name).decode())]


def test_the_ledger_export_writes_typed_formulas_as_text(api):
    api.register(**{k: v for k, v in HOSTILE.items()})
    response = api.get("/api/ledger/export.xlsx", as_="admin")
    assert response.status_code == 200
    assert formulas(response.data) == []
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(min_row=4, max_row=4))[0]
    by_header = {header.value: cell for header, cell in zip(sheet[3], rows)}
    for header, typed in (("问题名称", HOSTILE["title"]), ("问题描述", HOSTILE["description"]),
                          ("整改措施", HOSTILE["measures"]), ("整改目标", HOSTILE["target"])):
        cell = by_header[header]
        assert cell.value == typed and cell.data_type == "s" and cell.quotePrefix, (header, cell.value)
    assert by_header["序号"].value == 1 and by_header["序号"].data_type == "n"


def test_an_export_imports_back_with_the_text_as_typed(api, duban):
    api.register(**HOSTILE)
    content = api.get("/api/ledger/export.xlsx", as_="admin").data
    report = duban.import_ledger(None, content)
    assert [row["status"] for row in report["rows"]] == ["duplicate"]


def test_the_bulletin_workbook_writes_names_as_text(duban):
    now = datetime(2026, 3, 2, 17, 30, tzinfo=clock.SHANGHAI)
    row = {"name": '=HYPERLINK("http://x","y")', "problems": 3, "closed": 1, "in_progress": 2, "red": 1, "yellow": 0,
           "close_rate": 33.3}
    bulletin = Bulletin(
        day=date(2026, 3, 2), previous_working_day=date(2026, 2, 27), as_of=now, city="@清江市",
        totals={"problems": 3, "closed": 1, "in_progress": 2, "red": 1, "yellow": 0, "green": 1, "sites": 0,
                "sites_closed": 0, "newly_closed": 0, "close_rate": 33.3},
        newly_closed=[], escalations=[], escalations_by_level=[], interviews={"started": [], "held": [], "running": 0},
        decisions=[], regions=[row], units=[{**row, "name": "-南岭县生态环境分局"}],
        overdue=[{"code": "+NL-1", "title": "=1+1", "lead_unit": "\t=2", "deadline": "2026-03-01"}])
    content = render.to_xlsx(bulletin)
    assert formulas(content) == []
    book = load_workbook(io.BytesIO(content))
    assert book["分地区"]["A2"].value == '=HYPERLINK("http://x","y")' and book["分地区"]["A2"].data_type == "s"
    assert book["分地区"]["B2"].value == 3 and book["分地区"]["B2"].data_type == "n"
    assert book["分单位"]["A2"].value == "-南岭县生态环境分局" and book["分单位"]["A2"].quotePrefix
    overdue = [r for r in book["新销号与逾期"].iter_rows(min_row=2, values_only=True)]
    assert overdue == [("逾期", "+NL-1", "=1+1", "\t=2", "2026-03-01")]


def test_negative_numbers_stay_numbers():
    book = Workbook()
    book.active.append([-5, -2.5, "-5", "=1+1", "整改", None, "a=b"])
    text_cells.as_text(book)
    out = io.BytesIO()
    book.save(out)
    assert formulas(out.getvalue()) == []
    cells = list(load_workbook(io.BytesIO(out.getvalue())).active.iter_rows())[0]
    assert [(c.value, c.data_type) for c in cells] == [(-5, "n"), (-2.5, "n"), ("-5", "s"), ("=1+1", "s"),
                                                      ("整改", "s"), (None, "n"), ("a=b", "s")]
    assert [bool(c.quotePrefix) for c in cells] == [False, False, True, True, False, False, False]
