"""Finding the table in a worksheet as offices keep it: a merged title row, a dated
subtitle, the header row, data rows with blank rows and section headings among them, and
notes under the table (注：…, 填报人：…) where reading stops."""
from __future__ import annotations

import io
import itertools
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Iterator

from ..errors import Invalid
from ..settings import ImportLimits
from . import bounds
from .columns import field_of

HEADER_SCAN = 15      # the header is within the sheet's first rows
MIN_HEADER_FIELDS = 3
_NOTE = re.compile(r"^(注|备注|说明|附注|填报人|填表人|制表人|审核人|联系人|填报单位|填报日期)\s*[0-9一二三：:、.]?")


class NotAWorkbook(Invalid):
    """The upload is not a readable .xlsx workbook."""


class NoLedgerTable(Invalid):
    """The workbook is readable but none of its sheets holds a ledger's header row."""


@dataclass
class Row:
    number: int                   # the sheet's row number, as the office sees it
    values: dict[str, object]     # field → cell value


@dataclass
class Table:
    sheet: str
    header_row: int
    columns: dict[str, str]       # field → the header as the sheet writes it
    rows: list[Row] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)


_UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, KeyError, OSError, ValueError, TypeError, IndexError,
               SyntaxError)  # SyntaxError: a part's XML is broken (ElementTree's and lxml's ParseError)


def read(content: bytes, limits: ImportLimits | None = None) -> Table:
    """The ledger table of an .xlsx: from the sheet whose header matches best. The zip's
    declared sizes are checked first and each sheet is streamed (openpyxl's read-only mode)
    within the row and column limits, so that memory stays bounded whatever the file holds."""
    from openpyxl import load_workbook

    limits = limits or ImportLimits()
    bounds.check_archive(content, limits)
    merged = bounds.scan_parts(content, limits)
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except _UNREADABLE as error:
        raise _not_a_workbook(error) from None
    try:
        best = None
        for worksheet in workbook.worksheets:
            path = getattr(worksheet, "_worksheet_path", None)   # the sheet's part (openpyxl 3.1, pinned)
            if path not in merged:
                continue  # a chart sheet, or a part that holds no spreadsheet rows
            merges = merged[path]
            worksheet.reset_dimensions()              # its <dimension> may lie: read what is there
            head = [cells for _, cells in itertools.islice(_rows(worksheet, merges), HEADER_SCAN)]
            found = _header(head)
            if found and (best is None or len(found[1]) > len(best[4])):
                best = (worksheet, merges, head, *found)
        if best is None:
            raise NoLedgerTable("no ledger table found: no row in the first 15 names three of the ledger's columns "
                                "(问题编号, 问题描述, 牵头单位, 责任人, 整改时限 …)",
                                {"file": ["no header row with the ledger's columns"]})
        return _table(*best)
    except _UNREADABLE as error:
        raise _not_a_workbook(error) from None
    finally:
        workbook.close()


def _not_a_workbook(error: Exception) -> NotAWorkbook:
    return NotAWorkbook("the file is not an Excel workbook (.xlsx)", {"file": [f"not an .xlsx file ({error})"]})


def _table(worksheet, merges, head, header_index, columns, unknown) -> Table:
    """The rows under the header, read one at a time; only the ledger's columns are kept."""
    table = Table(sheet=worksheet.title, header_row=header_index + 1, unknown_columns=unknown,
                  columns={f: re.sub(r"\s+", "", str(head[header_index][c])) for f, c in columns.items()})
    for number, cells in _rows(worksheet, merges):
        if number <= header_index + 1:
            continue
        filled = [(c, v) for c, v in enumerate(cells) if _text(v)]
        if not filled:
            continue  # a blank row
        if _NOTE.match(_text(filled[0][1])):
            break     # notes under the table
        values = {f: cells[c] if c < len(cells) else None for f, c in columns.items()}
        if len(filled) == 1 and not _text(values.get("code")):
            continue  # a section heading such as "一、水环境问题"
        if _repeats_header(cells, columns):
            continue  # a header repeated on a printed page
        table.rows.append(Row(number, values))
    return table


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _rows(worksheet, merges: list[bounds.Merge]) -> Iterator[tuple[int, list]]:
    """(row number, cell values), one row at a time, a vertically merged cell's value copied
    down the rows it covers (a 责任领导 merged over the rows of the problems they hold belongs
    to each of them). A horizontal merge keeps its value in its first cell: a title or a
    section heading such as "一、水环境问题" stays one cell wide."""
    starting: dict[int, list[bounds.Merge]] = {}
    for merge in merges:
        starting.setdefault(merge.first_row, []).append(merge)
    active: dict[int, tuple[object, int]] = {}   # column → (value, last row)
    for number, values in enumerate(worksheet.iter_rows(min_row=1, values_only=True), 1):
        cells = list(values)
        for column, (value, last) in list(active.items()):
            if last < number:
                del active[column]
                continue
            cells.extend([None] * (column + 1 - len(cells)))
            cells[column] = value
        for merge in starting.pop(number, ()):
            if merge.column < len(cells):
                active[merge.column] = (cells[merge.column], merge.last_row)
        yield number, cells


def _header(grid) -> tuple[int, dict[str, int], list[str]] | None:
    """The row among the first ones naming most of the ledger's columns."""
    best = None
    for index, cells in enumerate(grid[:HEADER_SCAN]):
        columns, unknown, seen_values = {}, [], set()
        for c, value in enumerate(cells):
            text = _text(value)
            if not text or text in seen_values:
                continue  # a merged title copied across the row counts once
            seen_values.add(text)
            found = field_of(text)
            if found and found not in columns:
                columns[found] = c
            elif not found:
                unknown.append(text)
        if len(columns) >= MIN_HEADER_FIELDS and (best is None or len(columns) > len(best[1])):
            best = (index, columns, unknown)
    return best


def _repeats_header(cells, columns) -> bool:
    named = sum(1 for c in columns.values() if c < len(cells) and field_of(cells[c], exact=True) is not None)
    return named >= MIN_HEADER_FIELDS
