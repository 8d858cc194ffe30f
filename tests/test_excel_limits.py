"""Workbooks are bounded: a zip bomb, a sheet with too many rows or columns, a zip that
understates its sizes, are refused with a 400 naming the limit, fast, in bounded memory,
with nothing imported."""
from __future__ import annotations

import dataclasses
import functools
import io
import resource
import struct
import time
import tracemalloc
import zipfile

import pytest
from openpyxl import Workbook

from engine.errors import Invalid
from engine.excel import sheet
from engine.excel.bounds import WorkbookTooLarge
from engine.settings import ImportLimits

from .test_excel import GOOD, HEADER, counts, ledger_sheet
from .test_pages import login, token_of

SHEET = "xl/worksheets/sheet1.xml"
MIB = 1024 * 1024


def replace_member(content: bytes, name: str, write) -> bytes:
    """The workbook with one member's content written anew by `write(handle)`, streamed."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename == name:
                member = zipfile.ZipInfo(name)
                member.compress_type = zipfile.ZIP_DEFLATED
                with target.open(member, "w", force_zip64=True) as handle:
                    write(handle)
            else:
                target.writestr(info, source.read(info), compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


@functools.lru_cache(maxsize=4)
def huge_sheet(inflated: int) -> bytes:
    """A valid workbook whose sheet XML inflates to about `inflated` bytes of the same row."""
    row = b'<row><c t="inlineStr"><is><t>xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx</t></is></c></row>'
    chunk = row * (MIB // len(row))

    def write(handle):
        handle.write(b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                     b'2006/main"><sheetData>')
        for _ in range(inflated // len(chunk)):
            handle.write(chunk)
        handle.write(b"</sheetData></worksheet>")
    return replace_member(ledger_sheet(GOOD), SHEET, write)


def sheet_xml(rows: list[str], dimension: str = "A1:C3") -> bytes:
    return ('<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<dimension ref="{dimension}"/><sheetData>{"".join(rows)}</sheetData></worksheet>').encode()


def with_sheet(xml: bytes) -> bytes:
    return replace_member(ledger_sheet(GOOD), SHEET, lambda handle: handle.write(xml))


def wide_sheet(columns: int) -> bytes:
    book = Workbook()
    book.active.append(HEADER + [f"备注{i}" for i in range(columns - len(HEADER))])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(api, content: bytes, **form):
    return api.post("/api/ledger/import", as_="admin", data={"file": (io.BytesIO(content), "台账.xlsx"), **form},
                    content_type="multipart/form-data")


def limited(duban, **limits):
    duban.settings = dataclasses.replace(duban.settings, imports=ImportLimits(**limits))


# -- before parsing: the zip's declared sizes ------------------------------------------------------

def test_a_zip_bomb_is_refused_fast_in_bounded_memory(api, duban):
    bomb = huge_sheet(300 * MIB)
    assert len(bomb) < 2 * MIB
    tracemalloc.start()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.perf_counter()
    for confirm in ("false", "true"):
        response = upload(api, bomb, confirm=confirm)
        assert response.status_code == 400, response.json
        [message] = response.json["errors"]["file"]
        assert message.startswith("limit member: xl/worksheets/sheet1.xml inflates to") and \
            "DUBAN_IMPORT_MAX_MEMBER_MB" in message
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    assert elapsed < 2, elapsed
    assert peak < 20 * MIB, peak                 # the sheet inflates to 300 MiB
    assert rss_growth < 50 * MIB, rss_growth
    assert counts(duban)["Problem"] == 0


@pytest.mark.parametrize("limits, limit", [
    ({"member_bytes": 8 * MIB, "inflated_bytes": 4 * MIB, "ratio": 10_000}, "inflated"),
    ({"ratio": 100}, "ratio"),
    ({"members": 5}, "members"),
    ({"upload_bytes": 1024}, "upload"),
])
def test_each_declared_size_is_a_limit(duban, limits, limit):
    content = huge_sheet(6 * MIB)            # compresses about 1000 times
    with pytest.raises(WorkbookTooLarge) as refusal:
        sheet.read(content, ImportLimits(**limits))
    assert refusal.value.limit == limit and refusal.value.errors["file"][0].startswith(f"limit {limit}:")


def test_a_zip_that_understates_its_sizes_is_cut_at_what_it_declares():
    content = huge_sheet(64 * MIB)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        info = archive.getinfo(SHEET)
        assert info.file_size > 60 * MIB
    forged = bytearray(content)
    # the local header: written with a zip64 extra field, whose first 8 bytes are the inflated size
    local = info.header_offset
    name_length = struct.unpack("<H", forged[local + 26:local + 28])[0]
    extra = local + 30 + name_length
    assert struct.unpack("<H", forged[extra:extra + 2])[0] == 1
    forged[extra + 4:extra + 12] = struct.pack("<Q", 4096)
    # the central directory's entry: a 32-bit inflated size
    central = content.index(b"PK\x01\x02")
    while content[central + 46:central + 46 + len(SHEET)] != SHEET.encode():
        central = content.index(b"PK\x01\x02", central + 4)
    forged[central + 24:central + 28] = struct.pack("<I", 4096)
    with zipfile.ZipFile(io.BytesIO(bytes(forged))) as archive:
        assert archive.getinfo(SHEET).file_size == 4096
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(Invalid) as refusal:
        sheet.read(bytes(forged))
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "file" in refusal.value.errors and elapsed < 2 and peak < 20 * MIB, (elapsed, peak)


# -- while reading: rows and columns, counted as they come ------------------------------------------

def test_too_many_rows_is_a_400_naming_the_limit(api, duban):
    limited(duban, rows=8)
    response = upload(api, ledger_sheet(GOOD * 3))
    assert response.status_code == 400
    assert response.json["errors"]["file"] == ["limit rows: the sheet has a row 9; the limit is 8 "
                                               "(DUBAN_IMPORT_MAX_ROWS)"]
    assert counts(duban)["Problem"] == 0


def test_a_dimension_that_lies_does_not_hide_rows():
    rows = [f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>x</t></is></c></row>' for n in range(1, 31)]
    with pytest.raises(WorkbookTooLarge) as refusal:
        sheet.read(with_sheet(sheet_xml(rows, "A1:A3")), ImportLimits(rows=20))
    assert refusal.value.limit == "rows"


def test_a_far_row_or_column_is_refused_before_anything_is_built():
    far_row = sheet_xml(['<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>x</t></is></c></row>'])
    far_column = sheet_xml(['<row r="1"><c r="XFD1" t="inlineStr"><is><t>x</t></is></c></row>'], "A1:XFD1048576")
    for content, limit in ((far_row, "rows"), (far_column, "columns")):
        started = time.perf_counter()
        with pytest.raises(WorkbookTooLarge) as refusal:
            sheet.read(with_sheet(content))
        assert refusal.value.limit == limit and time.perf_counter() - started < 1


def test_too_many_columns_is_a_400_naming_the_limit(api, duban):
    response = upload(api, wide_sheet(250))
    assert response.status_code == 400
    assert response.json["errors"]["file"] == ["limit columns: row 1 has a cell in column 201; the limit is 200 "
                                               "(DUBAN_IMPORT_MAX_COLUMNS)"]


def test_a_sheet_with_a_doctype_is_refused():
    xml = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>' + sheet_xml([])[len(b'<?xml version="1.0"?>'):]
    with pytest.raises(Invalid) as refusal:
        sheet.read(with_sheet(xml))
    assert "DOCTYPE" in refusal.value.errors["file"][0]


def test_the_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DUBAN_IMPORT_MAX_ROWS", "500")
    monkeypatch.setenv("DUBAN_IMPORT_MAX_INFLATED_MB", "7")
    limits = ImportLimits.from_env()
    assert limits.rows == 500 and limits.inflated_bytes == 7 * MIB and limits.columns == 200
    monkeypatch.setenv("DUBAN_IMPORT_MAX_COLUMNS", "many")
    with pytest.raises(ValueError, match="DUBAN_IMPORT_MAX_COLUMNS"):
        ImportLimits.from_env()


def test_the_page_names_the_limit_in_chinese(app, org, duban):
    limited(duban, rows=8)
    client = app.test_client()
    login(client, "admin")
    page = client.get("/ledger/import")
    response = client.post("/ledger/import", data={"csrf_token": token_of(page.get_data(as_text=True)),
                                                   "file": (io.BytesIO(ledger_sheet(GOOD * 3)), "台账.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "工作表超过 8 行，请拆分后再导入。" in response.get_data(as_text=True)
    bomb = client.post("/ledger/import", data={"csrf_token": token_of(page.get_data(as_text=True)),
                                               "file": (io.BytesIO(huge_sheet(120 * MIB)), "台账.xlsx")},
                       content_type="multipart/form-data")
    assert bomb.status_code == 400 and "解压后超过 50 MB" in bomb.get_data(as_text=True)


def test_rows_past_the_limit_are_refused_as_they_come_within_the_declared_sizes():
    """40 MiB of rows without a <dimension>, under the size limits: the count stops at row 20,001."""
    content = huge_sheet(40 * MIB)
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(WorkbookTooLarge) as refusal:
        sheet.read(content, ImportLimits(ratio=1_000_000))
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert refusal.value.limit == "rows" and "row 20001" in refusal.value.message
    assert elapsed < 1 and peak < 5 * MIB, (elapsed, peak)
