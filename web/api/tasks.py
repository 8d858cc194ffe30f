from __future__ import annotations

from engine import incidents, lights, tasks
from engine.models import HumanTask, Light, TaskState

from .common import BEARER, Blueprint, calendar_of, caller_id, duban, reply, reply_json, reply_page
from .schemas import CompleteIn, LightCounts, TaskDetail, TaskPage, TaskPageQuery, TaskQuery

blp = Blueprint("tasks", __name__, url_prefix="/api", description="Human tasks (待办)")


@blp.get("/tasks")
@blp.arguments(TaskPageQuery, location="query")
@blp.response(200, TaskPage)
@blp.doc(security=BEARER)
def list_tasks(query):
    """The caller's tasks, soonest due first (then by id), a page at a time; `all=true` lets
    admins and the discipline office see everyone's."""
    app = duban()
    with app.db.reading() as session:
        viewer = app.actor(session, caller_id())
        statement = tasks.query(viewer, everyone=query["all"], state=TaskState(query["state"]),
                                problem_id=query.get("problem"),
                                light=Light(query["light"]) if "light" in query else None)
        found = tasks.page(session, statement, query["page"], query["per_page"])
        calendar_of(session)
        return reply_page(TaskPage(), found, query)


@blp.get("/tasks/lights")
@blp.arguments(TaskQuery, location="query")
@blp.response(200, LightCounts)
@blp.doc(security=BEARER)
def count_lights(query):
    """How many of the caller's tasks (`all=true`: everyone's, for admins and the discipline
    office) show each traffic light, with the same filters as the list (ready tasks by default)."""
    app = duban()
    with app.db.reading() as session:
        viewer = app.actor(session, caller_id())
        statement = tasks.query(viewer, everyone=query["all"], state=TaskState(query["state"]),
                                problem_id=query.get("problem"), light=Light(query["light"]) if "light" in query else None)
        return reply(LightCounts(), lights.counts(session, statement, HumanTask.light))


@blp.get("/tasks/<int:task_id>")
@blp.response(200, TaskDetail)
@blp.doc(security=BEARER)
def get_task(task_id: int):
    """One task with the form-js schema of its form, and the open incident of its process if any."""
    return _task(task_id)


def _task(task_id: int, incident=False):
    """The task as TaskDetail; `incident` (an incidents.View or None) replaces the lookup of
    the process's open incident."""
    app = duban()
    user_id = caller_id()
    with app.db.reading() as session:
        viewer = app.actor(session, user_id)
        task = tasks.get(session, task_id)
        if viewer.reads_everything or tasks.may_complete(viewer, task):
            return reply(TaskDetail(), _detail(session, task_id, incident))
        problem_id = task.problem_id
    app.deny(user_id, f"see task {task_id}", "human_task", task_id, problem_id)


def _detail(session, task_id: int, incident=False):
    app = duban()
    task = tasks.get(session, task_id)
    task.form = task.instance.definition.forms.get(task.element_id)
    task.form_context = app.runtime.form_context(task)
    if incident is False:
        found = incidents.open_on(session, [task.instance_id])
        incident = found[0] if found else None
    task.incident = incident
    return task


@blp.post("/tasks/<int:task_id>/complete")
@blp.arguments(CompleteIn)
@blp.response(200, TaskDetail)
@blp.doc(security=BEARER)
def complete_task(body, task_id: int):
    """Complete a task with its form's data: `{"data": {field: value}}`; the answer is the task
    as the completion committed it.

    When a step after the task fails (a script, a condition, a timer expression of the
    process), the completion stands and the answer is still 200: the process stops at that
    step as an incident, named in `incident`, for the rectification office to retry."""
    return reply_json(duban().complete_task(caller_id(), task_id, body["data"], answer=_completed))


def _completed(session, task_id: int) -> dict:
    """The answer to a completion, built in its transaction."""
    calendar_of(session)
    return TaskDetail().dump(_detail(session, task_id))
