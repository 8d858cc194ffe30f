"""问责: the accountability cases the discipline office runs (a list filtered by status, one
case with its official, problem, cause, steps, decisions and ledger trail) and an official's
accountability record with each decision's influence period (影响期). For the discipline
office and the rectification office only."""
from __future__ import annotations

from datetime import timedelta

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from engine import accountability, case_file
from engine.errors import NotFound
from engine.models import InstanceStatus, PostKind, Role

from . import timeline
from .labels import label
from .layout import EVENT_LABELS, current_user, duban, page_blueprint, page_number

bp = page_blueprint("cases", __name__)

PER_PAGE = 20
STATUSES = {"open": InstanceStatus.RUNNING, "closed": InstanceStatus.COMPLETED}
STATUS_LABELS = {InstanceStatus.RUNNING: _l("办理中"), InstanceStatus.COMPLETED: _l("已办结"),
                 InstanceStatus.ERROR: _l("流程出错"), InstanceStatus.CANCELLED: _l("已终止")}
POST_KINDS = {PostKind.PARTY: _l("党委（党组）职务"), PostKind.GOVERNMENT: _l("政府职务"),
              PostKind.DEPARTMENT: _l("部门职务")}


def _oversee(what: str, subject_type: str, subject_id) -> None:
    """Only the discipline office and the rectification office read cases and records; anyone
    else is refused (403, written to the ledger)."""
    user = current_user()
    if not any(role in (Role.DISCIPLINE, Role.ADMIN) for role in user.roles):
        duban().deny(user.id, what, subject_type, subject_id)


@bp.get("/accountability")
def case_list():
    _oversee("read accountability cases", "accountability_case", None)
    status = request.args.get("status", "").strip() or None
    if status is not None and status not in STATUSES:
        abort(400, _("参数 status 无效：应为 open（办理中）或 closed（已办结）。"))
    page = page_number()
    with duban().db.reading() as db:
        found, total = accountability.cases(db, accountability.cases_query(STATUSES.get(status)), page, PER_PAGE)
        counts = {key: db.scalar(select(func.count()).select_from(accountability.cases_query(value).subquery()))
                  for key, value in (("all", None), *STATUSES.items())}
        rows = [_case_row(case) for case in found]
    return render_template("cases/case_list.html", rows=rows, total=total, page=page, per_page=PER_PAGE,
                           status=status, counts=counts, status_labels=STATUS_LABELS)


def _revision(revision) -> dict:
    return {"outcome": revision.outcome.value, "outcome_label": label(revision.outcome),
            "replacement": revision.replacement.form_label if revision.replacement else None,
            "appealed_at": revision.appealed_at, "appeal_reason": revision.appeal_reason,
            "decision_no": revision.decision_no, "decision_date": revision.decision_date, "reason": revision.reason,
            "decided_by": revision.decided_by.display_name if revision.decided_by else None}


def _decision(decision, today) -> dict:
    until = decision.influence_until
    return {"id": decision.id, "category": label(decision.category), "form": decision.form_label,
            "revisions": [_revision(r) for r in decision.revisions], "ended_on": decision.ended_on,
            "replaces": [r.decision.form_label for r in decision.changed_from],
            "decision_no": decision.decision_no, "decision_date": decision.decision_date,
            "months": decision.influence_months, "last_day": until - timedelta(days=1) if until else None,
            "in_force": decision.in_force(today), "basis": decision.basis,
            "problem_id": decision.problem_id, "problem_code": decision.problem.code,
            "case_id": decision.process_instance_id,
            "decided_by": decision.decided_by.display_name if decision.decided_by else None}


def _case_row(case: accountability.Case) -> dict:
    instance = case.instance
    return {"id": instance.id, "status": instance.status, "started_at": instance.started_at,
            "ended_at": instance.ended_at,
            "official": {"id": case.official.id, "name": case.official.name,
                         "post": case.subject.post if case.subject else None} if case.official else None,
            "firing": {"id": case.escalation.id, "level": case.escalation.level, "name": case.escalation.rule_name,
                       "fired_at": case.escalation.fired_at,
                       "why": trigger_text(case.escalation)} if case.escalation else None,
            "problem": {"id": instance.problem.id, "code": instance.problem.code, "title": instance.problem.title},
            "open_tasks": [{"id": t.id, "name": t.name, "due_at": t.due_at, "light": t.light} for t in case.open_tasks],
            "decisions": [_decision(d, case.today) for d in case.decisions]}


def _official(official) -> dict:
    return {"id": official.id, "name": official.name, "party_member": official.party_member,
            "posts": [{"unit": p.unit.name, "title": p.title, "kind": POST_KINDS.get(p.kind, p.kind.value),
                       "head": p.is_head} for p in sorted(official.posts, key=lambda p: p.id)]}


def trigger_text(escalation) -> str:
    """Why a firing of the ladder happened, in words."""
    trigger = escalation.trigger or {}
    kind = trigger.get("kind")
    if kind == "overdue":
        return _("整改时限届满后逾期 %(n)s 个工作日", n=trigger.get("working_days", 0))
    if kind == "event":
        event = trigger.get("event", "")
        return str(EVENT_LABELS.get(event, event))
    if kind == "repeat":
        return _("第 %(count)s 次 %(level)s 级督办", count=trigger.get("count"), level=trigger.get("level"))
    if kind == "before_deadline":
        return _("距整改时限 %(n)s 个工作日", n=trigger.get("working_days", 0))
    return kind or "—"


@bp.get("/accountability/cases/<int:instance_id>")
def case_page(instance_id: int):
    _oversee(f"read accountability case {instance_id}", "accountability_case", instance_id)
    with duban().db.reading() as db:
        try:
            found = case_file.get(db, instance_id)
        except NotFound:
            abort(404, _("没有这个问责案件。"))
        instance, escalation = found.instance, found.escalation
        problem = instance.problem
        view = {
            "case": _case_row(found.case),
            "official": _official(found.case.official) if found.case.official else None,
            "problem": {"id": problem.id, "code": problem.code, "title": problem.title, "region": problem.region.name,
                        "lead_unit": problem.lead_unit.name, "status": label(problem.status), "light": problem.light,
                        "deadline": problem.deadline, "deadline_kind": label(problem.deadline_kind)},
            "cause": {"level": escalation.level, "name": escalation.rule_name, "fired_at": escalation.fired_at,
                      "trigger": trigger_text(escalation), "deadline": escalation.deadline,
                      "rule_version": escalation.rule_version,
                      "targets": len(escalation.targets or [])} if escalation else None,
            "tasks": [{"id": t.id, "name": t.name, "state": t.state.value, "due_at": t.due_at, "light": t.light,
                       "created_at": t.created_at, "completed_at": t.completed_at,
                       "completed_by": t.completed_by.display_name if t.completed_by else None}
                      for t in found.tasks],
            "timeline": timeline.lines(db, found.timeline),
            "version": instance.definition.version,
        }
    return render_template("cases/case.html", **view, status_labels=STATUS_LABELS)


@bp.get("/officials/<int:official_id>")
def official_record(official_id: int):
    if current_user().official_id != official_id:  # an official reads their own record, as the API lets them
        _oversee(f"read the accountability record of official {official_id}", "official", official_id)
    with duban().db.reading() as db:
        try:
            record = accountability.official_record(db, official_id)
        except NotFound:
            abort(404, _("没有这名公职人员。"))
        found, total = accountability.cases(db, accountability.cases_query(official_id=official_id), 1, 100)
        view = {"official": _official(record.official), "as_of": record.today,
                "decisions": [_decision(d, record.today) for d in record.decisions],
                "in_force": len(record.in_force), "cases": [_case_row(case) for case in found], "case_total": total,
                "overseer": any(role in (Role.DISCIPLINE, Role.ADMIN) for role in current_user().roles)}
    return render_template("cases/official.html", **view, status_labels=STATUS_LABELS)
