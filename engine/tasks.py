"""Who may see and do which human task."""
from __future__ import annotations

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, defer, joinedload

from . import paging
from .errors import NotFound
from .models import HumanTask, InstanceStatus, Light, Problem, ProcessDefinition, ProcessInstance, TaskState, User


def assigned_to(user: User) -> list:
    conditions = [HumanTask.assignee_id == user.id]
    units = user.unit_ids()
    if units:
        conditions.append(HumanTask.candidate_unit_id.in_(units))
    if user.roles:
        conditions.append(HumanTask.candidate_role.in_(list(user.roles)))
    return conditions


def may_complete(user: User, task: HumanTask) -> bool:
    return (task.assignee_id == user.id
            or (task.candidate_unit_id is not None and task.candidate_unit_id in user.unit_ids())
            or (task.candidate_role is not None and task.candidate_role in user.roles))


def query(user: User, everyone: bool = False, state: TaskState | None = TaskState.READY,
          problem_id: int | None = None, light: Light | None = None) -> Select:
    statement = select(HumanTask)
    if not (everyone and user.reads_everything):
        statement = statement.where(or_(*assigned_to(user)))
    if state is not None:
        statement = statement.where(HumanTask.state == state)
    if problem_id is not None:
        statement = statement.where(HumanTask.problem_id == problem_id)
    if light is not None:
        statement = statement.where(HumanTask.light == light)
    return statement.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id)


def page(session: Session, statement: Select, number: int, size: int) -> paging.Paged:
    """One page of a `query`, in its order (soonest due first, then id), with what a listed
    task names (problem, assignee, unit, completer) loaded in the same statement."""
    return paging.page(session, statement, number, size, joinedload(HumanTask.problem),
                       joinedload(HumanTask.assignee), joinedload(HumanTask.candidate_unit),
                       joinedload(HumanTask.completed_by))


def open_on(problem_id: int) -> Select:
    """Every ready task of a problem: where its work stands now, whoever holds it."""
    return (select(HumanTask).where(HumanTask.problem_id == problem_id, HumanTask.state == TaskState.READY)
            .order_by(HumanTask.id))


def current_steps(session: Session, problem_ids: list[int]) -> dict[int, list[str]]:
    """当前环节: for each problem, the names of the ready tasks of its open instances, in the
    order they became ready; one grouped query for a page of problems."""
    if not problem_ids:
        return {}
    rows = session.execute(
        select(HumanTask.problem_id, HumanTask.name)
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .where(HumanTask.problem_id.in_(problem_ids), HumanTask.state == TaskState.READY,
               ProcessInstance.status == InstanceStatus.RUNNING)
        .group_by(HumanTask.problem_id, HumanTask.name)
        .order_by(HumanTask.problem_id, func.min(HumanTask.id)))
    found: dict[int, list[str]] = {}
    for problem_id, name in rows:
        found.setdefault(problem_id, []).append(name)
    return found


def get(session: Session, task_id: int) -> HumanTask:
    task = session.get(HumanTask, task_id)
    if task is None:
        raise NotFound(f"no task with id {task_id}")
    return task


def _with_its_instance(rehearsal: bool = False) -> list:
    """What completing a task reads of it: its instance and the version it runs on (one joined
    query; the stored document and spec only if the parsed spec is not cached yet), and for the
    completion itself the problem with its milestones."""
    instance = joinedload(HumanTask.instance)
    options = [instance.joinedload(ProcessInstance.definition).options(
        defer(ProcessDefinition.bpmn_xml), defer(ProcessDefinition.spec))]
    if not rehearsal:  # (the instance's tasks are read later, under the ledger's lock: Runtime.complete)
        options += [instance.joinedload(ProcessInstance.problem).selectinload(Problem.milestones)]
    return options


def for_completion(session: Session, task_id: int, rehearsal: bool = False) -> HumanTask:
    """The task with what completing it reads, in a fixed few queries (`rehearsal`: only the
    instance and its version, for running its scripts ahead)."""
    task = session.get(HumanTask, task_id, options=_with_its_instance(rehearsal))
    if task is None:
        raise NotFound(f"no task with id {task_id}")
    return task
