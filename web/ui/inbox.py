"""我的待办: the signed-in user's ready tasks, and one task's page (its form, its evidence,
and beside them the case it decides on: engine.task_case) where the task is done."""
from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from engine import accountability, evidence, lights, paging, problems, task_case, tasks
from engine.errors import Conflict, DubanError, Forbidden, Invalid, NotFound
from engine.evidence_types import load_policy, shown_inline
from engine.models import EvidenceFile, HumanTask, Light, Problem, ProcessInstance, TaskState
from engine.organization import region_heads, unit_heads
from engine.workflow.forms import evidence_keys, inputs

from .. import evidence as evidence_files
from .labels import label, pending_plan
from .messages import viewer_messages, word, worded
from .layout import current_user, duban, page_blueprint, page_number

bp = page_blueprint("inbox", __name__)

FILTER_LIGHTS = (Light.RED, Light.YELLOW, Light.GREEN)
PER_PAGE = 50  # 我的待办 a page at a time, soonest due first


@bp.get("/tasks")
def my_tasks():
    light = request.args.get("light") or None
    if light is not None and light not in {choice.value for choice in FILTER_LIGHTS}:
        abort(404)
    page = page_number()
    app, user = duban(), current_user()
    with app.db.reading() as db:
        viewer = app.actor(db, user.id)
        counts = lights.counts(db, tasks.query(viewer), HumanTask.light)
        found, total = paging.page(db, tasks.query(viewer, light=Light(light) if light else None), page, PER_PAGE,
                                   joinedload(HumanTask.problem).joinedload(Problem.region),
                                   # what names an accountability case's subject, not the engine's state
                                   joinedload(HumanTask.instance).load_only(ProcessInstance.subject_official_id,
                                                                            ProcessInstance.escalation_id),
                                   total=counts[light] if light else counts["total"])
        named = accountability.subjects(db, {task.instance for task in found})
        rows = [{**_row(task), "subject": named.get(task.instance_id)} for task in found]
    context = {"rows": rows, "counts": counts, "light": light, "filter_lights": FILTER_LIGHTS,
               "page": page, "per_page": PER_PAGE, "total": total}
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "task-list":
        return render_template("inbox/_task_list.html", **context)
    return render_template("inbox/my_tasks.html", **context)


def _row(task: HumanTask) -> dict:
    return {"id": task.id, "name": task.name, "due_at": task.due_at, "light": task.light,
            "problem_code": task.problem.code, "problem_title": task.problem.title,
            "region": task.problem.region.name}


@bp.get("/tasks/<int:task_id>")
def task_page(task_id: int):
    return _render_task(task_id)


@bp.post("/tasks/<int:task_id>/evidence")
def upload_evidence(task_id: int):
    """A file for one of the task's file fields (a multipart POST; htmx swaps the field in place)."""
    field = request.form.get("field", "")
    upload = request.files.get("file")
    view = _load_task(task_id)
    if field not in view["file_fields"]:
        abort(400, _("这个表单没有该附件栏。"))
    error = None
    if upload is None or not upload.filename:
        error = _("请选择要上传的文件。")
    else:
        try:
            files = duban().upload_task_evidence(current_user().id, task_id, field, upload.filename,
                                                 upload.mimetype or "", upload.read(),
                                                 answer=lambda session, row: _field_files(session, view, task_id, field))
        except Invalid as failure:
            error = _upload_error(failure)
        else:
            return _field_answer(task_id, field, None, view, files)
    return _field_answer(task_id, field, error)


@bp.post("/tasks/<int:task_id>/evidence/<int:evidence_id>/delete")
def delete_evidence(task_id: int, evidence_id: int):
    """Delete a draft (a file not yet submitted); a submitted one answers 409."""
    view = _load_task(task_id)
    with duban().db.reading() as db:
        row = db.get(EvidenceFile, evidence_id)
        if row is None or row.problem_id != view["problem"]["id"] or (row.task_id not in (task_id, None)
                                                                       and row.submitted_at is None):
            abort(404, _("没有这个佐证材料。"))
    try:
        deleted = duban().delete_evidence(current_user().id, evidence_id, answer=lambda session, gone: _field_files(
            session, view, task_id, gone["field"]) if gone["field"] in view["file_fields"] else None)
    except Conflict:
        abort(409, _("该佐证材料已随办理提交，不能删除。"))
    field = deleted["field"]
    if field not in view["file_fields"]:
        return redirect(url_for("inbox.task_page", task_id=task_id))
    return _field_answer(task_id, field, None, view, deleted["answer"])


def _field_files(session, view: dict, task_id: int, field: str) -> list[dict]:
    """The files a file field lists after an upload or a deletion, read in its transaction: the
    earlier submission's files the page showed there, then the field's drafts now."""
    kept = [f for f in view["drafts"].get(field, []) if not f["deletable"]]
    return kept + [_evidence(row, deletable=True) for row in evidence.drafts(session, task_id) if row.field == field]


def _field_answer(task_id: int, field: str, error: str | None, view: dict | None = None,
                  files: list[dict] | None = None):
    """After an upload or a deletion: the field again for htmx (its files as the action's own
    transaction read them, when given), else back to the task page."""
    if request.headers.get("HX-Request"):
        view = view if files is not None else _load_task(task_id)
        files = files if files is not None else view["drafts"].get(field, [])
        return render_template("inbox/_evidence_field.html", task=view["task"], field=view["file_fields"][field],
                               files=files, errors=[error] if error else [],
                               editable=view["editable"], accept=view["accept"])  # 200 even with an error: htmx swaps only 2xx
    if error:
        flash(error, "error")
    return redirect(url_for("inbox.task_page", task_id=task_id) + f"#evidence-{field}")


def _upload_error(failure: Invalid) -> str:
    """Why an upload was refused, in the page's language."""
    if isinstance(failure, evidence.EvidenceRefused):
        detected = {"unknown": _("无法识别的格式"), "text": _("纯文本")}.get(failure.detected, failure.detected)
        return _("文件的实际内容是 %(detected)s，不能作为佐证材料上传。允许的类型：%(allowed)s。",
                 detected=detected, allowed=failure.allowed)
    if isinstance(failure, evidence.EvidenceTooLarge):
        return _("文件超过 %(mb)s MB。", mb=failure.max_megabytes)
    if failure.errors.get("file") == ["the file is empty"]:
        return _("文件是空的。")
    return "；".join(word(m) for ms in failure.errors.values() for m in ms) or failure.message


@bp.get("/tasks/<int:task_id>/complete")
def complete_again(task_id: int):
    """Where a language switch or a reload lands after a refused submission: the task page."""
    return redirect(url_for("inbox.task_page", task_id=task_id))


@bp.post("/tasks/<int:task_id>/complete")
def complete(task_id: int):
    view = _load_task(task_id)
    try:
        data = json.loads(request.form.get("data") or "{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return _render_task(task_id, errors={"": [_("表单数据无法读取，请重试。")]}, status=400)
    for key in view["file_fields"]:  # the files the task page lists: the task's drafts (and a resubmission's)
        data[key] = [item["id"] for item in view["drafts"].get(key, [])]
    try:
        incident = duban().complete_task(current_user().id, task_id, data)
    except (Forbidden, NotFound):
        raise
    except DubanError as failure:
        errors = failure.errors or {"": [failure.message]}
        return _render_task(task_id, errors=errors, submitted=data, status=422)
    flash(_("已办理：%(name)s（%(code)s）", name=view["task"]["name"], code=view["problem"]["code"]), "success")
    if incident is not None:  # the completion stands; the step after it failed
        flash(_("流程在“%(element)s”处出现异常，已通知环督办处理。", element=incident.element_name or incident.element_id),
              "error")
    return redirect(url_for("inbox.my_tasks"))


@bp.get("/evidence/<int:evidence_id>")
def evidence_file(evidence_id: int):
    """An evidence file, for whoever may see its problem (thumbnails, downloads)."""
    app, user = duban(), current_user()
    with app.db.reading() as db:
        row = db.get(EvidenceFile, evidence_id)
        if row is None:
            abort(404)
        allowed = problems.may_see(app.actor(db, user.id), problems.get(db, row.problem_id))
    if not allowed:
        app.deny(user.id, f"download evidence {evidence_id}", "evidence_file", evidence_id, row.problem_id)
    return evidence_files.send(app, row)


def _render_task(task_id: int, errors: dict | None = None, submitted: dict | None = None, status: int = 200):
    view = _load_task(task_id)
    errors = worded(errors or {})
    form = view["form"] or {"components": []}
    field_ids = {component["key"]: component["id"] for component in inputs(form) if component.get("id")}
    shown = set(field_ids) | set(view["file_fields"])
    form_errors = {field_ids[key]: messages for key, messages in errors.items()
                   if key in field_ids and key not in view["file_fields"]}
    general = [message for key, messages in errors.items() if key not in shown for message in messages]
    stored = view["stored"] or {}
    data = {**view["context"], **{k: v for k, v in {**stored, **(submitted or {})}.items()
                                  if k not in view["file_fields"]}}
    return render_template("inbox/task.html", **view, errors=errors, general_errors=general,
                           viewer_schema=_without_files(form), form_data=data, form_errors=form_errors,
                           viewer_messages=viewer_messages()), status


def _load_task(task_id: int) -> dict:
    """The task, its form and its problem, as plain data; 404 if unknown, 403 (recorded) if not
    the viewer's to see."""
    app, user = duban(), current_user()
    with app.db.reading() as db:
        viewer = app.actor(db, user.id)
        task = db.get(HumanTask, task_id)
        if task is None:
            abort(404, _("没有这个任务。"))
        editable = tasks.may_complete(viewer, task) and task.state == TaskState.READY
        if not (viewer.reads_everything or tasks.may_complete(viewer, task)):
            problem_id = task.problem_id
            task = None
        else:
            form = task.instance.definition.forms.get(task.element_id)
            context = app.runtime.form_context(task)
            problem = task.problem
            view = {
                "task": {"id": task.id, "name": task.name, "due_at": task.due_at, "light": task.light,
                         "state": task.state, "lane": task.lane, "data": task.data},
                "problem": {
                    "id": problem.id, "code": problem.code, "title": problem.title,
                    "description": problem.description, "region": problem.region.name,
                    "status": label(problem.status), "light": problem.light,
                    "leading_official": problem.leading_official.name if problem.leading_official else None,
                    "lead_unit": problem.lead_unit.name,
                    "cooperating_units": [unit.name for unit in problem.cooperating_units],
                    "responsible": problem.responsible_official.name,
                    "industry_unit": problem.industry_unit.name if problem.industry_unit else None,
                    "deadline_kind": label(problem.deadline_kind), "deadline": problem.deadline,
                    "pending_plan": pending_plan(problem),
                    "region_heads": _heads(region_heads(db, problem.region)),
                    "lead_unit_heads": _heads(unit_heads(db, problem.lead_unit)),
                },
                "form": form, "context": context, "editable": editable,
                "file_fields": {c["key"]: c for c in inputs(form or {}) if c["key"] in evidence_keys(form)},
            }
            case = task_case.of_task(db, task, app.runtime.case_options(task))
            view["case"] = _case(case)
            # what the form shows: a done task's submission; a step the work was sent back to,
            # what it submitted before (a step that merely comes round again starts empty)
            view["stored"] = (task.data if task.state == TaskState.COMPLETED
                              else case.previous if editable and case.reopened_by else None)
            view["file_groups"] = _file_groups(list(view["file_fields"]))
            # the files listed at each file field: the task's drafts (kept in the database until
            # the completion submits them); a step sent back starts from what it submitted before
            drafted = evidence.drafts(db, task.id) if editable else []
            ids = {}
            for row in drafted:
                ids.setdefault(row.field, []).append(row.id)
            for key in view["file_fields"]:
                if view["stored"] and view["stored"].get(key):
                    earlier = [i for i in view["stored"][key] if isinstance(i, int)]
                    ids[key] = earlier + [i for i in ids.get(key, []) if i not in earlier]
            wanted = [i for field_ids in ids.values() for i in field_ids]
            rows = {row.id: row for row in db.scalars(select(EvidenceFile).where(
                EvidenceFile.id.in_(wanted), EvidenceFile.problem_id == problem.id))} if wanted else {}
            view["drafts"] = {field: [_evidence(rows[i], deletable=editable and rows[i].submitted_at is None
                                                and rows[i].task_id == task.id)
                                      for i in field_ids if i in rows]
                              for field, field_ids in ids.items()}
            view["accept"] = evidence.accept_attribute(load_policy(app.settings.evidence_types))
    if task is None:
        app.deny(user.id, f"see task {task_id}", "human_task", task_id, problem_id)
    return view


def _heads(heads) -> dict:
    return {"party": heads.party.name if heads.party else None,
            "government": heads.government.name if heads.government else None}


def _case(case: task_case.TaskCase) -> dict:
    """The case beside the form (engine.task_case), as plain data for the page."""
    return {"earlier": [_submission(s) for s in case.earlier],
            "send_backs": [_send_back(s) for s in case.send_backs],
            "reopened_by": _send_back(case.reopened_by) if case.reopened_by else None,
            "own": _submission(case.own) if case.own else None}


def _submission(submission: task_case.Submission) -> dict:
    return {"task_id": submission.task_id, "step": submission.step, "by": submission.by, "at": submission.at,
            "first": submission.first, "fields": [_field(f) for f in submission.fields],
            "comparisons": [{"task_name": f"{pair.before_label} / {pair.after_label}", "completed_at": None,
                             "completed_by": None, "before": [_evidence(row) for row in pair.before],
                             "after": [_evidence(row) for row in pair.after]} for pair in submission.pairs
                            if pair.before or pair.after]}


def _send_back(send_back: task_case.SendBack) -> dict:
    return {"at": send_back.at, "by": send_back.by, "from_step": send_back.from_step,
            "to_step": send_back.to_step, "fields": [_field(f) for f in send_back.fields]}


def _field(shown: task_case.Shown) -> dict:
    return {"key": shown.key, "label": shown.label, "kind": shown.kind, "value": shown.value,
            "first": shown.first, "files": [_evidence(row) for row in shown.files]}


def _file_groups(keys: list[str]) -> list[list[str]]:
    """The form's file fields in order, a before/after pair as one group (shown side by side)."""
    pairs = dict(evidence.paired_keys(keys))
    afters = set(pairs.values())
    return [[key, pairs[key]] if key in pairs else [key] for key in keys if key not in afters]


def before_after(db, problem_id: int) -> list[dict]:
    """The problem's before/after photo pairs (整改前后对比), latest first, as plain data."""
    return [{"task_name": c.task_name, "completed_at": c.completed_at, "completed_by": c.completed_by,
             "before": [_evidence(row) for row in c.before], "after": [_evidence(row) for row in c.after]}
            for c in evidence.comparisons(db, problem_id)]


def _evidence(row: EvidenceFile, deletable: bool = False) -> dict:
    return {"id": row.id, "filename": row.filename, "image": shown_inline(row.content_type), "field": row.field,
            "size": row.size, "deletable": deletable}


def _without_files(form: dict) -> dict:
    """The schema the form-js viewer shows: file fields are the page's own upload widgets."""
    def strip(components):
        kept = []
        for component in components:
            if component.get("type") == "filepicker":
                continue
            if component.get("type") == "group":
                component = {**component, "components": strip(component.get("components", []))}
            kept.append(component)
        return kept
    return {**form, "components": strip(form.get("components", []))}
