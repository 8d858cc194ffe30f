"""整改台账: the problems the viewer may see, filtered, sorted and paged as a ledger reader
expects; and one problem's page: its chain of responsibility, plan, milestones, current
tasks, timeline (留痕), evidence, escalations and the rungs that did not fire (passed over, held
for want of a head), extension requests, and its process diagrams
with the path taken and the tasks open now."""
from __future__ import annotations

import re
from dataclasses import dataclass
from flask import abort, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import accountability, clock, extensions, interviews, lights, problems, tasks
from engine import evidence as evidence_files
from engine.evidence_types import shown_inline
import calendar as month_days

from flask_babel import get_locale

from engine.excel.deadlines import text as ledger_deadline_text
from engine.models import (Escalation, ExtensionStatus, HumanTask, LedgerEntry, Light, Problem,
                           ProblemCategory, ProblemSource, ProblemStatus, ProcessInstance, Region, Role, Unit, User)
from engine.organization import region_heads, unit_heads
from engine.text import ID_MAX
from engine.workflow import trail

from .labels import label, pending_plan
from .layout import ROLE_LABELS, current_user, duban, page_blueprint
from . import timeline, unfired


def deadline_text(kind, due) -> str:
    """A deadline as the ledger writes it ("2020年12月底前", "长期坚持（2026年6月30日前）"), in the
    reader's language."""
    locale = get_locale()
    if locale is None or locale.language == "zh":
        return ledger_deadline_text(kind, due)
    written = None
    if due is not None:
        if due.day == month_days.monthrange(due.year, due.month)[1]:
            written = _("%(year)s年%(month)s月底前", year=due.year, month=f"{due.month:02d}")
        else:
            written = _("%(year)s年%(month)s月%(day)s日前", year=due.year, month=f"{due.month:02d}",
                        day=f"{due.day:02d}")
    if kind is None or kind.value == "by_date":
        return written or ""
    return _("%(kind)s（%(date)s）", kind=label(kind), date=written) if written else label(kind)
from .inbox import before_after
from .interviews import view as interview_view
from .accountability import trigger_text

bp = page_blueprint("ledger", __name__)

PER_PAGE = 20
MAX_PER_PAGE = 100
RECTIFICATION = "rectification"


# -- the list --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    key: str
    label: object
    sortable: bool = False  # sorted by engine.problems.SORTS[key]


COLUMNS = [
    Column("code", _l("问题编号"), True),
    Column("title", _l("问题描述")),
    Column("region", _l("区域"), True),
    Column("lead_unit", _l("牵头单位"), True),
    Column("responsible", _l("责任人")),
    Column("source", _l("来源"), True),
    Column("batch", _l("批次"), True),
    Column("category", _l("类别"), True),
    Column("deadline", _l("整改时限"), True),
    Column("light", _l("灯色"), True),
    Column("status", _l("状态"), True),
    Column("overdue_days", _l("逾期天数"), True),
    Column("steps", _l("当前环节")),
]
SORTS = {column.key for column in COLUMNS if column.sortable}
assert SORTS == set(problems.SORTS)
DEFAULT_SORT = problems.DEFAULT_SORT

FILTER_LABELS = {"region": _l("区域"), "unit": _l("责任单位"), "lead_unit": _l("牵头单位"), "source": _l("来源"), "batch": _l("批次"),
                 "category": _l("类别"), "light": _l("灯色"), "status": _l("状态"), "overdue": _l("是否逾期"),
                 "q": _l("关键词"), "sort": _l("排序"), "page": _l("页码"), "per_page": _l("每页条数")}
FILTER_KEYS = ("q", "region", "unit", "lead_unit", "source", "batch", "category", "light", "status", "overdue")
TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def _bad(key: str, value: str):
    abort(400, _("筛选条件「%(field)s」的值无效：%(value)s", field=FILTER_LABELS[key], value=value))


def _whole(key: str, value: str, low: int = 1, high: int = ID_MAX) -> int:
    """A whole number from `low` to `high` (by default an id: at most 2^31-1); 400 otherwise."""
    if not re.fullmatch(r"\s*\d{1,10}\s*", value):
        _bad(key, value[:40])
    number = int(value)
    if number < low or number > high:
        _bad(key, value)
    return number


def _member(key: str, enum, value: str):
    """A choice by its code, or by its Chinese word where the choice has one (水, 中央生态环境保护督察)."""
    try:
        return enum(value)
    except ValueError:
        pass
    try:
        return enum.parse(value) if hasattr(enum, "parse") else _bad(key, value)
    except ValueError:
        _bad(key, value)


def read_filters(args) -> tuple[problems.ProblemFilter, dict]:
    """The ledger's filters from query arguments (the list's, the export's) and the arguments
    as given, empty ones left out. A value that does not parse is a 400 page naming the field."""
    given = {key: args.get(key, "").strip() for key in FILTER_KEYS}
    given = {key: value for key, value in given.items() if value}
    wanted = problems.ProblemFilter()
    if "region" in given:
        wanted.region_id = _whole("region", given["region"])
    if "unit" in given:
        wanted.unit_id = _whole("unit", given["unit"])
    if "lead_unit" in given:
        wanted.lead_unit_id = _whole("lead_unit", given["lead_unit"])
    if "source" in given:
        wanted.source = _member("source", ProblemSource, given["source"])
    if "batch" in given:
        wanted.batch = given["batch"]
    if "category" in given:
        wanted.category = _member("category", ProblemCategory, given["category"])
    if "light" in given:
        wanted.light = _member("light", Light, given["light"])
    if "status" in given:
        wanted.status = _member("status", ProblemStatus, given["status"])
    if "overdue" in given:
        flag = given["overdue"].lower()
        if flag not in TRUE | FALSE:
            _bad("overdue", given["overdue"])
        wanted.overdue = flag in TRUE
        given["overdue"] = "true" if wanted.overdue else "false"
    if len(given.get("q", "")) > 100:
        _bad("q", given["q"][:20] + "…")
    wanted.text = given.get("q") or None
    return wanted, given


def _read_arguments(args) -> tuple[problems.ProblemFilter, dict, int, int]:
    """The filter, the arguments as given (for links), the page and its size."""
    wanted, given = read_filters(args)
    sort = args.get("sort", "").strip() or DEFAULT_SORT
    if _sort_key(sort) not in SORTS:
        _bad("sort", sort)
    if sort != DEFAULT_SORT:
        given["sort"] = sort
    number = _whole("page", args["page"]) if args.get("page") else 1
    size = _whole("per_page", args["per_page"], 1, MAX_PER_PAGE) if args.get("per_page") else PER_PAGE
    if size != PER_PAGE:
        given["per_page"] = str(size)
    return wanted, given, number, size


def _sort_key(sort: str) -> str:
    return sort[1:] if sort.startswith("-") else sort


def _overdue_days(problem: Problem) -> int | None:
    return (clock.today() - problem.deadline).days if problems.is_overdue(problem) else None


def _row(problem: Problem) -> dict:
    return {"id": problem.id, "code": problem.code, "title": problem.title, "region": problem.region.name,
            "lead_unit": problem.lead_unit.name, "cooperating_units": [u.name for u in problem.cooperating_units],
            "responsible": problem.responsible_official.name, "source": label(problem.source),
            "batch": problem.batch, "category": label(problem.category),
            "deadline": problem.deadline, "deadline_text": deadline_text(problem.deadline_kind, problem.deadline),
            "light": problem.light, "status": label(problem.status),
            "overdue_days": _overdue_days(problem)}


def _regions(db: Session) -> list[tuple[int, str]]:
    """Every region, each under its parent, indented by depth."""
    regions = db.scalars(select(Region)).all()
    paths = {region.id: [r.name for r in reversed(region.lineage())] for region in regions}
    return [(region.id, "　" * (len(paths[region.id]) - 1) + region.name)
            for region in sorted(regions, key=lambda r: paths[r.id])]


def _choices(db: Session, viewer: User) -> dict:
    visible = problems.visible_to(viewer)
    batches = select(Problem.batch).distinct().order_by(Problem.batch)
    if visible is not None:
        batches = batches.where(visible)
    return {
        "regions": _regions(db),
        "units": [(u.id, u.name) for u in db.scalars(select(Unit).order_by(Unit.region_id, Unit.name))],
        "batches": list(db.scalars(batches)),
        "sources": list(ProblemSource), "categories": list(ProblemCategory), "statuses": list(ProblemStatus),
        "lights": list(Light),
    }


@bp.get("/ledger")
def problem_list():
    wanted, given, number, size = _read_arguments(request.args)
    sort = given.get("sort", DEFAULT_SORT)
    app, user = duban(), current_user()
    with app.db.reading() as db:
        viewer = app.actor(db, user.id)
        statement = problems.query(db, viewer, wanted)
        unlit = problems.ProblemFilter(**{**wanted.__dict__, "light": None})
        counts = lights.counts(db, problems.query(db, viewer, unlit), Problem.light)
        items, total = problems.page(db, problems.sorted_by(statement, sort), number, size)
        steps = tasks.current_steps(db, [problem.id for problem in items])
        rows = [{**_row(problem), "steps": steps.get(problem.id, [])} for problem in items]
        choices = _choices(db, viewer) if not _partial() else {}
        is_admin = viewer.has_role(Role.ADMIN)
    context = {"rows": rows, "total": total, "page": number, "per_page": size, "counts": counts,
               "given": given, "sort": sort, "columns": COLUMNS, "sortable": SORTS, "is_admin": is_admin,
               "export_args": {k: v for k, v in given.items() if k in FILTER_KEYS},
               "pager_args": given, "chip_args": {k: v for k, v in given.items() if k != "light"}, **choices}
    if _partial():
        return render_template("ledger/_problem_table.html", **context)
    return render_template("ledger/problem_list.html", **context)


def _partial() -> bool:
    return bool(request.headers.get("HX-Request")) and request.headers.get("HX-Target") == "problem-table"


# -- one problem -----------------------------------------------------------------------------

MILESTONE_DONE, MILESTONE_LATE, MILESTONE_OPEN = "done", "late", "open"
MILESTONE_LABELS = {MILESTONE_DONE: _l("已完成"), MILESTONE_LATE: _l("逾期未完成"), MILESTONE_OPEN: _l("推进中")}
INSTANCE_STATUS = {"running": _l("运行中"), "completed": _l("已结束"), "error": _l("出错")}


def _visible_problem(db: Session, problem_id: int) -> tuple[User, Problem]:
    """The viewer and the problem; 404 if unknown, 403 (recorded) if not the viewer's to see."""
    app, user = duban(), current_user()
    viewer = app.actor(db, user.id)
    problem = db.get(Problem, problem_id)
    if problem is None:
        abort(404, _("没有这个问题。"))
    if not problems.may_see(viewer, problem):
        return viewer, None
    return viewer, problem


def _deny(problem_id: int):
    duban().deny(current_user().id, f"see problem {problem_id}", "problem", problem_id, problem_id)


def _heads(heads) -> dict:
    return {"party": heads.party.name if heads.party else None,
            "government": heads.government.name if heads.government else None}


def _holder(task: HumanTask) -> str:
    if task.assignee is not None:
        return task.assignee.display_name
    if task.candidate_unit is not None:
        return task.candidate_unit.name
    if task.candidate_role is not None:
        return str(ROLE_LABELS.get(task.candidate_role, task.candidate_role.value))
    return "—"


def _instance(instance: ProcessInstance, firings: dict[int, Escalation], subject) -> dict:
    definition = instance.definition
    firing = firings.get(instance.escalation_id)
    return {"id": instance.id, "key": definition.key, "name": definition.name, "version": definition.version,
            "status": INSTANCE_STATUS.get(instance.status.value, instance.status.value),
            "status_code": instance.status.value, "started_at": instance.started_at, "ended_at": instance.ended_at,
            "level": firing.level if firing else None,
            "subject": subject.label if subject else None,
            "firing": {"id": firing.id, "level": firing.level, "name": firing.rule_name, "fired_at": firing.fired_at,
                       "why": trigger_text(firing)} if firing else None,
            "diagram_url": url_for("ledger.instance_diagram", problem_id=instance.problem_id,
                                   instance_id=instance.id)}


def _diagram(instance: ProcessInstance) -> dict:
    found = trail.of_instance(instance)
    return {"instance_id": instance.id, "xml": instance.definition.bpmn_xml, **found.as_dict(),
            "from_state": found.from_state}


def _milestone_state(milestone) -> str:
    if milestone.done_at is not None:
        return MILESTONE_DONE
    return MILESTONE_LATE if milestone.due < clock.today() else MILESTONE_OPEN


@bp.get("/problems/<int:problem_id>")
def problem_page(problem_id: int):
    with duban().db.reading() as db:
        viewer, problem = _visible_problem(db, problem_id)
        if problem is not None:
            view = _problem_view(db, viewer, problem)
    if problem is None:
        _deny(problem_id)
    return render_template("ledger/problem.html", **view)


def _problem_view(db: Session, viewer: User, problem: Problem) -> dict:
    lead_heads = unit_heads(db, problem.lead_unit)
    instances = db.scalars(select(ProcessInstance).where(ProcessInstance.problem_id == problem.id)
                           .order_by(ProcessInstance.id)).all()
    chosen_id = request.args.get("instance", "")
    chosen = next((i for i in instances if str(i.id) == chosen_id), None)
    if chosen_id and chosen is None:
        abort(404, _("该问题没有这个流程实例。"))
    chosen = chosen or next((i for i in instances if i.definition.key == RECTIFICATION),
                            instances[0] if instances else None)
    entries = db.scalars(select(LedgerEntry).where(LedgerEntry.problem_id == problem.id)
                         .order_by(LedgerEntry.id)).all()
    if not viewer.reads_everything:
        entries = [e for e in entries if e.action != "permission.denied"]
    current = db.scalars(tasks.open_on(problem.id)).all()
    evidence = db.scalars(evidence_files.submitted_on(problem.id)).all()
    escalations = db.scalars(select(Escalation).where(Escalation.problem_id == problem.id)
                             .order_by(Escalation.fired_at, Escalation.id)).all()
    requests = extensions.of_problem(db, problem.id)
    named = accountability.subjects(db, instances)
    return {
        "problem": {
            "id": problem.id, "code": problem.code, "title": problem.title, "description": problem.description,
            "source": label(problem.source), "batch": problem.batch, "category": label(problem.category),
            "status": label(problem.status), "light": problem.light,
            "deadline_kind": label(problem.deadline_kind), "deadline": problem.deadline,
            "deadline_text": deadline_text(problem.deadline_kind, problem.deadline),
            "overdue_days": _overdue_days(problem), "registered_at": problem.registered_at,
            "closed_at": problem.closed_at, "target": problem.target, "measures": problem.measures,
            "pending_plan": pending_plan(problem),
        },
        "chain": {
            "region": " › ".join(r.name for r in reversed(problem.region.lineage())),
            "region_heads": _heads(region_heads(db, problem.region)),
            "leading_official": problem.leading_official.name if problem.leading_official else None,
            "lead_unit": problem.lead_unit.name, "lead_unit_heads": _heads(lead_heads),
            "cooperating_units": [u.name for u in problem.cooperating_units],
            "industry_unit": problem.industry_unit.name if problem.industry_unit else None,
            "responsible": problem.responsible_official.name,
        },
        "sites": [{"name": s.name, "closed_at": s.closed_at} for s in problem.sites],
        "milestones": [{"title": m.title, "due": m.due, "done_at": m.done_at, "state": _milestone_state(m),
                        "state_label": MILESTONE_LABELS[_milestone_state(m)]} for m in problem.milestones],
        "tasks": [{"id": t.id, "name": t.name, "element_id": t.element_id, "due_at": t.due_at, "light": t.light,
                   "holder": _holder(t), "process": t.instance.definition.name,
                   "openable": viewer.reads_everything or tasks.may_complete(viewer, t)} for t in current],
        "timeline": timeline.lines(db, entries),
        "comparisons": before_after(db, problem.id),
        "evidence": [{"id": e.id, "filename": e.filename, "image": shown_inline(e.content_type),
                      "size": e.size, "uploaded_at": e.uploaded_at} for e in evidence],
        "escalations": [{"id": e.id, "level": e.level, "level_name": label(e.level),
                         "rule_name": e.rule_name, "fired_at": e.fired_at, "deadline": e.deadline,
                         "targets": [t.get("name") for t in e.targets]} for e in escalations],
        "extensions": [{"id": r.id, "status": label(r.status), "status_code": r.status.value,
                        "current_deadline": r.current_deadline, "requested_deadline": r.requested_deadline,
                        "approved_deadline": r.approved_deadline, "reason": r.reason,
                        "requested_by": r.requested_by.display_name, "requested_at": r.requested_at,
                        "decided_by": r.decided_by.display_name if r.decided_by else None,
                        "decided_at": r.decided_at, "note": r.decision_note} for r in requests],
        "unfired": unfired.view(db, problem),
        "interviews": [interview_view(i) for i in interviews.of_problem(db, problem.id)],
        "may_open_interviews": viewer.reads_everything,
        "may_request_extension": (extensions.may_request(viewer, problem) and problem.deadline is not None
                                  and problem.status != ProblemStatus.CLOSED and clock.today() <= problem.deadline
                                  and all(r.status != ExtensionStatus.PENDING for r in requests)),
        "instances": [_instance(i, {e.id: e for e in escalations}, named.get(i.id)) for i in instances],
        "diagram": _diagram(chosen) if chosen is not None else None,
    }


@bp.get("/problems/<int:problem_id>/instances/<int:instance_id>/diagram")
def instance_diagram(problem_id: int, instance_id: int):
    """One process instance of the problem as the diagram draws it: the BPMN XML and the ids of
    the elements passed, open and waiting, and of the flows taken (JSON)."""
    with duban().db.reading() as db:
        problem = _visible_problem(db, problem_id)[1]
        if problem is not None:
            instance = db.get(ProcessInstance, instance_id)
            if instance is None or instance.problem_id != problem_id:
                abort(404, _("该问题没有这个流程实例。"))
            body = _diagram(instance)
    if problem is None:
        _deny(problem_id)
    return jsonify(body)
