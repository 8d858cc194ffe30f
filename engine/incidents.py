"""Incidents (流程异常): a process instance whose step failed, kept as a record instead of an
error that stops everything else.

Whatever SpiffWorkflow or diagram code raises while an instance is stepped (a script's
NameError, a gateway whose condition fails or matches nothing, a timer expression that does
not evaluate, a script's `raise SystemExit`) becomes a `Failure`: the element, the error and
SpiffWorkflow's task. The runtime keeps the instance's state as it stands after the failure
(the failed task in ERROR, so no timer fires twice), and `record` turns the failure into an
incident in the same transaction: the instance gets the status `error`, the incident is
written to the ledger and the rectification office (the users with the admin role) is told.
The scheduler retries an open incident with back-off (1, 2, 4 … minutes, capped: see
`Backoff`); `POST /api/incidents/<id>/retry` retries it at once, after the cause is fixed.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState

from . import clock, ledger, notifications
from .ledger import Action
from .models import InstanceStatus, ProcessInstance, Role, User, UserRole
from .models.incident import ERROR_TYPE_LENGTH, MESSAGE_LENGTH, Incident, IncidentStatus

log = logging.getLogger("duban.incidents")

# what a script can raise past `except Exception`; contained unless the process is really stopping
SCRIPT_EXITS = (SystemExit, KeyboardInterrupt, GeneratorExit)
_shutdown = threading.Event()
UNKNOWN_ELEMENT = "process"


# -- what is contained ----------------------------------------------------------------------------

def request_shutdown() -> None:
    """The process is really stopping (Ctrl-C, a signal): SystemExit and KeyboardInterrupt are
    no longer taken for a script's."""
    _shutdown.set()


def contained(error: BaseException) -> bool:
    """Whether `error`, raised while stepping an instance or running a stage of the
    scheduler, is a failure to contain (an incident, a logged stage) rather than the end of
    the process."""
    if isinstance(error, Exception):
        return True
    return isinstance(error, SCRIPT_EXITS) and not _shutdown.is_set()


def watch_for_shutdown() -> None:
    """In a command's main thread: Ctrl-C marks a real shutdown before it interrupts, so
    that it is not taken for a script's KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupted(signum, frame):
        request_shutdown()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)


# -- back-off -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Backoff:
    """Automatic retries of an open incident: `first` after the first failure, doubling after
    each failed retry, never further apart than `cap`. DUBAN_INCIDENT_RETRY_MINUTES (default
    1) and DUBAN_INCIDENT_RETRY_MAX_MINUTES (default 240) set them."""

    first: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(hours=4)

    def after(self, attempts: int) -> timedelta:
        return min(self.first * (2 ** min(max(attempts, 1) - 1, 30)), self.cap)

    @classmethod
    def from_env(cls) -> "Backoff":
        def minutes(name: str, default: float) -> timedelta:
            text = (os.environ.get(name) or "").strip()
            try:
                value = float(text) if text else default
            except ValueError:
                raise ValueError(f"{name}={text!r} is not a number of minutes") from None
            if value <= 0:
                raise ValueError(f"{name} must be more than 0 minutes")
            return timedelta(minutes=value)

        first = minutes("DUBAN_INCIDENT_RETRY_MINUTES", 1)
        return cls(first, max(first, minutes("DUBAN_INCIDENT_RETRY_MAX_MINUTES", 240)))


# -- a failure --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Failure:
    """Where and why a step failed."""

    element_id: str
    element_name: str | None
    task_id: str | None
    error_type: str
    message: str

    @classmethod
    def of(cls, error: BaseException, workflow=None) -> "Failure":
        task = failed_task(error, workflow)
        spec = getattr(error, "task_spec", None) or (task.task_spec if task is not None else None)
        element = getattr(spec, "bpmn_id", None) or UNKNOWN_ELEMENT
        name = getattr(spec, "bpmn_name", None)
        error_type = str(getattr(error, "error_type", None) or type(error).__name__)
        return cls(element[:100], name[:200] if name else None, str(task.id) if task is not None else None,
                   error_type[:ERROR_TYPE_LENGTH], describe(error))


def failed_task(error: BaseException, workflow=None) -> SpiffTask | None:
    """SpiffWorkflow's task that failed: the error's own, else the task being run when it was
    raised (from the traceback: a script's SystemExit names none), else the task in ERROR
    at the element the error names."""
    task = getattr(error, "task", None)
    if isinstance(task, SpiffTask):
        return task
    running = None
    for frame, _line in traceback.walk_tb(error.__traceback__):
        candidate = frame.f_locals.get("self")
        if not isinstance(candidate, SpiffTask):
            candidate = frame.f_locals.get("my_task")
        if isinstance(candidate, SpiffTask):
            running = candidate
    if running is not None:
        return running
    spec = getattr(error, "task_spec", None)
    if workflow is not None and spec is not None:
        for candidate in workflow.get_tasks(state=TaskState.ERROR, spec_name=spec.name):
            return candidate
    return None


def describe(error: BaseException) -> str:
    """The error in one bounded message, with the script's line where SpiffWorkflow knows it."""
    text = " ".join(str(error).split()) or f"the diagram's code raised {type(error).__name__}"
    cause = error.__cause__ or error.__context__
    said = " ".join(str(cause).split()) if cause is not None else ""
    if said and said not in text and getattr(error, "error_type", None) == type(cause).__name__:
        text += f": {said}"  # SpiffWorkflow's "Error evaluating expression 'x'" lacks the why
    line, source = getattr(error, "line_number", None), getattr(error, "error_line", None)
    if line:
        text += f" (line {line}: {' '.join(str(source or '').split())})"
    return text if len(text) <= MESSAGE_LENGTH else text[:MESSAGE_LENGTH - 1] + "…"


def step(workflow, action) -> Failure | None:
    """Run `action` on a workflow; what SpiffWorkflow or the diagram's code raises comes back
    as a Failure (the failed task left in ERROR), never as an exception, unless the process
    itself is shutting down."""
    try:
        action()
    except BaseException as error:  # noqa: BLE001 - a script's SystemExit too (see `contained`)
        if not contained(error):
            raise
        failure = Failure.of(error, workflow)
        if isinstance(error, SCRIPT_EXITS) and failure.task_id:
            task = workflow.tasks.get(UUID(failure.task_id))
            if task is not None and task.state in (TaskState.READY, TaskState.STARTED):
                task.error()  # as SpiffWorkflow does for an Exception: it must not run again unasked
        return failure
    return None


# -- the record -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class View:
    """An incident as the API and the command line show it."""

    id: int
    instance_id: int
    problem_id: int
    problem_code: str
    process: str
    element_id: str
    element_name: str | None
    error_type: str
    message: str
    happened_at: datetime
    last_attempt_at: datetime
    attempts: int
    next_retry_at: datetime | None
    status: str
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None = None
    note: str | None = None
    version: int | None = None

    @classmethod
    def of(cls, row: Incident) -> "View":
        return cls(row.id, row.instance_id, row.problem_id, row.problem.code, row.instance.definition.key,
                   row.element_id, row.element_name, row.error_type, row.message, row.happened_at,
                   row.last_attempt_at, row.attempts, row.next_retry_at, row.status.value, row.resolved_at,
                   row.resolved_by.username if row.resolved_by else None, row.resolution, row.note,
                   row.instance.definition.version)

    def line(self) -> str:
        element = f"{self.element_id}（{self.element_name}）" if self.element_name else self.element_id
        return (f"incident {self.id}: instance {self.instance_id}, problem {self.problem_code}, {element}: "
                f"{self.error_type}: {self.message}")


def record(session: Session, instance: ProcessInstance, failure: Failure, actor: User | None,
           backoff: Backoff, channels=None) -> Incident:
    """The instance stopped at `failure`, in the caller's transaction: an incident opened, or
    one more failed attempt counted on the open incident of the same element."""
    now = clock.now()
    open_one = session.scalars(select(Incident).where(
        Incident.instance_id == instance.id, Incident.status == IncidentStatus.OPEN,
        Incident.element_id == failure.element_id).order_by(Incident.id).limit(1)).first()
    if open_one is not None:
        return failed_again(session, open_one, failure, actor, backoff)
    incident = Incident(instance_id=instance.id, problem_id=instance.problem_id, element_id=failure.element_id,
                        element_name=failure.element_name, task_id=failure.task_id, error_type=failure.error_type,
                        message=failure.message, happened_at=now, last_attempt_at=now, attempts=1,
                        next_retry_at=now + backoff.after(1), status=IncidentStatus.OPEN)
    session.add(incident)
    session.flush()
    _stop(instance, failure)
    payload = {"incident": incident.id, "instance": instance.id, "process": instance.definition.key,
               "element": failure.element_id, "element_name": failure.element_name,
               "error_type": failure.error_type, "message": failure.message}
    ledger.record(session, Action.INCIDENT_OPENED, actor=actor, subject_type="incident", subject_id=incident.id,
                  problem_id=instance.problem_id, payload=payload)
    problem = instance.problem
    where = failure.element_name or failure.element_id
    notifications.notify(
        session, users=office(session), kind="incident.opened", problem_id=problem.id, payload=payload,
        subject=f"流程异常：{problem.code}「{where}」", channels=channels,
        body=(f"问题 {problem.code}「{problem.title}」的{instance.definition.name or instance.definition.key}流程"
              f"在「{where}」出错，已停在此处：{failure.error_type}: {failure.message}。"
              f"系统将自动重试；排除原因后可立即重试（异常编号 {incident.id}）。"))
    log.warning("incident %s: instance %s (problem %s) stopped at %s: %s: %s", incident.id, instance.id,
                problem.code, failure.element_id, failure.error_type, failure.message)
    return incident


def failed_again(session: Session, incident: Incident, failure: Failure, actor: User | None,
                 backoff: Backoff, reason: str | None = None) -> Incident:
    """A retry (or the same element again) failed: one more attempt, the new error, a later retry."""
    now = clock.now()
    incident.attempts += 1
    incident.last_attempt_at = now
    incident.error_type, incident.message = failure.error_type, failure.message
    incident.task_id = failure.task_id or incident.task_id
    incident.next_retry_at = now + backoff.after(incident.attempts)
    _stop(incident.instance, failure)
    ledger.record(session, Action.INCIDENT_RETRIED, actor=actor, subject_type="incident", subject_id=incident.id,
                  problem_id=incident.problem_id,
                  payload={"incident": incident.id, "instance": incident.instance_id, "attempt": incident.attempts,
                           "outcome": "failed", "error_type": failure.error_type, "message": failure.message,
                           "next_retry_at": incident.next_retry_at.isoformat(),
                           **({"reason": reason} if reason else {})})
    log.info("incident %s failed again (attempt %s): %s: %s; next retry at %s", incident.id, incident.attempts,
             failure.error_type, failure.message, incident.next_retry_at.isoformat())
    return incident


def resolve(session: Session, incident: Incident, actor: User | None, resolution: str = "retried",
            note: str | None = None) -> None:
    """The incident's step ran (or a person repaired the instance otherwise: `resolution`
    moved, migrated, cancelled, with their reason in `note`): the incident is resolved, and
    the instance runs again unless another of its incidents is open or it has ended."""
    now = clock.now()
    incident.status, incident.resolved_at, incident.next_retry_at = IncidentStatus.RESOLVED, now, None
    incident.resolved_by_id = actor.id if actor else None
    incident.resolution, incident.note = resolution, note
    instance = incident.instance
    session.flush()
    others = session.scalar(select(func.count()).select_from(Incident).where(
        Incident.instance_id == instance.id, Incident.status == IncidentStatus.OPEN))
    if not others and instance.status == InstanceStatus.ERROR:
        instance.status, instance.error = InstanceStatus.RUNNING, None
    flag_modified(instance, "status")  # always written: the version counter orders concurrent retries
    ledger.record(session, Action.INCIDENT_RESOLVED, actor=actor, subject_type="incident", subject_id=incident.id,
                  problem_id=incident.problem_id,
                  payload={"incident": incident.id, "instance": incident.instance_id, "attempts": incident.attempts,
                           "element": incident.element_id, "resolution": resolution,
                           **({"note": note} if note else {})})
    log.info("incident %s resolved after %s failed attempt(s)", incident.id, incident.attempts)


def _stop(instance: ProcessInstance, failure: Failure) -> None:
    if instance.status != InstanceStatus.COMPLETED:
        instance.status = InstanceStatus.ERROR
    instance.error = f"{failure.element_id}: {failure.error_type}: {failure.message}"
    flag_modified(instance, "error")  # always written: the version counter orders concurrent retries


def office(session: Session) -> list[int]:
    """The rectification office: every active user with the admin role."""
    return list(session.scalars(select(User.id).join(UserRole).where(
        UserRole.role == Role.ADMIN, User.active.is_(True)).order_by(User.id)))


# -- reading ----------------------------------------------------------------------------------------

def get(session: Session, incident_id: int) -> Incident:
    from .errors import NotFound

    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"no incident with id {incident_id}")
    return incident


def page(session: Session, status: IncidentStatus | None, number: int, per_page: int) -> tuple[list[View], int]:
    """Incidents, newest first, one page of them, and how many there are."""
    statement = select(Incident)
    if status is not None:
        statement = statement.where(Incident.status == status)
    total = session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = session.scalars(statement.order_by(Incident.id.desc()).offset((number - 1) * per_page).limit(per_page))
    return [View.of(row) for row in rows], total


def due(session: Session, by: datetime) -> list[int]:
    """Open incidents whose next retry has come, soonest first."""
    return list(session.scalars(select(Incident.id).where(
        Incident.status == IncidentStatus.OPEN, Incident.next_retry_at <= by).order_by(Incident.next_retry_at)))


def next_retry(session: Session) -> datetime | None:
    return session.scalar(select(func.min(Incident.next_retry_at)).where(Incident.status == IncidentStatus.OPEN))


def open_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Incident).where(Incident.status == IncidentStatus.OPEN))


def open_on(session: Session, instance_ids) -> list[View]:
    ids = list(instance_ids)
    if not ids:
        return []
    return [View.of(row) for row in session.scalars(select(Incident).where(
        Incident.instance_id.in_(ids), Incident.status == IncidentStatus.OPEN).order_by(Incident.id))]
