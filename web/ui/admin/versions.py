"""流程定义 › a process's versions: each with its status (草稿, 已发布, 当前), who deployed it and
when, its note (版本说明) and the instances open on it; 发布 a draft and 回滚到此版本 (publish
an older version again), each with a required comment and, when the check warns, a second
form accepting the warnings with a reason; and 版本对比, the two diagrams side by side with
what was added, removed and changed marked, above the server's list of changes."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.errors import Conflict, Invalid, NotFound
from engine.workflow import definitions as deployed
from engine.workflow import versions as kept
from engine.workflow.document import DocumentError

from ..layout import current_user, duban
from . import bp
from .definitions import KNOWN

MAX_COMMENT = kept.MAX_COMMENT
FIELD_LABELS = {"name": _l("名称"), "type": _l("类型"), "lane": _l("泳道"), "condition": _l("条件"), "timer": _l("定时器"),
                "form": _l("表单"), "sourceRef": _l("起点"), "targetRef": _l("终点"), "default": _l("默认流"),
                "script": _l("脚本"), "documentation": _l("说明文档"), "event": _l("事件类型")}


def _rows(db, key: str) -> list[dict]:
    rows = deployed.listing(db, key)
    if not rows:
        abort(404, _("没有流程 %(key)s。", key=key))
    return rows


def editable(rows: list[dict]) -> dict | None:
    """The version 编辑 opens: the draft if there is one, else the current version."""
    return next((r for r in rows if r["status"] == "draft"), None) or next((r for r in rows if r["current"]), rows[0])


def _render(key: str, status: int = 200, refusal: dict | None = None):
    with duban().db.reading() as db:
        rows = _rows(db, key)
    current = next((r for r in rows if r["current"]), None)
    return render_template("admin/definitions_versions.html", key=key, name=rows[0]["name"], label=KNOWN.get(key),
                           rows=rows, current=current, edit=editable(rows), refusal=refusal,
                           max_comment=MAX_COMMENT, chinese=str(get_locale() or "zh").startswith("zh")), status


@bp.get("/definitions/<key>")
def definition_versions(key: str):
    return _render(key)


@bp.post("/definitions/<key>/<int:version>/delete")
def definition_delete_draft(key: str, version: int):
    """删除草稿: a draft, finished or not, is deleted (written to the ledger); a published
    version stays (409 with the page)."""
    try:
        duban().delete_draft(current_user().id, key, version)
    except NotFound:
        abort(404, _("没有流程 %(key)s 的第 %(version)s 版。", key=key, version=version))
    except Conflict:
        return _render(key, 409, {"version": version, "comment": "", "accept": False, "findings": [],
                                  "title": _("第 %(v)s 版未删除", v=version),
                                  "errors": {"version": [_("第 %(v)s 版已发布，只能删除草稿。", v=version)]}})
    flash(_("已删除 %(key)s 第 %(version)s 版草稿。", key=key, version=version), "success")
    with duban().db.reading() as db:
        left = bool(deployed.listing(db, key))
    return redirect(url_for("admin.definition_versions", key=key) if left else url_for("admin.definitions"))


@bp.post("/definitions/<key>/<int:version>/publish")
def definition_publish(key: str, version: int):
    comment = (request.form.get("comment") or "").strip()
    accept = bool(request.form.get("accept_warnings"))
    refusal = {"version": version, "comment": comment, "accept": accept, "errors": {}, "findings": []}
    if not comment:
        refusal["errors"] = {"comment": [_("请填写发布或回滚的理由。")]}
        return _render(key, 400, refusal)
    try:
        definition = duban().publish_definition(current_user().id, key, version, comment[:MAX_COMMENT], accept)
    except DocumentError as failure:
        refusal["findings"] = _findings(failure.findings)
        refusal["warnings_only"] = not failure.errors
        return _render(key, 400, refusal)
    except NotFound:
        abort(404, _("没有流程 %(key)s 的第 %(version)s 版。", key=key, version=version))
    except Conflict as failure:
        current = "version" in (failure.errors or {})
        refusal["errors"] = {"version": [_("第 %(v)s 版已经是当前版本。", v=version) if current else failure.message]}
        return _render(key, 409, refusal)
    except Invalid as failure:
        refusal["errors"] = failure.errors or {"version": [failure.message]}
        return _render(key, 400, refusal)
    flash(_("%(key)s 第 %(version)s 版已成为当前版本：新登记的问题按此版本办理，运行中的流程仍按原版本。",
            key=key, version=definition.version), "success")
    return redirect(url_for("admin.definition_versions", key=key))


def _findings(findings) -> list[dict]:
    chinese = str(get_locale() or "zh").startswith("zh")
    return [{"severity": f.severity, "code": f.code, "element": f.element, "name": f.name, "line": f.line,
             "message": (f.message_zh or f.message) if chinese else f.message} for f in findings]


def _number(name: str, default: int | None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        abort(400, _("版本号 %(name)s 无效：%(value)s", name=name, value=raw[:20]))
    return int(raw)


@bp.get("/definitions/<key>/diff")
def definition_diff(key: str):
    with duban().db.reading() as db:
        rows = _rows(db, key)
        current = next((r for r in rows if r["current"]), rows[-1])
        newest = rows[0]
        older = _number("from", current["version"] if newest["version"] != current["version"] else
                        (rows[1]["version"] if len(rows) > 1 else current["version"]))
        newer = _number("to", newest["version"])
        pair = {}
        for field, number in (("from", older), ("to", newer)):
            pair[field] = kept.find(db, key, number)
            if pair[field] is None:
                abort(404, _("没有流程 %(key)s 的第 %(version)s 版。", key=key, version=number))
        xml = {field: row.bpmn_xml for field, row in pair.items()}
    changes = duban().compare_definitions(key, older, newer)
    data = {"older": {"version": older, "xml": xml["from"]}, "newer": {"version": newer, "xml": xml["to"]},
            "changes": {kind: [e["id"] for e in changes[kind]] for kind in ("added", "removed", "changed")},
            "strings": {"failed": _("流程图无法显示：")}}
    return render_template("admin/definitions_diff.html", key=key, name=rows[0]["name"], rows=rows, older=older,
                           newer=newer, changes=changes, data=data, labels=FIELD_LABELS)
