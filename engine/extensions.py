"""Extension requests (延期申请): the chain of a problem asks, before its deadline, for a later
one; the rectification office (环督办) approves or refuses.

Approval moves the problem's deadline in the same transaction as the decision and its ledger
entry: the tasks that fall due at the deadline follow it, the ladder counts from the new
deadline (the scheduler plans again when the transaction commits), and the people who asked
are told.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from . import clock, ledger, lights, notifications, paging, problems
from .errors import Conflict, Invalid, NotFound
from .ledger import Action
from .models import ExtensionRequest, ExtensionStatus, HumanTask, Problem, ProblemStatus, Role, TaskState, User
from .workflow.serializer import specs_for


@dataclass(frozen=True)
class NewRequest:
    requested_deadline: date
    reason: str


def may_request(user: User, problem: Problem) -> bool:
    """The office, or someone in the problem's own chain (the discipline office watches, it
    does not ask)."""
    if user.has_role(Role.ADMIN):
        return True
    return not user.reads_everything and problems.may_see(user, problem)


def may_decide(user: User) -> bool:
    return user.has_role(Role.ADMIN)


def get(session: Session, request_id: int) -> ExtensionRequest:
    row = session.get(ExtensionRequest, request_id)
    if row is None:
        raise NotFound(f"no extension request with id {request_id}")
    return row


def of_problem(session: Session, problem_id: int) -> list[ExtensionRequest]:
    return list(session.scalars(select(ExtensionRequest).where(ExtensionRequest.problem_id == problem_id)
                                .order_by(ExtensionRequest.id)))


def page(session: Session, statement, number: int, size: int) -> paging.Paged:
    """One page of a select of requests, with the problem and the people it names loaded."""
    return paging.page(session, statement, number, size, joinedload(ExtensionRequest.problem),
                       joinedload(ExtensionRequest.requested_by), joinedload(ExtensionRequest.decided_by))


def listing(session: Session, status: ExtensionStatus | None = None) -> list[ExtensionRequest]:
    query = select(ExtensionRequest).order_by(ExtensionRequest.requested_at.desc(), ExtensionRequest.id.desc())
    if status is not None:
        query = query.where(ExtensionRequest.status == status)
    return list(session.scalars(query))


def file(session: Session, problem: Problem, new: NewRequest, actor: User, channels=None) -> ExtensionRequest:
    if problem.status == ProblemStatus.CLOSED:
        raise Invalid("a closed problem has no deadline to extend", {"problem": ["closed (已销号)"]})
    if problem.deadline is None:
        raise Invalid("this problem has no deadline to extend",
                      {"requested_deadline": [f"the problem is {problem.deadline_kind.label if problem.deadline_kind else 'without a deadline'}: there is no deadline to move"]})
    today = clock.today()
    if today > problem.deadline:
        raise Invalid("an extension must be requested before the deadline",
                      {"requested_deadline": [f"the deadline {problem.deadline.isoformat()} has passed "
                                              f"(today is {today.isoformat()})"]})
    if new.requested_deadline <= problem.deadline:
        raise Invalid("the requested deadline must be later than the current one",
                      {"requested_deadline": [f"must be after {problem.deadline.isoformat()}"]})
    if not new.reason.strip():
        raise Invalid("say why the extension is needed", {"reason": ["must not be empty"]})
    waiting = session.scalars(select(ExtensionRequest.id).where(
        ExtensionRequest.problem_id == problem.id, ExtensionRequest.status == ExtensionStatus.PENDING)).first()
    if waiting is not None:
        raise Conflict(f"extension request {waiting} for this problem is still waiting for a decision",
                       {"problem": [f"request {waiting} is pending"]})
    row = ExtensionRequest(problem=problem, status=ExtensionStatus.PENDING, current_deadline=problem.deadline,
                           requested_deadline=new.requested_deadline, reason=new.reason.strip(),
                           requested_by_id=actor.id, requested_at=clock.now())
    session.add(row)
    session.flush()
    ledger.record(session, Action.EXTENSION_REQUESTED, actor=actor, subject_type="extension_request",
                  subject_id=row.id, problem_id=problem.id,
                  payload={"from": problem.deadline.isoformat(), "to": new.requested_deadline.isoformat(),
                           "reason": row.reason})
    offices = session.scalars(select(User).where(User.active.is_(True))).all()
    notifications.notify(session, users=[u for u in offices if u.has_role(Role.ADMIN)],
                         subject=[notifications.words("extension.requested.subject", code=problem.code)],
                         body=[notifications.words(
                             "extension.requested.body", who=actor.display_name, code=problem.code,
                             title=problem.title, reason=row.reason,
                             from_on=problem.deadline.isoformat() if problem.deadline else None,
                             to_on=new.requested_deadline.isoformat())],
                         kind="extension_requested", problem_id=problem.id, payload={"request_id": row.id},
                         channels=channels)
    return row


def decide(session: Session, request: ExtensionRequest, actor: User, approve: bool,
           note: str | None = None, approved_deadline: date | None = None, calendar=None,
           light_rules=None, channels=None) -> ExtensionRequest:
    if request.status != ExtensionStatus.PENDING:
        raise Conflict(f"extension request {request.id} was already {request.status.label}",
                       {"status": [request.status.value]})
    problem = request.problem
    request.decided_by_id, request.decided_at = actor.id, clock.now()
    request.decision_note = (note or "").strip() or None
    if not approve:
        if not request.decision_note:
            raise Invalid("say why the request is refused", {"note": ["a refusal needs a reason"]})
        request.status = ExtensionStatus.REFUSED
        ledger.record(session, Action.EXTENSION_REFUSED, actor=actor, subject_type="extension_request",
                      subject_id=request.id, problem_id=problem.id, payload={"note": request.decision_note})
        _tell_requester(session, request, [notifications.words("extension.refused.subject", code=problem.code)],
                        [notifications.words("extension.refused.body", code=problem.code, title=problem.title,
                                             deadline_on=_iso(problem.deadline)),
                         notifications.words("extension.note", note=request.decision_note)], channels)
        return request
    new_deadline = approved_deadline or request.requested_deadline
    if problem.status == ProblemStatus.CLOSED or problem.deadline is None:
        raise Invalid("this problem has no open deadline any more", {"problem": ["closed or without a deadline"]})
    if new_deadline <= problem.deadline:
        raise Invalid("the approved deadline must be later than the current one",
                      {"approved_deadline": [f"must be after {problem.deadline.isoformat()}"]})
    before = problem.deadline
    request.status, request.approved_deadline = ExtensionStatus.APPROVED, new_deadline
    problem.deadline = new_deadline
    moved = _retime_tasks(session, problem, calendar)
    lights.update(problem, moved, calendar, clock.now(), light_rules)
    ledger.record(session, Action.EXTENSION_APPROVED, actor=actor, subject_type="extension_request",
                  subject_id=request.id, problem_id=problem.id,
                  payload={"from": before.isoformat(), "to": new_deadline.isoformat(),
                           "requested": request.requested_deadline.isoformat(), "note": request.decision_note,
                           "tasks_retimed": [task.id for task in moved]})
    said = [notifications.words("extension.approved.body", code=problem.code, title=problem.title,
                                from_on=_iso(before), to_on=_iso(new_deadline))]
    if request.decision_note:
        said.append(notifications.words("extension.note", note=request.decision_note))
    _tell_requester(session, request, [notifications.words("extension.approved.subject", code=problem.code)],
                    said, channels)
    return request


def _retime_tasks(session: Session, problem: Problem, calendar) -> list[HumanTask]:
    """Open tasks whose due time is the problem's deadline (`due="deadline"`) follow it."""
    moved = []
    tasks = session.scalars(select(HumanTask).where(HumanTask.problem_id == problem.id,
                                                    HumanTask.state == TaskState.READY))
    for task in tasks:
        spec, _ = specs_for(task.instance.definition)
        task_spec = spec.task_specs.get(task.element_id)
        properties = getattr(task_spec, "extensions", {}).get("properties", {}) if task_spec else {}
        if properties.get("due") == "deadline":
            task.due_at = calendar.end_of_day(problem.deadline)
            moved.append(task)
    return moved


def _tell_requester(session: Session, request: ExtensionRequest, subject: list, body: list, channels) -> None:
    problem = request.problem
    notifications.notify(session, users=[request.requested_by_id],
                         officials=[o for o in (problem.responsible_official,) if o is not None],
                         subject=subject, body=body, kind="extension_decided", problem_id=problem.id,
                         payload={"request_id": request.id, "status": request.status.value}, channels=channels)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
