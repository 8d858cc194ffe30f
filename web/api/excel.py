"""Excel ledgers (整改台账): import an office's sheet (a dry run first), export the ledger."""
from __future__ import annotations

from flask import request

from engine import clock
from engine.errors import Invalid

from ..downloads import XLSX, attachment
from ..limits import read_at_most
from .common import BEARER, Blueprint, caller_id, duban
from .problems import _wanted
from .schemas import ProblemFilterQuery

blp = Blueprint("excel", __name__, url_prefix="/api", description="Excel ledgers (整改台账导入导出)")

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
    "states": {"type": "object", "description": "good rows per state they take (README, Excel ledgers): closed (已销号, "
               "no process), acceptance (验收中, at 行业部门认定), implementation (整改中, at 整改实施), new (at 签收)",
               "properties": {k: {"type": "integer"} for k in ("closed", "acceptance", "implementation", "planning", "new")}},
    "imported": dict(_STRINGS, description="codes this request registered"), "run": RUN,
    "rows": {"type": "array", "items": {"type": "object", "required": ["row", "status"], "properties": {
        "row": {"type": "integer"}, "status": {"type": "string", "enum": ["ok", "refused", "duplicate"]},
        "code": {"type": "string", "nullable": True}, "reasons": _STRINGS, "warnings": _STRINGS,
        "state": {"type": "string", "nullable": True, "enum": ["closed", "acceptance", "implementation", "planning", "new", None],
                  "description": "the state a good row takes, read from its status columns; null for other rows"},
        "state_label": {"type": "string", "nullable": True, "description": "the state in Chinese"},
        "closed_on": {"type": "string", "format": "date", "nullable": True,
                      "description": "a closed row's 销号时间 (null: closed at the import)"},
        "details": {"type": "array", "items": {"type": "object", "properties": {
            "severity": {"type": "string", "enum": ["refusal", "warning"]}, "code": {"type": "string"},
            "column": {"type": "string", "nullable": True}, "message": {"type": "string"}, "params": {"type": "object"}}}}}}},
    "new_regions": _NAMED, "new_units": _NAMED, "new_officials": _NAMED,
    "without_heads": {"type": "array", "description": "the regions and units the good rows leave without a Party head "
                      "(党委（党组）书记) or a government head (行政主要负责人): those the import creates (`new`) and "
                      "existing ones the rows name that lack a head. A rung targeting their heads is held as an "
                      "organisation gap until the heads are entered; a confirmed import that creates any needs "
                      "accept_gaps=true (or enter them with their heads first, then import)", "items": {
        "type": "object", "required": ["kind", "name", "new", "missing", "rows", "row_count", "held"], "properties": {
            "kind": {"type": "string", "enum": ["region", "unit"]}, "name": {"type": "string"},
            "new": {"type": "boolean", "description": "the import creates it (without heads)"},
            "missing": {"type": "array", "items": {"type": "string", "enum": ["party", "government"]},
                        "description": "the heads it lacks"},
            "rows": {"type": "array", "items": {"type": "integer"}, "description": "the sheet's rows naming it"},
            "row_count": {"type": "integer"},
            "held": {"type": "array", "description": "the overdue rows whose entry rung targets its heads: the "
                     "ladder holds them as organisation gaps", "items": {"type": "object", "properties": {
                         "row": {"type": "integer"}, "code": {"type": "string"}, "level": {"type": "integer"},
                         "rule": {"type": "string"}, "name": {"type": "string"},
                         "target": {"type": "string", "enum": ["region_heads", "lead_unit_heads",
                                                               "cooperating_unit_heads"]}}}}}}},
    "ladder": {"type": "object", "description": "what entering the escalation ladder fires for the rows (imported "
               "or, in a dry run, to be imported) at `ladder_from`: each overdue row enters once, at the highest rung "
               "due by then, the rungs below passed over", "required": ["overdue", "rungs", "rows"], "properties": {
        "ladder_from": {"type": "string", "format": "date-time", "nullable": True,
                        "description": "the grace date's start; null: now"},
        "grace_date": {"type": "string", "format": "date", "nullable": True},
        "at": {"type": "string", "format": "date-time", "description": "the moment counted at"},
        "overdue": {"type": "integer", "description": "rows whose deadline has passed by then"},
        "rungs": {"type": "array", "items": {"type": "object", "properties": {
            "level": {"type": "integer"}, "rule": {"type": "string"}, "name": {"type": "string"},
            "count": {"type": "integer", "description": "rows entering the ladder at this rung"}}}},
        "rows": {"type": "array", "items": {"type": "object", "properties": {
            "row": {"type": "integer"}, "code": {"type": "string"}, "level": {"type": "integer"},
            "rule": {"type": "string"}, "name": {"type": "string"}, "passed_over": _STRINGS,
            "to": {"type": "array", "description": "in a dry run: whom the entry rung reaches, as the firing will "
                   "resolve it; a target naming heads gives both sides (党政同责), `name` null where the post is "
                   "vacant (the rung is then held)", "items": {"type": "object", "properties": {
                       "target": {"type": "string"}, "of": {"type": "string", "nullable": True},
                       "side": {"type": "string", "enum": ["person", "party", "government"]},
                       "name": {"type": "string", "nullable": True}}}}}}}}}}}


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
        "look_back": {"type": "boolean", "default": False,
                      "description": "with confirm: the rows closed in the ledger get their 回头看 (look-back "
                                     "check) due now, a process waiting at 回头看核查; without it they have no process"},
        "accept_gaps": {"type": "boolean", "default": False,
                        "description": "with confirm: accept the regions and units the import creates without a Party "
                                       "or government head (`without_heads`, `new`) as organisation gaps; without it "
                                       "such an import is a 400 naming accept_gaps, nothing imported. Alternatively "
                                       "enter them with their heads first (管理 · 区域与单位)"},
        "skip_refused": {"type": "boolean", "default": False,
                         "description": "with confirm: import the good rows although others are refused"},
        "ladder_from": {"type": "string", "format": "date",
                        "description": "the grace date (宽限日期, after today, within a year) from which the escalation "
                                       "ladder counts for the imported rows: nothing fires before it, and on it each "
                                       "overdue row enters at the rung that fits how late it is then. Omitted: from "
                                       "now (each overdue row enters at its fitting rung at the next sweep). In a dry "
                                       "run, `ladder` reports what the choice fires"}}}}}},
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
    code `imported_by_run`. `ladder` says what the rows fire on entering the escalation ladder
    (at the grace date `ladder_from`, or now): how many are overdue and how many enter at each
    rung, once, the rungs below passed over; a bad `ladder_from` is a 400 naming it.
    `without_heads` lists the regions and units left without a Party or government head, with
    the rows naming them and the overdue rows the ladder would hold for them; a confirmed
    import that creates any is a 400 naming `accept_gaps` (listing them, nothing imported)
    unless accept_gaps=true."""
    user_id = caller_id()
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("send the sheet as the multipart field 'file'", {"file": ["Missing data for required field."]})
    confirm, skip_refused, look_back = _flag("confirm"), _flag("skip_refused"), _flag("look_back")
    accept_gaps = _flag("accept_gaps")
    name = upload.filename or ""
    if name and not name.lower().endswith((".xlsx", ".xlsm")):
        raise Invalid("the file is not an Excel workbook (.xlsx)", {"file": [f"{name} is not an .xlsx file"]})
    app = duban()
    content = read_at_most(upload.stream, app.settings.imports.upload_bytes)  # the engine refuses anything longer
    return app.import_ledger(user_id, content, confirm=confirm, skip_refused=skip_refused, filename=name,
                             ladder_from=request.form.get("ladder_from", request.args.get("ladder_from")),
                             look_back=look_back, accept_gaps=accept_gaps)


@blp.get("/ledger/export.xlsx")
@blp.arguments(ProblemFilterQuery, location="query")
@blp.doc(security=BEARER, responses={"200": {"description": "the ledger", "content": {XLSX: {}}}})
def export_ledger(query):
    """The ledger as .xlsx in the columns an import reads, with the filters of GET /api/problems;
    the problems the caller may see."""
    content = duban().export_ledger(caller_id(), _wanted(query))
    return attachment(content, f"整改台账-{clock.local_now():%Y%m%d}.xlsx", f"ledger-{clock.local_now():%Y%m%d}.xlsx")
