"""约谈: the interviews the ladder's 约谈 rung started, for the discipline office and the
rectification office: with whom (the Party and government heads the rung named), why (the rung
and the problem), when, their state and step, and what the forms recorded (the minutes 约谈纪要,
the commitments 整改承诺); one interview with its steps, a link to the open step for whoever
holds it, and its timeline (留痕). A problem's interviews are also on its page."""
from __future__ import annotations

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine import interviews, tasks
from engine.errors import NotFound
from engine.models import InstanceStatus, Role

from . import timeline
from .accountability import STATUS_LABELS, trigger_text
from .layout import current_user, duban, page_blueprint, page_number

bp = page_blueprint("interviews", __name__)

PER_PAGE = 20
STATUSES = {"open": InstanceStatus.RUNNING, "closed": InstanceStatus.COMPLETED}
SIDES = {"party": _l("党委"), "government": _l("政府"), "both": _l("党政")}
RECORD_LABELS = {"interview_on": _l("约谈日期"), "place": _l("约谈地点"), "interviewer": _l("约谈人"),
                 "subject": _l("约谈事由"), "held_on": _l("实际约谈日期"), "attendees": _l("被约谈人到会情况"),
                 "minutes": _l("约谈纪要"), "commitments": _l("整改承诺事项"), "commitment": _l("书面整改承诺"),
                 "progress": _l("承诺事项落实情况"), "result": _l("整改承诺是否兑现"), "finding": _l("核查情况")}
RESULTS = {"kept": _l("已兑现"), "missed": _l("未兑现")}


def _oversee(what: str, subject_id) -> None:
    """Only the discipline office and the rectification office read the interviews; anyone
    else is refused (403, written to the ledger)."""
    user = current_user()
    if not any(role in (Role.DISCIPLINE, Role.ADMIN) for role in user.roles):
        duban().deny(user.id, what, "process_instance", subject_id)


def _value(key: str, value) -> str:
    if key == "result":
        return str(RESULTS.get(value, value))
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if key in ("interview_on", "held_on") and isinstance(value, str):
        return value[:10]
    return str(value)


def view(interview: interviews.Interview, viewer=None) -> dict:
    """One interview as the pages show it (the list, the problem page, its own page)."""
    instance, escalation, record = interview.instance, interview.escalation, interview.record
    problem = interview.problem
    return {
        "id": instance.id, "status": instance.status, "status_label": STATUS_LABELS.get(instance.status, instance.status),
        "started_at": instance.started_at, "ended_at": instance.ended_at,
        "problem": {"id": problem.id, "code": problem.code, "title": problem.title, "region": problem.region.name,
                    "lead_unit": problem.lead_unit.name},
        "interviewees": [{"name": t.get("name"), "title": t.get("title"), "of": t.get("of"),
                          "side": str(SIDES.get(t.get("side"), t.get("side") or ""))}
                         for t in interview.interviewees],
        "cause": {"level": escalation.level, "name": escalation.rule_name, "fired_at": escalation.fired_at,
                  "trigger": trigger_text(escalation), "deadline": escalation.deadline} if escalation else None,
        "scheduled_on": _value("interview_on", record["interview_on"]) if "interview_on" in record else None,
        "held_on": _value("held_on", record["held_on"]) if "held_on" in record else None,
        "minutes": record.get("minutes"), "commitments": record.get("commitments") or record.get("commitment"),
        "record": [{"key": key, "label": RECORD_LABELS[key], "value": _value(key, record[key])}
                   for key in interviews.RECORD_KEYS if key in record and key in RECORD_LABELS],
        "open_tasks": [{"id": t.id, "name": t.name, "due_at": t.due_at, "light": t.light,
                        "openable": viewer is not None and (viewer.reads_everything or tasks.may_complete(viewer, t))}
                       for t in interview.open_tasks],
        "tasks": [{"id": t.id, "name": t.name, "state": t.state.value, "due_at": t.due_at, "light": t.light,
                   "created_at": t.created_at, "completed_at": t.completed_at,
                   "completed_by": t.completed_by.display_name if t.completed_by else None,
                   "openable": viewer is not None and t.state.value == "ready"
                   and (viewer.reads_everything or tasks.may_complete(viewer, t))}
                  for t in interview.tasks],
    }


@bp.get("/interviews")
def interview_list():
    _oversee("read interviews", None)
    status = request.args.get("status", "").strip() or None
    if status is not None and status not in STATUSES:
        abort(400, _("参数 status 无效：应为 open（进行中）或 closed（已结束）。"))
    number = page_number()
    app = duban()
    with app.db.reading() as db:
        viewer = app.actor(db, current_user().id)
        found, total = interviews.page(db, interviews.query(STATUSES.get(status)), number, PER_PAGE)
        rows = [view(i, viewer) for i in found]
        counts = {key: interviews.page(db, interviews.query(value), 1, 1)[1]
                  for key, value in (("all", None), *STATUSES.items())}
    return render_template("interviews/list.html", rows=rows, total=total, page=number, per_page=PER_PAGE,
                           status=status, counts=counts)


@bp.get("/interviews/<int:instance_id>")
def interview_page(instance_id: int):
    _oversee(f"read interview {instance_id}", instance_id)
    app = duban()
    with app.db.reading() as db:
        viewer = app.actor(db, current_user().id)
        try:
            found = interviews.get(db, instance_id)
        except NotFound:
            abort(404, _("没有这个约谈。"))
        shown = view(found, viewer)
        lines = timeline.lines(db, interviews.timeline(db, found))
        version = found.instance.definition.version
    return render_template("interviews/interview.html", interview=shown, timeline=lines, version=version)
