"""导入台账 and 导出台账: an office's Excel ledger read in (a dry run first, then the office
confirms), and the ledger written out with the ledger list's filters.

The import is three steps: POST /ledger/import uploads the sheet and runs the dry run; the
sheet is kept on the server (pending_sheets) and GET /ledger/import/<token> shows its report,
row by row, as the database stands now; POST /ledger/import/<token> imports it for real,
with or without the refused rows, and the same address then shows the result.
"""
from __future__ import annotations

from datetime import datetime

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine import clock
from engine.errors import Conflict, Forbidden, Invalid
from engine.excel.columns import label
from engine.excel.batches import ImportStopped
from engine.excel.bounds import WorkbookTooLarge
from engine.excel.sheet import NoLedgerTable
from engine.models import RegionLevel, Role, UnitKind

from ..downloads import attachment
from ..limits import read_at_most
from .layout import current_user, duban, page_blueprint
from .ledger import read_filters
from .pending_sheets import PendingSheets

bp = page_blueprint("imports", __name__)

SUFFIXES = (".xlsx", ".xlsm")
ZIP_MAGIC = b"PK\x03\x04"
REGION_LEVELS = {RegionLevel.CITY: _l("市"), RegionLevel.COUNTY: _l("县（区）"), RegionLevel.TOWNSHIP: _l("乡镇（街道）")}
UNIT_KINDS = {UnitKind.PARTY_COMMITTEE: _l("党委"), UnitKind.GOVERNMENT: _l("政府"), UnitKind.DEPARTMENT: _l("部门"),
              UnitKind.OFFICE: _l("环督办"), UnitKind.DISCIPLINE: _l("纪委监委"), UnitKind.OTHER: _l("其他")}


def _pending() -> PendingSheets:
    return PendingSheets(duban().files)


def _office_only():
    """The signed-in user if they belong to the office; a 403 page (recorded in the ledger) if not."""
    user = current_user()
    if Role.ADMIN not in user.roles:
        try:
            duban().deny(user.id, "import a ledger", "problem", None)
        except Forbidden:
            abort(403, _("只有环督办可以导入台账。"))
    return user


# -- uploading and the dry run -------------------------------------------------------------------

@bp.route("/ledger/import", methods=["GET", "POST"])
def import_form():
    user = _office_only()
    if request.method == "GET":
        return render_template("imports/upload.html", errors=[])
    upload = request.files.get("file")
    problem = _check_upload(upload)
    if problem:
        return _refuse_upload(problem)
    limit = duban().settings.imports.upload_bytes   # DUBAN_IMPORT_MAX_UPLOAD_MB
    content = read_at_most(upload.stream, limit)
    if len(content) > limit:
        return _refuse_upload(_("文件超过 %(mb)s MB，请拆分后再导入。", mb=limit // (1024 * 1024)), 413)
    if not content:
        return _refuse_upload(_("文件是空的。"))
    if not content.startswith(ZIP_MAGIC):
        return _refuse_upload(_("“%(name)s”不是有效的 Excel 工作簿（.xlsx），可能已损坏或只是改了扩展名。",
                                name=upload.filename))
    try:
        duban().import_ledger(user.id, content, confirm=False, filename=upload.filename)
    except Invalid as failure:
        return _refuse_upload(_sheet_error(failure, upload.filename))
    sheet = _pending().keep(user.id, upload.filename, content)
    return redirect(url_for("imports.review", token=sheet.token), 303)


def _check_upload(upload) -> str | None:
    if upload is None or not upload.filename:
        return _("请选择要导入的台账文件（.xlsx）。")
    if not upload.filename.lower().endswith(SUFFIXES):
        return _("“%(name)s”不是 Excel 工作簿：请上传 .xlsx 文件（.xls 请先在 Excel 中另存为 .xlsx）。",
                 name=upload.filename)
    return None


def _refuse_upload(message: str, status: int = 400):
    return render_template("imports/upload.html", errors=[message]), status


def _sheet_error(failure: Invalid, filename: str) -> str:
    """The engine's reason a workbook cannot be read, as the office reads it."""
    if isinstance(failure, WorkbookTooLarge):
        return _LIMITS[failure.limit](failure.maximum)
    if isinstance(failure, NoLedgerTable):
        return _("“%(name)s”中没有找到台账表格：前 15 行里没有一行包含台账的列名（问题编号、问题描述、所属区县、"
                 "牵头单位、责任人、整改时限等至少三项）。", name=filename)
    return _("“%(name)s”不是有效的 Excel 工作簿（.xlsx），可能已损坏。", name=filename)


# what each import limit says (engine.excel.bounds), from its value
_LIMITS = {
    "upload": lambda n: _("文件超过 %(mb)s MB，请拆分后再导入。", mb=n),
    "inflated": lambda n: _("工作簿解压后超过 %(n)s MB，无法导入。请删除无关的工作表、图片或格式后再上传。", n=n),
    "member": lambda n: _("工作簿中的某个部分解压后超过 %(n)s MB，无法导入。请删除无关的工作表、图片或格式后再上传。", n=n),
    "ratio": lambda n: _("工作簿的压缩比超过 %(n)s 倍，不像正常的台账文件，未予导入。", n=n),
    "members": lambda n: _("工作簿包含的部件超过 %(n)s 个，无法导入。", n=n),
    "rows": lambda n: _("工作表超过 %(n)s 行，请拆分后再导入。", n=n),
    "columns": lambda n: _("工作表超过 %(n)s 列，请删除多余的列后再导入。", n=n),
}


# -- the report and the confirmation ---------------------------------------------------------------

@bp.get("/ledger/import/<token>")
def review(token: str):
    user = _office_only()
    sheet = _find(token, user.id)
    if sheet.imported:
        return render_template("imports/result.html", sheet=sheet, report=_readable(sheet.result),
                               levels=REGION_LEVELS, kinds=UNIT_KINDS)
    grace = request.args.get("ladder_from", "").strip()
    try:
        return _render_report(sheet, user.id, grace=grace)
    except Invalid as failure:
        if "ladder_from" not in failure.errors:
            raise
        return _render_report(sheet, user.id, status=400, grace=grace, grace_error=_grace_error(failure))


def _grace_error(failure: Invalid) -> str:
    return _("宽限日期须为明天至一年内的某一天（%(why)s）。", why="; ".join(failure.errors["ladder_from"]))


@bp.post("/ledger/import/<token>")
def confirm(token: str):
    user = _office_only()
    sheet = _find(token, user.id)
    if sheet.imported:
        return redirect(url_for("imports.review", token=token), 303)
    content = _content(sheet)
    skip_refused = request.form.get("skip_refused") in ("1", "on", "true", "yes")
    look_back = request.form.get("look_back") in ("1", "on", "true", "yes")
    accept_gaps = request.form.get("accept_gaps") in ("1", "on", "true", "yes")
    grace = request.form.get("ladder_from", "").strip() if request.form.get("ladder_entry") == "grace" else ""
    if request.form.get("ladder_entry") == "grace" and not grace:
        return _render_report(sheet, user.id, status=400, grace_error=_("选择宽限时请填写宽限日期。"))
    try:
        report = duban().import_ledger(user.id, content, confirm=True, skip_refused=skip_refused,
                                       filename=sheet.filename, ladder_from=grace or None, look_back=look_back,
                                       accept_gaps=accept_gaps)
    except Invalid as failure:
        if "ladder_from" in failure.errors:
            return _render_report(sheet, user.id, status=400, grace_error=_grace_error(failure))
        if "accept_gaps" in failure.errors:
            message = _("本次导入将新建没有主要负责人的地区或单位，未导入任何数据。请勾选“接受组织缺口”后再确认，"
                        "或先在“管理 · 区域与单位”中录入它们的主要负责人后再导入。")
            return _render_report(sheet, user.id, status=400, gaps_error=message, grace=grace)
        if any(key.startswith("row ") for key in failure.errors):
            refused = len([key for key in failure.errors if key.startswith("row ")])
            message = _("有 %(n)s 行被拒绝，未导入任何数据。请修改这些行后重新上传，或勾选“跳过被拒绝的行”只导入通过校验的行。",
                        n=refused)
        else:
            message = failure.message
        return _render_report(sheet, user.id, error=message, status=422)
    except ImportStopped as stopped:
        return _render_report(sheet, user.id, status=409, error=_(
            "导入中途停止：已提交的行已导入，其余行未导入。请点击“继续导入”导入其余的行。") + " " + stopped.message)
    except Conflict:
        return _render_report(sheet, user.id, status=409, error=_(
            "导入时其他人刚刚登记了其中的问题、单位或人员，本次未导入任何数据。请查看最新的预检结果后重新确认。"))
    _pending().imported(sheet, report)
    return redirect(url_for("imports.review", token=token), 303)


def _find(token: str, user_id: int):
    sheet = _pending().find(token, user_id)
    if sheet is None:
        abort(404, _("没有这份待导入的台账，或已超过保留时间（2 小时）。请重新上传。"))
    return sheet


def _content(sheet) -> bytes:
    content = _pending().content(sheet)
    if content is None:
        abort(404, _("待导入的台账文件已不在服务器上，请重新上传。"))
    return content


def _render_report(sheet, user_id: int, error: str | None = None, status: int = 200, grace: str = "",
                   grace_error: str | None = None, gaps_error: str | None = None):
    """The dry run as the database stands now (rows may have become duplicates meanwhile);
    with `grace`, what the ladder fires is counted at that grace date."""
    report = duban().import_ledger(user_id, _content(sheet), confirm=False, filename=sheet.filename,
                                   ladder_from=None if grace_error else grace or None)
    return render_template("imports/report.html", sheet=sheet, report=_readable(report), error=error,
                           levels=REGION_LEVELS, kinds=UNIT_KINDS, grace=grace, grace_error=grace_error,
                           gaps_error=gaps_error), status


def _readable(report: dict) -> dict:
    """The engine's report with each reason as its column and a sentence in the page's language."""
    rows = []
    for row in report["rows"]:
        said = {"refusal": [], "warning": []}
        for detail in row["details"]:
            said[detail["severity"]].append({"column": detail["column"], "text": _reason(detail)})
        rows.append({**row, "reasons": said["refusal"], "warnings": said["warning"]})
    run = report.get("run")
    if run:
        run = {**run, "status_label": RUN_STATUSES.get(run["status"], run["status"]),
               "started": datetime.fromisoformat(run["started_at"]),
               "progressed": datetime.fromisoformat(run["progressed_at"])}
    return {**report, "rows": rows, "run": run,
            "columns_found": [(label(field), header) for field, header in report["columns"].items()]}


# what each of the importer's reason codes says, from its parameters
_REASONS = {
    "no_column": lambda p: _("表中没有这一列"),
    "missing": lambda p: _("未填写"),
    "registered": lambda p: _("%(code)s 已登记，本行不再导入", code=p["code"]),
    "repeated": lambda p: _("%(code)s 与第 %(row)s 行重复", code=p["code"], row=p["row"]),
    "too_long": lambda p: (_("“%(value)s…”超过 %(n)s 个字符", value=p["value"], n=p["max"]) if p.get("value")
                           else _("超过 %(n)s 个字符", n=p["max"])),
    "deadline": lambda p: _("无法识别“%(value)s”：请写作“2026年12月底前”“2026年6月30日”“立行立改”或“长期坚持”",
                            value=p["value"]),
    "one_responsible": lambda p: _("只能填写一名责任人，表中填写了 %(names)s", names=p["names"]),
    "source": lambda p: _("“%(value)s”不是可识别的问题来源（%(known)s）", value=p["value"], known=p["known"]),
    "category": lambda p: _("“%(value)s”不是可识别的问题类型（%(known)s）", value=p["value"], known=p["known"]),
    "same_name": lambda p: _("有 %(n)s 名人员同名“%(name)s”：请注明单位，或手工登记该问题", n=p["count"], name=p["name"]),
    "lead_first": lambda p: _("%(lead)s 牵头，%(others)s 配合", lead=p["lead"], others=p["others"]),
    "leading_first": lambda p: _("由 %(first)s 包抓，%(others)s 未记录", first=p["first"], others=p["others"]),
    "several_regions": lambda p: _("填写了多个地区，问题归入 %(first)s", first=p["first"]),
    "imported_by_run": lambda p: _("%(code)s 已由第 %(run)s 号导入记录导入", code=p["code"], run=p["run"]),
    "status_date": lambda p: _("无法识别日期“%(value)s”", value=p["value"]),
    "status_future": lambda p: _("%(value)s 晚于今天", value=p["value"]),
    "status_closed": lambda p: _("“%(value)s”应填写“是”或“否”", value=p["value"]),
    "status_unknown": lambda p: _("“%(value)s”不是可识别的状态，未读取", value=p["value"]),
    "status_contradiction": lambda p: _("“%(value)s”与“%(other)s”矛盾：本行既像已销号又像未销号", value=p["value"],
                                        other=p["other"]),
    "status_no_step": lambda p: _("流程 %(process)s 第 %(version)s 版没有该状态对应的环节（%(step)s）：已从流程的第一个环节开始",
                                  process=p["process"], version=p["version"], step=p["step"]),
    "status_done_open": lambda p: _("已完成整改但未销号（无销号时间）：按整改中导入，停在“整改实施并申请销号”"),
    "registered_meanwhile": lambda p: _("%(code)s 在导入过程中已由他人登记，本行未导入", code=p["code"]),
}

RUN_STATUSES = {"running": _l("导入中"), "completed": _l("已完成"), "interrupted": _l("已中断"), "failed": _l("失败")}


def _reason(detail: dict) -> str:
    say = _REASONS.get(detail["code"])
    return say(detail["params"]) if say else detail["message"]


# -- export ----------------------------------------------------------------------------------------

@bp.get("/ledger/export.xlsx")
def export_ledger():
    """The ledger as .xlsx with the ledger list's filters; an official gets the problems they see."""
    wanted, _given = read_filters(request.args)
    content = duban().export_ledger(current_user().id, wanted)
    return attachment(content, f"整改台账-{clock.local_now():%Y%m%d}.xlsx", f"ledger-{clock.local_now():%Y%m%d}.xlsx")


