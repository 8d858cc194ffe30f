"""异常流程: the incidents (instances stopped at a failed step) and their repair — retry, move the
token (跳转到…), migrate to another version (迁移到版本…), end the instance (终止流程), each with
a required reason; and the migration of a version's open instances (迁移, on the version page)
after a dry run."""
from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.errors import Conflict, DubanError, Invalid, NotFound
from engine.models import IncidentStatus

from ..layout import current_user, duban
from . import bp

PER_PAGE = 20
MAX_ID = 2**31 - 1
RESOLUTIONS = {"retried": _l("重试成功"), "moved": _l("已跳转"), "migrated": _l("已迁移"), "cancelled": _l("已终止流程")}
HOW = {"same": _l("相同"), "renamed": _l("已改名"), "changed": _l("有变化"), "aligned": _l("按位置对应"),
       "none": _l("无对应环节")}
STATES = {"ready": _l("待办"), "waiting": _l("等待中"), "error": _l("出错"), "future": _l("未开始")}


@bp.get("/incidents")
def incidents():
    status = request.args.get("status", "open")
    wanted = IncidentStatus(status) if status in ("open", "resolved") else None
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 100000))
    items, total = duban().incidents(current_user().id, wanted, page, PER_PAGE)
    return render_template("admin/incidents.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           status=status if wanted else "all", resolutions=RESOLUTIONS)


def _case(incident_id: int, target_version: int | None = None) -> dict:
    if incident_id > MAX_ID:
        abort(404)
    try:
        return duban().incident_case(current_user().id, incident_id, target_version)
    except NotFound:
        abort(404, _("没有编号为 %(id)s 的流程异常。", id=incident_id))


@bp.get("/incidents/<int:incident_id>")
def incident(incident_id: int):
    return _render(incident_id)


def _render(incident_id: int, errors: dict | None = None, status: int = 200, form: str | None = None):
    case = _case(incident_id, request.form.get("to_version", type=int) if form == "migrate" else None)
    data = json.dumps(case["data"], ensure_ascii=False, indent=2, sort_keys=True, default=str)
    return render_template("admin/incident.html", c=case, i=case["incident"], data_json=data, errors=errors or {},
                           failed_form=form, resolutions=RESOLUTIONS), status


@bp.post("/incidents/<int:incident_id>/<action>")
def incident_repair(incident_id: int, action: str):
    if action not in ("retry", "move", "migrate", "cancel"):
        abort(404)
    app, user_id = duban(), current_user().id
    reason = (request.form.get("reason") or "").strip()
    if not reason:
        return _render(incident_id, {"reason": [_("请填写理由。")]}, 400, action)
    try:
        if action == "retry":
            view = app.retry_incident(user_id, incident_id, reason)
            if view.status == "resolved":
                flash(_("重试成功：流程已继续。理由：%(r)s", r=reason), "success")
            else:
                flash(_("重试仍未成功：%(e)s", e=f"{view.error_type}: {view.message}"), "error")
        elif action == "move":
            app.move_token(user_id, None, reason, request.form.get("to_element", ""),
                           request.form.get("from_element") or None, incident_id=incident_id)
            flash(_("已跳转到 %(e)s。", e=request.form.get("to_element")), "success")
        elif action == "migrate":
            choices = {k[len("choice-"):]: v for k, v in request.form.items() if k.startswith("choice-") and v}
            done = app.migrate_instance(user_id, None, reason, request.form.get("to_version"), choices,
                                        incident_id=incident_id)
            flash(_("已迁移到第 %(v)s 版。", v=done.version), "success")
        else:
            app.cancel_instance(user_id, None, reason, incident_id=incident_id)
            flash(_("流程已终止；问题保留，理由记入留痕。"), "success")
    except Invalid as refused:
        return _render(incident_id, refused.errors or {"form": [refused.message]}, 400, action)
    except Conflict as refused:
        return _render(incident_id, {"form": [refused.message]}, 409, action)
    except DubanError as refused:
        return _render(incident_id, {"form": [refused.message]}, 400, action)
    return redirect(url_for("admin.incident", incident_id=incident_id), 303)


# -- a version's open instances -------------------------------------------------------------------

@bp.post("/definitions/<key>/<int:version>/migration")
def version_migration(key: str, version: int):
    app, user_id = duban(), current_user().id
    to_version = request.form.get("to_version", type=int)
    confirm = request.form.get("confirm") == "1"
    page = max(1, min(request.form.get("page", 1, type=int) or 1, 100000))
    reason = (request.form.get("reason") or "").strip()
    errors: dict = {}
    results, remaining = None, None
    if version > MAX_ID:
        abort(404)
    try:
        if confirm:
            if not reason:
                errors["reason"] = [_("请填写理由。")]
            else:
                choices = {k[len("choice-"):]: v for k, v in request.form.items() if k.startswith("choice-") and v}
                per_instance: dict = {}
                for name, value in request.form.items():
                    if name.startswith("ichoice-") and value:
                        _prefix, instance_id, element = name.split("-", 2)
                        per_instance.setdefault(instance_id, {})[element] = value
                results, remaining = app.migrate_version(user_id, key, version, to_version, reason, choices,
                                                         per_instance)
        # what is (still) on the old version, after the migration when there was one
        plan = app.migration_dry_run(user_id, key, version, to_version, page, PER_PAGE)
    except NotFound:
        abort(404)
    except Invalid as refused:
        errors = refused.errors or {"form": [refused.message]}
        plan = None
    status = 400 if errors else 200
    return render_template("admin/migration.html", key=key, version=version, to_version=to_version, plan=plan,
                           results=results, remaining=remaining, errors=errors, reason=reason, how=HOW,
                           states=STATES), status
