"""Repairing running work (流程修复): an administrator moves an instance's token (redo or skip a
step), puts it on another version of its process, or ends it (终止流程); with or without an
incident. Retrying an incident's step is engine/incident_desk.py's.

Each action takes a reason, runs in one transaction (the workflow state, the task rows, the
incidents, the ledger entry with who and why) and changes nothing when it is refused: a 4xx
names the field at fault. Migrating every open instance of a version (engine/version_migration.py)
runs one instance per transaction through `migrate_in`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from SpiffWorkflow.util.task import TaskState as SpiffState

from . import clock, incidents, ledger, lights
from .assignment import ChainRole, assign, subject_of
from .errors import Conflict, DubanError, Invalid, NotFound
from .ledger import Action
from .models import (DefinitionStatus, HumanTask, Incident, IncidentStatus, InstanceStatus, ProcessDefinition, ProcessInstance, Role,
                     TaskState, User)
from .workflow import migration
from .workflow.runtime import WorkflowFailure
from .workflow.serializer import specs_for, state_to_dict

log = logging.getLogger("duban.repair")

REASON_MAX = 2000
MAX_ID = 2**31 - 1  # a database integer
ENDED = (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED)


@dataclass(frozen=True)
class Repaired:
    """What a repair did: the instance afterwards and the ledger entry's details."""

    instance_id: int
    problem_id: int
    problem_code: str
    action: str                      # moved, migrated, cancelled
    status: str                      # the instance's status afterwards
    process: str
    version: int
    current_tasks: list[dict]        # {element_id, name} of the ready tasks afterwards
    incident: incidents.View | None  # the incident open for the instance afterwards, if any
    detail: dict = field(default_factory=dict)


def reason_of(text) -> str:
    reason = " ".join(str(text or "").split())
    if not reason:
        raise Invalid("a reason is required", {"reason": ["give the reason for this repair (理由)"]})
    if len(reason) > REASON_MAX:
        raise Invalid("the reason is too long", {"reason": [f"at most {REASON_MAX} characters"]})
    return reason


class RepairDesk:
    def __init__(self, duban):
        self.duban = duban

    # -- the doors ------------------------------------------------------------------------------

    def move(self, user_id: int, instance_id: int | None, reason, to_element: str, from_element: str | None = None,
             incident_id: int | None = None) -> Repaired:
        reason = reason_of(reason)
        if not to_element:
            raise Invalid("no target element", {"to_element": ["name the element to move the token to"]})

        def change(session, instance, actor, incident):
            workflow = self.duban.runtime.load(instance)
            outcome = migration.move(workflow, to_element, from_element, stuck_task(session, instance, incident))
            detail = {"from": outcome.tokens[0]["element"], "to": to_element, "direction": outcome.direction,
                      "skipped": outcome.skipped}
            _record(session, Action.INSTANCE_MOVED, instance, actor, reason, incident, detail)
            return "moved", detail, self._settle(session, instance, workflow, actor, "moved", reason)

        return self._act(user_id, instance_id, incident_id, "move the token of instance {}", change)

    def cancel(self, user_id: int, instance_id: int | None, reason, incident_id: int | None = None) -> Repaired:
        reason = reason_of(reason)

        def change(session, instance, actor, incident):
            return "cancelled", *cancel_in(session, self.duban.runtime, instance, actor, reason, incident)

        return self._act(user_id, instance_id, incident_id, "cancel instance {}", change)

    def migrate(self, user_id: int, instance_id: int | None, reason, to_version, choices: dict | None = None,
                process: str | None = None, incident_id: int | None = None) -> Repaired:
        reason = reason_of(reason)

        def change(session, instance, actor, incident):
            target = target_version(session, instance.definition, to_version, process)
            try:
                detail, now_open = migrate_in(session, self.duban.runtime, instance, target, actor, reason,
                                              choices or {}, incident)
            except ValueError as error:  # the migrated state would not load
                raise Invalid("the instance cannot be migrated", {"to_version": [str(error)]}) from None
            return "migrated", detail, now_open

        return self._act(user_id, instance_id, incident_id, "migrate instance {}", change)

    # -- one transaction per repair --------------------------------------------------------------

    def _act(self, user_id, instance_id, incident_id, what, change) -> Repaired:
        duban = self.duban
        if max(incident_id or 0, instance_id or 0) > MAX_ID:
            raise NotFound(f"no {'incident' if incident_id else 'process instance'} with that id")
        with duban.db.reading() as session:
            if incident_id is not None:
                instance_id = incidents.get(session, incident_id).instance_id
            instance = session.get(ProcessInstance, instance_id)
            if instance is None:
                raise NotFound(f"no process instance with id {instance_id}")
            allowed = duban.actor(session, user_id).has_role(Role.ADMIN)
            problem_id = instance.problem_id
        what = what.format(instance_id)
        if not allowed:
            duban.deny(user_id, what, "process_instance", instance_id, problem_id)
        try:
            with duban.db.transaction() as session:
                duban._calendar(session)
                actor = duban.actor(session, user_id)
                instance = session.get(ProcessInstance, instance_id)
                incident = None
                if incident_id is not None:
                    incident = session.get(Incident, incident_id)
                    if incident.status != IncidentStatus.OPEN:
                        raise Conflict(f"incident {incident_id} is already resolved")
                if instance.status in ENDED:
                    raise Conflict(f"instance {instance_id} has ended ({instance.status.value}): nothing to repair")
                try:
                    action, detail, now_open = change(session, instance, actor, incident)
                    session.flush()
                except (DubanError, StaleDataError):
                    raise
                except Exception as error:  # noqa: BLE001 - the engine refused the change: nothing is written
                    log.warning("%s failed: %s: %s", what, type(error).__name__, error)
                    raise WorkflowFailure(f"could not {what}: {type(error).__name__}: {error}") from error
                return _repaired(session, instance, action, detail, now_open)
        except StaleDataError:
            raise Conflict(f"instance {instance_id} changed at the same moment; try again") from None

    def _settle(self, session, instance, workflow, actor, resolution: str, reason: str):
        return settle(session, self.duban.runtime, instance, workflow, actor, resolution, reason)


# -- the changes, inside the caller's transaction ------------------------------------------------

def settle(session: Session, runtime, instance: ProcessInstance, workflow, actor: User | None, resolution: str,
           reason: str) -> Incident | None:
    """The engine steps after a repair, and the instance's incidents brought in line: one at
    an element that fails again counts one more attempt, the others whose task is no longer
    stuck in error are resolved with the repair's reason."""
    now_open = runtime.settle(session, instance, workflow, actor)
    stuck = {str(t.id) for t in workflow.get_tasks(state=SpiffState.ERROR)}
    for incident in session.scalars(select(Incident).where(Incident.instance_id == instance.id,
                                                           Incident.status == IncidentStatus.OPEN)
                                    .order_by(Incident.id)).all():
        if incident is now_open or (incident.task_id and incident.task_id in stuck):
            continue
        incidents.resolve(session, incident, actor, resolution, reason)
    return now_open


def cancel_in(session: Session, runtime, instance: ProcessInstance, actor: User | None, reason: str,
              incident: Incident | None):
    """End an instance (终止流程): its workflow cancelled, its ready tasks cancelled, no timer
    left for the scheduler, its open incidents resolved with the reason. The problem stays."""
    workflow = runtime.load(instance)
    waiting = [t.task_spec.bpmn_id for t in migration.tokens(workflow)]
    workflow.cancel()
    now = clock.now()
    for row in instance.tasks:
        if row.state == TaskState.READY:
            row.state = TaskState.CANCELLED
            ledger.record(session, Action.TASK_CANCELLED, actor=actor, subject_type="human_task", subject_id=row.id,
                          problem_id=instance.problem_id, payload={"element": row.element_id, "name": row.name})
    instance.status, instance.ended_at, instance.next_wakeup_at, instance.error = InstanceStatus.CANCELLED, now, None, None
    instance.state = state_to_dict(workflow)
    detail = {"waiting": waiting}
    _record(session, Action.INSTANCE_CANCELLED, instance, actor, reason, incident, detail)
    for open_one in session.scalars(select(Incident).where(Incident.instance_id == instance.id,
                                                           Incident.status == IncidentStatus.OPEN)).all():
        incidents.resolve(session, open_one, actor, "cancelled", reason)
    lights.update(instance.problem, instance.tasks, runtime.calendar, now, runtime.light_rules)
    session.flush()
    return detail, None


def target_version(session: Session, current: ProcessDefinition, to_version, process: str | None = None):
    if process and process != current.key:
        raise Invalid("another process", {"process": [
            f"the instance runs process {current.key}; it cannot move to process {process}"]})
    try:
        number = int(to_version)
    except (TypeError, ValueError):
        raise Invalid("no version", {"to_version": ["give the version number to migrate to"]}) from None
    target = session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == current.key,
                                                             ProcessDefinition.version == number)).first()
    if target is None:
        raise Invalid("no such version", {"to_version": [f"process {current.key} has no version {number}"]})
    if target.id == current.id:
        raise Invalid("same version", {"to_version": [f"the instance already runs on version {number}"]})
    if target.status == DefinitionStatus.DRAFT:
        raise Invalid("a draft", {"to_version": [f"version {number} of {current.key} is a draft: publish it first"]})
    return target


def migrate_in(session: Session, runtime, instance: ProcessInstance, target: ProcessDefinition, actor: User | None,
               reason: str, choices: dict, incident: Incident | None = None):
    """Put one instance on `target` in the caller's transaction: the workflow migrated, its
    task rows renamed, reassigned and their due times counted again from when they were
    opened, new ones created, old ones cancelled; the incidents brought in line; the state
    proved to load. ValueError when the migrated state would not load; Invalid when a
    waiting task without counterpart has no (valid) choice."""
    workflow = runtime.load(instance)
    spec, subprocess_specs = specs_for(target)
    source = instance.definition
    outcome = migration.migrate(workflow, spec, subprocess_specs, choices, stuck_task(session, instance, incident))
    instance.definition = target
    detail = {"from_version": source.version, "to_version": target.version, "tokens": outcome.tokens,
              "removed_history": outcome.spliced}
    detail["tasks"] = _realign(session, runtime, instance, workflow, actor, target)
    _record(session, Action.INSTANCE_MIGRATED, instance, actor, reason, incident, detail)
    now_open = settle(session, runtime, instance, workflow, actor, "migrated", reason)
    migration.proves_loadable_state(instance.state, target, runtime.script_engine)
    return detail, now_open


def stuck_task(session: Session, instance: ProcessInstance, incident: Incident | None) -> str | None:
    """SpiffWorkflow's task an incident of the instance stopped at (the given one, else its
    first open one): a token even when it never started (a timer whose expression failed)."""
    if incident is not None:
        return incident.task_id
    return session.scalar(select(Incident.task_id).where(Incident.instance_id == instance.id,
                                                         Incident.status == IncidentStatus.OPEN)
                          .order_by(Incident.id).limit(1))


def _realign(session, runtime, instance, workflow, actor, target) -> list[dict]:
    """Ready task rows whose task is still waiting after a migration follow their element's
    new name, lane and due time (counted from when the task was opened)."""
    changed = []
    problem = instance.problem
    for row in instance.tasks:
        if row.state != TaskState.READY:
            continue
        task = workflow.tasks.get(UUID(row.spiff_task_id))
        if task is None or task.state != SpiffState.READY:
            continue  # cancelled by the engine step that follows
        spec = task.task_spec
        before = {"element": row.element_id, "name": row.name, "lane": row.lane,
                  "due_at": row.due_at.isoformat() if row.due_at else None}
        row.element_id, row.name = spec.bpmn_id, spec.bpmn_name or spec.bpmn_id
        lane = spec.lane or ""
        if lane != row.lane:
            who = assign(session, problem, runtime.lane_roles.get(lane, ChainRole.OFFICE), subject_of(session, instance))
            row.lane, row.assignee_id = lane, who.assignee_id
            row.candidate_unit_id, row.candidate_role = who.candidate_unit_id, who.candidate_role
        due = runtime._due(getattr(spec, "extensions", {}).get("properties", {}), problem, start=row.created_at)
        if due != row.due_at:
            ledger.record(session, Action.TASK_DUE_RECOMPUTED, actor=actor, subject_type="human_task",
                          subject_id=row.id, problem_id=row.problem_id,
                          payload={"element": row.element_id, "name": row.name,
                                   "from": before["due_at"], "to": due.isoformat() if due else None,
                                   "reason": f"migrated to version {target.version}"})
            row.due_at = due
        after = {"element": row.element_id, "name": row.name, "lane": row.lane,
                 "due_at": row.due_at.isoformat() if row.due_at else None}
        if after != before:
            changed.append({"task": row.id, "before": before, "after": after})
    session.flush()
    return changed


def _record(session, action: Action, instance, actor, reason: str, incident, detail: dict) -> None:
    ledger.record(session, action, actor=actor, subject_type="process_instance", subject_id=instance.id,
                  problem_id=instance.problem_id,
                  payload={"instance": instance.id, "process": instance.definition.key,
                           "version": instance.definition.version, "reason": reason,
                           **({"incident": incident.id} if incident is not None else {}), **detail})


def _repaired(session, instance, action, detail, now_open) -> Repaired:
    open_one = now_open
    if open_one is None:
        open_one = session.scalars(select(Incident).where(Incident.instance_id == instance.id,
                                                          Incident.status == IncidentStatus.OPEN)
                                   .order_by(Incident.id).limit(1)).first()
    ready = session.execute(select(HumanTask.element_id, HumanTask.name).where(
        HumanTask.instance_id == instance.id, HumanTask.state == TaskState.READY).order_by(HumanTask.id)).all()
    return Repaired(instance.id, instance.problem_id, instance.problem.code, action, instance.status.value,
                    instance.definition.key, instance.definition.version,
                    [{"element_id": e, "name": n} for e, n in ready],
                    incidents.View.of(open_one) if open_one is not None else None, detail)


# -- reading: an incident with what its repair needs ----------------------------------------------

def incident_case(session: Session, runtime, incident: Incident, target_version: int | None = None) -> dict:
    """An incident with its instance's version, diagram, data, the elements a token may go to,
    the other versions of the process and the tasks the instance waits at (for its page)."""
    instance = incident.instance
    definition = instance.definition
    data, waiting, error = {}, [], None
    try:
        workflow = runtime.load(instance)
        task = workflow.tasks.get(UUID(incident.task_id)) if incident.task_id else None
        task = task or workflow.last_task or workflow.task_tree
        data = dict(task.data) if task is not None else {}
        waiting = [t.task_spec.bpmn_id for t in migration.tokens(workflow, incident.task_id)]
    except Exception as failure:  # noqa: BLE001 - a state that does not load is shown, not raised
        error = f"{type(failure).__name__}: {failure}"
    spec, _ = specs_for(definition)
    versions = list(session.scalars(select(ProcessDefinition.version).where(
        ProcessDefinition.key == definition.key, ProcessDefinition.id != definition.id)
        .order_by(ProcessDefinition.version.desc())))
    return {"incident": incidents.View.of(incident), "instance_id": instance.id,
            "instance_status": instance.status.value, "process": definition.key, "process_name": definition.name,
            "version": definition.version, "xml": definition.bpmn_xml, "data": data, "waiting": waiting,
            "elements": migration.elements(spec), "versions": versions, "load_error": error,
            "target_elements": _elements_of(session, definition.key, target_version),
            "problem_title": instance.problem.title}


def _elements_of(session: Session, key: str, version: int | None) -> list:
    if not version or version > MAX_ID:
        return []
    target = session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                             ProcessDefinition.version == version)).first()
    return migration.elements(specs_for(target)[0]) if target is not None else []
