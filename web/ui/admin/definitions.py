"""流程定义: the deployed BPMN processes and their versions (who deployed each, when, how many
instances run on it), one version's diagram and XML, and deploying a new version from a
.bpmn file: a refused upload shows every finding (severity, element, line, message) in a
table, and one refused for warnings alone can be deployed by accepting them with a comment
(the upload rides along in the page, base64, so that it need not be chosen again). An upload
with errors that the editor can open (a diagram from Camunda Modeler with no executable
process, JUEL conditions …) is kept as its process's draft, unfinished (草稿 · 未完成), shown
with its findings and 在编辑器中打开, so that it is finished there and published — or deleted —
instead of being lost to the refusal; a process's existing draft is not replaced by an upload
(the upload is refused then, nothing stored)."""
from __future__ import annotations

import base64
import binascii

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine import clock
from engine.errors import Conflict
from engine.workflow import definitions as deployed
from engine.workflow import heatmap
from engine.workflow import versions
from engine.workflow.document import DocumentError

from ..layout import current_user, duban
from . import bp

MAX_BPMN_BYTES = 10 * 1024 * 1024
MAX_FORM_FILES = 20
MAX_COMMENT = 2000
# an upload carried in the accept form (base64) stays under the 500 kB a form field may hold
MAX_CARRIED_BYTES = 300 * 1024
MAX_VERSION = 2**31 - 1   # a database integer
BPMN_SUFFIXES = (".bpmn", ".xml", ".bpmn20.xml")
# findings that leave nothing the modeler could open
UNREADABLE = versions.UNREADABLE
WAITING_PER_PAGE = 20
PURPOSE_LABELS = {"problem": _l("问题整改"), "escalation": _l("督办升级"), "interview": _l("约谈"),
                  "accountability": _l("问责")}
KNOWN = {"rectification": _l("整改流程"), "escalation": _l("督办流程"), "interview": _l("约谈流程"),
         "accountability": _l("问责流程")}


@bp.get("/definitions")
def definitions():
    return _render_list()


@bp.get("/definitions/<key>/<int:version>")
def definition_version(key: str, version: int):
    app = duban()
    with app.db.reading() as db:
        row = deployed.version(db, key, version) if version <= MAX_VERSION else None
        if row is None:
            abort(404, _("没有流程 %(key)s 的第 %(version)s 版。", key=key, version=version))
        others = [v.version for v in deployed.versions(db) if v.key == key]
        usage = deployed.usage(db, [row.id]).get(row.id, deployed.Usage())
        spots = heatmap.heat(db, row, clock.now())
        heat = [{"element_id": spot.element_id, "name": spot.name, "waiting": spot.waiting,
                 "median": waited_text(spot.median_seconds), "median_seconds": spot.median_seconds}
                for spot in spots]
        current = versions.current(db, key)
        view = {"id": row.id, "key": row.key, "name": row.name, "version": row.version, "checksum": row.checksum,
                "deployed_at": row.deployed_at,
                "deployed_by": row.deployed_by.display_name if row.deployed_by else _("系统（随版本发布）"),
                "user_tasks": sorted(row.forms), "xml": row.bpmn_xml, "usage": usage,
                "waiting": {spot.element_id: spot.waiting for spot in spots}, "heat": heat,
                "latest": max(others), "versions": others, "purpose": row.purpose,
                "status": row.status.value, "current": current is not None and current.id == row.id,
                "comment": row.comment}
    return render_template("admin/definitions_version.html", d=view, label=KNOWN.get(key),
                           purposes=PURPOSE_LABELS)


@bp.get("/definitions/<key>/<int:version>/waiting")
def definition_waiting(key: str, version: int):
    """The problems waiting at one element of a version (the heatmap's click), a page of them:
    a fragment the version page puts under the diagram."""
    element_id = (request.args.get("element") or "")[:200]
    page = request.args.get("page", "1")
    if not page.isdigit() or not 1 <= int(page) <= 100000:
        abort(400, _("页码无效：%(page)s", page=page[:20]))
    with duban().db.reading() as db:
        row = deployed.version(db, key, version) if version <= MAX_VERSION else None
        if row is None:
            abort(404, _("没有流程 %(key)s 的第 %(version)s 版。", key=key, version=version))
        names = heatmap.elements(row)
        if element_id not in names:
            abort(404, _("第 %(version)s 版没有元素 %(element)s。", version=version, element=element_id[:100]))
        items, total = heatmap.waiting_at(db, row, element_id, int(page), WAITING_PER_PAGE)
    return render_template("admin/_definition_waiting.html", items=items, total=total, page=int(page),
                           per_page=WAITING_PER_PAGE, element_id=element_id, name=names[element_id],
                           key=key, version=version)


def waited_text(seconds: int) -> str:
    """How long, in days and hours (or hours and minutes under a day)."""
    days, rest = divmod(seconds, 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    if days:
        return _("%(d)s天%(h)s小时", d=days, h=hours)
    if hours:
        return _("%(h)s小时%(m)s分", h=hours, m=minutes)
    return _("%(m)s分钟", m=minutes)


@bp.get("/definitions/<key>/<int:version>.bpmn")
def definition_download(key: str, version: int):
    with duban().db.reading() as db:
        row = deployed.version(db, key, version) if version <= MAX_VERSION else None
        if row is None:
            abort(404, _("没有流程 %(key)s 的第 %(version)s 版。", key=key, version=version))
        xml = row.bpmn_xml
    return Response(xml, mimetype="application/xml", headers={
        "Content-Disposition": f'attachment; filename="{key}-v{version}.bpmn"'})


@bp.post("/definitions")
def definitions_deploy():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render_list({"file": [_("请选择要部署的 .bpmn 文件。")]}, status=400)
    filename = upload.filename
    if not filename.lower().endswith(BPMN_SUFFIXES):
        return _render_list({"file": [_("“%(name)s”不是 BPMN 文件：请上传 .bpmn 文件。", name=filename[:100])]},
                            filename=filename, status=400)
    content = upload.read(MAX_BPMN_BYTES + 1)
    if len(content) > MAX_BPMN_BYTES:
        return _render_list({"file": [_("文件过大：不超过 %(n)s MB。", n=MAX_BPMN_BYTES // 1024 // 1024)]},
                            filename=filename, status=400)
    forms = [f for f in request.files.getlist("forms") if f.filename][:MAX_FORM_FILES]
    attachments = {f.filename: f.read(MAX_BPMN_BYTES) for f in forms}
    if request.form.get("accept_warnings"):
        comment = (request.form.get("comment") or "").strip()[:MAX_COMMENT]
        return _deploy(content, filename, attachments, comment or None, comment_missing=not comment)
    return _deploy(content, filename, attachments, None)


@bp.post("/definitions/accept")
def definitions_accept():
    """Deploy an upload refused for its warnings alone, accepting them with a comment."""
    try:
        content = base64.b64decode(request.form.get("document", ""), validate=True)
        attachments = {name[:200]: base64.b64decode(data, validate=True) for name, data in
                       zip(request.form.getlist("attachment_name"), request.form.getlist("attachment"))}
    except (binascii.Error, ValueError):
        content, attachments = b"", {}
    filename = (request.form.get("filename") or "upload.bpmn")[:200]
    if not content or len(content) > MAX_BPMN_BYTES or len(attachments) > MAX_FORM_FILES:
        return _render_list({"file": [_("请选择要部署的 .bpmn 文件。")]}, status=400)
    comment = (request.form.get("comment") or "").strip()[:MAX_COMMENT]
    if not comment:
        return _deploy(content, filename, attachments, None, comment_missing=True)
    return _deploy(content, filename, attachments, comment)


def _deploy(content: bytes, filename: str, attachments: dict[str, bytes], accepted: str | None,
            comment_missing: bool = False):
    try:
        definition, created = duban().deploy(current_user().id, content, filename, attachments, accepted)
    except DocumentError as failure:
        kept, refused = _keep(content, filename, attachments, failure)
        if kept is not None:   # stored: the page answers 200 with the findings and the draft
            return _render_list(filename=filename, findings=_findings(failure.findings),
                                kept={"key": kept.key, "version": kept.version,
                                      "errors": sum(f["severity"] == "error" for f in kept.findings or [])})
        return _render_list(refused, filename=filename, status=400, findings=_findings(failure.findings),
                            upload=_upload(content, filename, attachments, failure), comment_missing=comment_missing)
    except Conflict as failure:
        return _render_list({"file": [failure.message]}, filename=filename, status=409)
    if created and definition.status.value == "published":
        flash(_("已部署 %(name)s（%(key)s）第 %(version)s 版：新启动的流程使用此版本，运行中的流程仍按原版本。",
                name=definition.name, key=definition.key, version=definition.version), "success")
    else:
        flash(_("内容与 %(key)s 第 %(version)s 版相同，没有产生新版本。", key=definition.key,
                version=definition.version), "info")
    return redirect(url_for("admin.definition_version", key=definition.key, version=definition.version))


def _findings(findings) -> list[dict]:
    chinese = str(get_locale() or "zh").startswith("zh")
    return [{"severity": f.severity, "code": f.code, "element": f.element, "name": f.name, "line": f.line,
             "message": (f.message_zh or f.message) if chinese else f.message, "fix": f.fix} for f in findings]


def _keep(content: bytes, filename: str, attachments: dict[str, bytes], failure: DocumentError):
    """(the unfinished draft the upload is kept as, None) when it has errors and the editor can
    open it (it names a process); (None, errors naming the file) when its process has a draft
    already, which it does not replace; (None, None) when it is refused outright."""
    if not failure.errors or any(f.code in UNREADABLE for f in failure.findings):
        return None, None
    try:
        draft, _outcome = duban().save_draft(current_user().id, content, filename, attachments, replace=False)
    except versions.DraftExists as exists:
        return None, {"file": [_("流程 %(key)s 已有草稿（第 %(version)s 版），这份有错误的文件没有替换它：请先在编辑器中完成或删除该草稿。",
                                 key=exists.key, version=exists.version)]}
    except (DocumentError, Conflict):
        return None, None
    return draft, None


def _upload(content: bytes, filename: str, attachments: dict[str, bytes], failure: DocumentError) -> dict | None:
    """What the accept form sends back: only for an upload refused for its warnings alone."""
    if failure.errors or not failure.warnings:
        return None
    if len(content) + sum(map(len, attachments.values())) > MAX_CARRIED_BYTES:
        return {"document": None}  # too large to carry in the page: choose the file again below
    return {"document": base64.b64encode(content).decode(), "filename": filename,
            "attachments": [{"name": name, "data": base64.b64encode(data).decode()}
                            for name, data in attachments.items()]}


def _render_list(errors: dict | None = None, filename: str | None = None, status: int = 200,
                 findings: list[dict] | None = None, upload: dict | None = None, comment_missing: bool = False,
                 kept: dict | None = None):
    with duban().db.reading() as db:
        processes: list[dict] = []
        for row in deployed.listing(db):
            if not processes or processes[-1]["key"] != row["key"]:
                processes.append({"key": row["key"], "name": row["name"], "label": KNOWN.get(row["key"]), "versions": [],
                                  "purpose": row["purpose"]})   # the newest version's
            processes[-1]["versions"].append({**row, "deployed_by": row["deployed_by_name"],
                                              "user_tasks": len(row["user_tasks"])})
    return render_template("admin/definitions.html", processes=processes, errors=errors or {}, filename=filename,
                           max_mb=MAX_BPMN_BYTES // 1024 // 1024, findings=findings or [], upload=upload,
                           comment_missing=comment_missing, max_comment=MAX_COMMENT, kept=kept,
                           purposes=PURPOSE_LABELS), status
