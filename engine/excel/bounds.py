"""The bounds of an uploaded workbook, checked before openpyxl parses anything.

An .xlsx is a zip of XML: a 1 MB upload can inflate to hundreds of MB. First the zip's
central directory is read (no member inflated): the number of members, each member's and
the total declared inflated size, and the compression ratio of every member over 1 MiB.
Python's zipfile never inflates more than a member declares (past it, the CRC check fails),
so the declared sizes bound the work. Then each worksheet's XML is streamed once through
expat, with no tree kept, counting rows and columns as they come (a sheet's <dimension> can
lie), refusing a DOCTYPE, and collecting the merged ranges (which follow the cells in the
XML and which openpyxl's read-only mode does not report); it stops at the first row or
column past the limit.
"""
from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from xml.parsers import expat

from ..errors import Invalid
from ..settings import ImportLimits

RATIO_FROM = 1024 * 1024     # smaller members may compress as well as they like
_CELL = re.compile(r"^([A-Z]{1,3})([0-9]{1,7})$")
_RANGE = re.compile(r"^([A-Z]{1,3})([0-9]{1,7}):([A-Z]{1,3})([0-9]{1,7})$")
_ENV = {"upload": "UPLOAD_MB", "inflated": "INFLATED_MB", "member": "MEMBER_MB", "ratio": "RATIO",
        "members": "MEMBERS", "rows": "ROWS", "columns": "COLUMNS"}


class WorkbookTooLarge(Invalid):
    """A workbook past one of the import limits; `limit` names which (upload, inflated,
    member, ratio, members, rows, columns), `maximum` its value (MiB for the sizes)."""

    def __init__(self, limit: str, maximum: int, what: str):
        self.limit, self.maximum = limit, maximum
        message = f"{what}; the limit is {maximum} (DUBAN_IMPORT_MAX_{_ENV[limit]})"
        super().__init__(f"the workbook is too large: {message}", {"file": [f"limit {limit}: {message}"]})


def _mib(size: int) -> int:
    return size // (1024 * 1024)


def check_archive(content: bytes, limits: ImportLimits) -> None:
    """Refuse a workbook whose zip declares more than the limits allow (nothing is inflated)."""
    if len(content) > limits.upload_bytes:
        raise WorkbookTooLarge("upload", _mib(limits.upload_bytes), f"the file has {len(content)} bytes")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        from .sheet import NotAWorkbook

        raise NotAWorkbook("the file is not an Excel workbook (.xlsx)",
                           {"file": [f"not an .xlsx file ({error})"]}) from None
    if len(members) > limits.members:
        raise WorkbookTooLarge("members", limits.members, f"the zip holds {len(members)} members")
    total = 0
    for member in members:
        if member.file_size > limits.member_bytes:
            raise WorkbookTooLarge("member", _mib(limits.member_bytes),
                                   f"{member.filename} inflates to {member.file_size} bytes")
        if member.file_size > RATIO_FROM and member.file_size > limits.ratio * max(member.compress_size, 1):
            ratio = member.file_size // max(member.compress_size, 1)
            raise WorkbookTooLarge("ratio", limits.ratio, f"{member.filename} inflates {ratio} times")
        total += member.file_size
        if total > limits.inflated_bytes:
            raise WorkbookTooLarge("inflated", _mib(limits.inflated_bytes),
                                   f"the members inflate to more than {total} bytes")


@dataclass(frozen=True)
class Merge:
    first_row: int
    last_row: int
    column: int          # 0-based, the range's first column


def column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


class _Stop(Exception):
    pass


SPREADSHEET = ("http://schemas.openxmlformats.org/spreadsheetml/2006/main",   # transitional
               "http://purl.oclc.org/ooxml/spreadsheetml/main")                 # strict


def scan_parts(content: bytes, limits: ImportLimits) -> dict[str, list[Merge]]:
    """Stream every XML part of a workbook whose declared sizes passed `check_archive`,
    before openpyxl opens it (whose read-only mode itself parses a sheet without a
    <dimension> to its end): refuse a DOCTYPE anywhere, and a sheet past the row or column
    limits. The merged ranges spanning rows, by part name."""
    merges = {}
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            for member in archive.infolist():
                if member.is_dir():
                    continue
                with archive.open(member) as source:
                    first = source.read(64 * 1024)
                    if not first.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") and \
                            not first.startswith((b"\xff\xfe", b"\xfe\xff")):
                        continue   # not XML: an image, a printer's settings
                    found = scan_sheet(source, limits, first)
                if found is not None:
                    merges[member.filename] = found
    except (zlib.error, zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as error:
        raise _not_a_workbook(f"a part cannot be read ({error})") from None
    return merges


def _not_a_workbook(detail: str):
    from .sheet import NotAWorkbook

    return NotAWorkbook("the file is not an Excel workbook (.xlsx)", {"file": [detail]})


def scan_sheet(source, limits: ImportLimits, first: bytes = b"") -> list[Merge] | None:
    """Stream one XML part (a binary file object, `first` its bytes already read): refuse
    it with a DOCTYPE, or as a worksheet past the row or column limits. Its merged ranges
    spanning rows if it is a worksheet, None if not."""
    merges: list[Merge] = []
    state = {"row": 0, "cells": 0, "refusal": None, "sheet": False}
    parser = expat.ParserCreate(namespace_separator=" ")

    def refuse(error: Exception):
        state["refusal"] = error
        raise _Stop

    def start(name: str, attributes: dict) -> None:
        namespace, _, local = name.rpartition(" ")
        if namespace not in SPREADSHEET:
            return
        if local == "sheetData":
            state["sheet"] = True
        elif local == "row":
            number = attributes.get("r")
            state["row"] = int(number) if number and number.isdigit() else state["row"] + 1
            state["cells"] = 0
            if state["row"] > limits.rows:
                refuse(WorkbookTooLarge("rows", limits.rows, f"the sheet has a row {state['row']}"))
        elif local == "c":
            state["cells"] += 1
            found = _CELL.match(attributes.get("r") or "")
            column = column_number(found[1]) if found else state["cells"]
            if found and int(found[2]) > limits.rows:
                refuse(WorkbookTooLarge("rows", limits.rows, f"the sheet has a cell {found[0]}"))
            if column > limits.columns or state["cells"] > limits.columns:
                refuse(WorkbookTooLarge("columns", limits.columns,
                                        f"row {state['row']} has a cell in column {max(column, state['cells'])}"))
        elif local == "mergeCell":
            found = _RANGE.match(attributes.get("ref") or "")
            if found and int(found[4]) > int(found[2]) and column_number(found[1]) <= limits.columns:
                merges.append(Merge(int(found[2]), min(int(found[4]), limits.rows), column_number(found[1]) - 1))

    def doctype(*_):
        refuse(Invalid("the workbook's XML declares a DOCTYPE", {"file": ["a part of the workbook declares a DOCTYPE"]}))

    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = doctype
    try:
        chunk = first
        while chunk:
            parser.Parse(chunk, False)
            chunk = source.read(64 * 1024)
        parser.Parse(b"", True)
    except _Stop:
        raise state["refusal"] from None
    except expat.ExpatError as error:
        raise _not_a_workbook(f"a part's XML is broken ({error})") from None
    return merges if state["sheet"] else None
