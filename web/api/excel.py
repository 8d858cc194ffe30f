"""Excel ledgers (整改台账): import an office's sheet (a dry run first), export the ledger."""
from __future__ import annotations

import io
from urllib.parse import quote

from flask import request, send_file

from engine import clock
from engine.errors import Invalid

from ..limits import read_at_most
from .common import BEARER, Blueprint, caller_id, duban
from .problems import _wanted
from .schemas import ProblemFilterQuery

blp = Blueprint("excel", __name__, url_prefix="/api", description="Excel ledgers (整改台账导入导出)")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}


_STRINGS = {"type": "array", "items": {"type": "string"}}
_NAMED = {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}
RUN = {"type": "object", "nullable": True, "description": "the import run (导入记录): a confirmed import's, or in a dry run "
       "the sheet's run that did not complete (confirming the sheet resumes it)",
       "required": ["id", "status", "total_rows", "rows_done", "imported", "attempts"], "properties": {
           "id": {"type": "integer"},
           "status": {"type": "string", "enum": ["running", "completed", "interrupted", "failed"]},
           "filename": {"type": "string"}, "sheet_sha256": {"type": "string"},
           "started_by": {"type": "string", "nullable": True}, "started_at": {"type": "string", "format": "date-time"},
           "progressed_at": {"type": "string", "format": "date-time"},
           "finished_at": {"type": "string", "nullable": True, "format": "date-time"},
           "total_rows": {"type": "integer", "description": "rows the run registers, all its attempts together"},
           "rows_done": {"type": "integer"}, "imported": dict(_STRINGS, description="codes the run registered"),
           "attempts": {"type": "integer", "description": "1, plus one per resumption"},
           "error": {"type": "string", "nullable": True}}}
REPORT = {"type": "object", "required": ["sheet", "confirmed", "counts", "imported", "run", "rows"], "properties": {
    "sheet": {"type": "string"}, "header_row": {"type": "integer"},
    "columns": {"type": "object", "additionalProperties": {"type": "string"}}, "ignored_columns": _STRINGS,
    "confirmed": {"type": "boolean"},
    "counts": {"type": "object", "properties": {k: {"type": "integer"} for k in ("ok", "refused", "duplicate")}},
    "imported": dict(_STRINGS, description="codes this request registered"), "run": RUN,
    "rows": {"type": "array", "items": {"type": "object", "required": ["row", "status"], "properties": {
        "row": {"type": "integer"}, "status": {"type": "string", "enum": ["ok", "refused", "duplicate"]},
        "code": {"type": "string", "nullable": True}, "reasons": _STRINGS, "warnings": _STRINGS,
        "details": {"type": "array", "items": {"type": "object", "properties": {
            "severity": {"type": "string", "enum": ["refusal", "warning"]}, "code": {"type": "string"},
            "column": {"type": "string", "nullable": True}, "message": {"type": "string"}, "params": {"type": "object"}}}}}}},
    "new_regions": _NAMED, "new_units": _NAMED, "new_officials": _NAMED}}


def _flag(name: str) -> bool:
    value = request.form.get(name, request.args.get(name, "false")).strip().lower()
    if value not in _TRUE | _FALSE:
        raise Invalid(f"{name} must be true or false", {name: ["Not a valid boolean."]})
    return value in _TRUE


@blp.post("/ledger/import")
@blp.doc(security=BEARER, requestBody={"content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "the 问题清单 or 台账 .xlsx"},
        "confirm": {"type": "boolean", "default": False,
                    "description": "false: a dry run that only reports; true: import"},
        "skip_refused": {"type": "boolean", "default": False,
                         "description": "with confirm: import the good rows although others are refused"}}}}}},
    responses={"200": {"description": "the row-by-row report, with the import run",
                       "content": {"application/json": {"schema": REPORT}}}})
def import_ledger():
    """Import a ledger .xlsx (环督办 only). Without confirm, a dry run: each row's status (ok,
    refused with its reasons, duplicate) and the regions, units and officials that would be
    created. Each row's `reasons` and `warnings` are English sentences; its `details` say the
    same as {severity, code, column, message, params} for a client that words them itself.
    With confirm=true, the rows are registered in batches that each commit within
    DUBAN_IMPORT_BATCH_SECONDS under an import run (`run`); any refused row makes it a 400
    naming the rows, with nothing imported, unless skip_refused=true. A row someone else
    registered during the import is a duplicate (reason code `registered_meanwhile`). A run
    that stopped (409 naming the run, or the process gone) keeps the rows it committed;
    confirming the same sheet again resumes it, its rows reported as duplicates with reason
    code `imported_by_run`."""
    user_id = caller_id()
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("send the sheet as the multipart field 'file'", {"file": ["Missing data for required field."]})
    confirm, skip_refused = _flag("confirm"), _flag("skip_refused")
    name = upload.filename or ""
    if name and not name.lower().endswith((".xlsx", ".xlsm")):
        raise Invalid("the file is not an Excel workbook (.xlsx)", {"file": [f"{name} is not an .xlsx file"]})
    app = duban()
    content = read_at_most(upload.stream, app.settings.imports.upload_bytes)  # the engine refuses anything longer
    return app.import_ledger(user_id, content, confirm=confirm, skip_refused=skip_refused, filename=name)


@blp.get("/ledger/export.xlsx")
@blp.arguments(ProblemFilterQuery, location="query")
@blp.doc(security=BEARER, responses={"200": {"description": "the ledger", "content": {XLSX: {}}}})
def export_ledger(query):
    """The ledger as .xlsx in the columns an import reads, with the filters of GET /api/problems;
    the problems the caller may see."""
    content = duban().export_ledger(caller_id(), _wanted(query))
    name = f"整改台账-{clock.local_now():%Y%m%d}.xlsx"
    response = send_file(io.BytesIO(content), mimetype=XLSX, as_attachment=True, download_name=name)
    response.headers["Content-Disposition"] = (f"attachment; filename=\"ledger-{clock.local_now():%Y%m%d}.xlsx\"; "
                                               f"filename*=UTF-8''{quote(name)}")
    return response
