"""延期申请: the problem's own chain (or the office) files an extension request from the problem
page; the rectification office (环督办) decides from the list of requests, pending first,
each with the history of earlier requests of its problem. The same `Duban.request_extension`
and `Duban.decide_extension` as the API; a refused form comes back with the message at its
field and nothing written."""
from __future__ import annotations

import re
from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from engine import extensions
from engine.errors import Conflict, DubanError, Invalid
from engine.models import ExtensionRequest, ExtensionStatus, Problem, Role

from .labels import label
from .layout import current_user, duban, page_blueprint
from .ledger import _deny, _problem_view, _visible_problem

bp = page_blueprint("extension_requests", __name__)

REASON_MAX, NOTE_MAX = 4000, 1000


def _day(text: str) -> date | None:
    text = (text or "").strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _said(failure: DubanError, deadline: date | None) -> dict[str, list[str]]:
    """The engine's refusal at the form's fields, in the page's language."""
    day = deadline.isoformat() if deadline else "—"
    known = {
        "a closed problem has no deadline to extend": ("requested_deadline", _("问题已销号，没有可延期的整改时限。")),
        "this problem has no deadline to extend": ("requested_deadline", _("该问题没有具体的整改时限，无需延期。")),
        "an extension must be requested before the deadline":
            ("requested_deadline", _("整改时限 %(day)s 已过，延期须在时限届满前申请。", day=day)),
        "the requested deadline must be later than the current one":
            ("requested_deadline", _("申请的时限须晚于现在的整改时限 %(day)s。", day=day)),
        "say why the extension is needed": ("reason", _("请说明延期理由。")),
        "say why the request is refused": ("note", _("驳回须说明理由。")),
        "the approved deadline must be later than the current one":
            ("approved_deadline", _("批准的时限须晚于现在的整改时限 %(day)s。", day=day)),
        "this problem has no open deadline any more": ("", _("问题已销号或已没有整改时限，无法批准延期。")),
    }
    if failure.message in known:
        field, message = known[failure.message]
        return {field: [message]}
    if isinstance(failure, Conflict) and "problem" in failure.errors:
        return {"": [_("该问题已有一份延期申请等待审批，审批后才能再次申请。")]}
    if isinstance(failure, Conflict) and "status" in failure.errors:
        return {"": [_("这份申请已经审批过了。")]}
    return {"": [failure.message]}


# -- filing, from the problem page ------------------------------------------------------------

@bp.post("/problems/<int:problem_id>/extension-requests")
def file_request(problem_id: int):
    form = request.form
    values = {"requested_deadline": form.get("requested_deadline", ""), "reason": form.get("reason", "")}
    errors: dict[str, list[str]] = {}
    day = _day(values["requested_deadline"])
    if day is None:
        errors["requested_deadline"] = [_("请选择申请延至的日期（年-月-日）。")]
    reason = values["reason"].strip()
    if not reason:
        errors["reason"] = [_("请说明延期理由。")]
    elif len(reason) > REASON_MAX:
        errors["reason"] = [_("延期理由最多 %(max)s 个字符。", max=REASON_MAX)]
    if not errors:
        try:
            duban().request_extension(current_user().id, problem_id, extensions.NewRequest(day, reason))
        except (Invalid, Conflict) as failure:
            errors = _said(failure, _current_deadline(problem_id))
        else:
            flash(_("延期申请已提交，等待环督办审批。"), "success")
            return redirect(url_for("ledger.problem_page", problem_id=problem_id) + "#extensions")
    with duban().db.reading() as db:
        viewer, problem = _visible_problem(db, problem_id)
        if problem is not None:
            view = _problem_view(db, viewer, problem)
    if problem is None:
        _deny(problem_id)
    return render_template("ledger/problem.html", extension_errors=errors, extension_values=values, **view), 400


def _current_deadline(problem_id: int) -> date | None:
    with duban().db.reading() as db:
        problem = db.get(Problem, problem_id)
        return problem.deadline if problem else None


# -- deciding, from the list ------------------------------------------------------------------

def _office_only():
    user = current_user()
    if Role.ADMIN not in user.roles:
        duban().deny(user.id, "decide extension requests", "extension_request", None)
    return user


def _line(r: ExtensionRequest) -> dict:
    return {"id": r.id, "status": label(r.status), "status_code": r.status.value,
            "current_deadline": r.current_deadline, "requested_deadline": r.requested_deadline,
            "approved_deadline": r.approved_deadline, "reason": r.reason,
            "requested_by": r.requested_by.display_name, "requested_at": r.requested_at,
            "decided_by": r.decided_by.display_name if r.decided_by else None, "decided_at": r.decided_at,
            "note": r.decision_note}


DECIDED_SHOWN = 50   # the most recent decisions under the pending requests (the rest are on each problem's page)


def _list_page(errors: dict | None = None, values: dict | None = None, status: int = 200):
    """Every pending request, oldest first, then the latest decisions; each with the earlier
    requests of its problem. Reads the requests shown and their problems' history only, never
    every request ever filed."""
    with duban().db.reading() as db:
        with_problem = joinedload(ExtensionRequest.problem)
        pending = db.scalars(select(ExtensionRequest).where(ExtensionRequest.status == ExtensionStatus.PENDING)
                             .order_by(ExtensionRequest.requested_at, ExtensionRequest.id).options(with_problem)).all()
        decided = db.scalars(select(ExtensionRequest).where(ExtensionRequest.status != ExtensionStatus.PENDING)
                             .order_by(func.coalesce(ExtensionRequest.decided_at, ExtensionRequest.requested_at).desc(),
                                       ExtensionRequest.id.desc())
                             .limit(DECIDED_SHOWN).options(with_problem)).all()
        shown = list(pending) + list(decided)
        by_problem: dict[int, list[ExtensionRequest]] = {}
        for row in db.scalars(select(ExtensionRequest).where(
                ExtensionRequest.problem_id.in_({r.problem_id for r in shown})).order_by(ExtensionRequest.id)):
            by_problem.setdefault(row.problem_id, []).append(row)
        items = [{**_line(r), "problem": {"id": r.problem.id, "code": r.problem.code, "title": r.problem.title,
                                          "deadline": r.problem.deadline},
                  "earlier": [_line(e) for e in by_problem[r.problem_id] if e.id < r.id]}
                 for r in shown]
    return render_template("extensions/list.html", items=items, pending=len(pending), errors=errors or {},
                           values=values or {}), status


@bp.get("/extensions")
def request_list():
    _office_only()
    return _list_page()


@bp.post("/extensions/<int:request_id>/decision")
def decide(request_id: int):
    user = _office_only()
    with duban().db.reading() as db:
        extensions.get(db, request_id)  # an unknown request: 404
    form = request.form
    values = {"id": request_id, "note": form.get("note", ""), "approved_deadline": form.get("approved_deadline", "")}
    decision = form.get("decision", "")
    errors: dict[str, list[str]] = {}
    if decision not in ("approve", "refuse"):
        errors[""] = [_("请选择批准或驳回。")]
    note = values["note"].strip()
    if len(note) > NOTE_MAX:
        errors["note"] = [_("审批意见最多 %(max)s 个字符。", max=NOTE_MAX)]
    approved = None
    if values["approved_deadline"].strip():
        approved = _day(values["approved_deadline"])
        if approved is None:
            errors["approved_deadline"] = [_("批准的时限应为日期（年-月-日）。")]
    if decision == "refuse" and approved is not None:
        errors["approved_deadline"] = [_("驳回时不填批准的时限。")]
    if not errors:
        try:
            duban().decide_extension(user.id, request_id, decision == "approve", note or None, approved)
        except (Invalid, Conflict) as failure:
            with duban().db.reading() as db:
                deadline = extensions.get(db, request_id).problem.deadline
            errors = _said(failure, deadline)
        else:
            flash(_("已批准延期申请。") if decision == "approve" else _("已驳回延期申请。"), "success")
            return redirect(url_for("extension_requests.request_list"))
    return _list_page(errors, values, 400)
