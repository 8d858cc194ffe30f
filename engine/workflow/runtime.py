"""Running processes: deploy, start, complete a task, fire due timers.

Each public method works inside the caller's transaction (one action = one transaction): the
workflow state, the human-task rows, the problem's status and the ledger entries are written
together or not at all. The instance row carries a version counter, so two actions based on
the same state cannot both be saved.
"""
from __future__ import annotations

import threading
from datetime import datetime
from uuid import UUID

from sqlalchemy import or_, select
from marshmallow import ValidationError
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState as SpiffState

from .. import accountability, clock, evidence, incidents, ledger, lights, notifications, plans
from ..assignment import ChainRole, assign, load_lane_roles, subject_of
from ..calendar import WorkingCalendar, default_calendar
from ..errors import Conflict, DubanError, Invalid, field_errors
from ..escalation import due_moments
from ..settings import NotificationSettings, ScriptLimits
from ..ledger import Action
from ..models import (EscalationEvent, EvidenceFile, HumanTask, Incident, InstanceStatus, Problem, ProblemStatus,
                      ProcessDefinition, ProcessInstance, TaskState, User)
from ..validation import check
from . import timers, versions
from .forms import context_keys, evidence_keys, validate_submission
from .sandbox import SandboxScriptEngine
from .serializer import has_scripts, specs_for, state_from_dict, state_to_dict

_STATUS_ORDER = list(ProblemStatus)
_TIMER_EVENTS = {"TimeDateEventDefinition", "DurationTimerEventDefinition", "CycleTimerEventDefinition"}
_validator_lock = threading.Lock()


class WorkflowFailure(DubanError):
    """The process itself could not go on. (A step that fails while an instance runs does
    not raise this: it becomes an incident, see engine/incidents.py.)"""

    code = "workflow_error"


class Runtime:
    def __init__(self, calendar: WorkingCalendar = default_calendar, lane_roles: dict[str, ChainRole] | None = None,
                 channels: NotificationSettings | None = None, backoff: incidents.Backoff | None = None,
                 scripts: ScriptLimits | None = None):
        self.calendar = calendar
        self.backoff = backoff or incidents.Backoff.from_env()  # automatic retries of incidents
        self.channels = channels or NotificationSettings.from_env()  # where notices go besides in-app
        self.lane_roles = lane_roles if lane_roles is not None else load_lane_roles()
        self.light_rules = lights.load_rules()
        self.script_engine = SandboxScriptEngine(
            {timers.WORKING_DURATION_FUNCTION: timers.working_duration_function(calendar),
             "end_of_day": timers.end_of_day}, scripts)
        timers.bind_to_clock()

    # -- definitions ---------------------------------------------------------------------------

    def deploy(self, session: Session, content: bytes, actor: User | None, filename: str = "upload.bpmn",
               attachments: dict[str, bytes] | None = None, accepted: str | None = None, comment: str | None = None,
               draft: bool = False, shipped: bool = False) -> tuple[ProcessDefinition, versions.Outcome]:
        """A new version of the document's process (published, or a draft), or the current one
        if the content is unchanged (engine/workflow/versions.py).

        `accepted` is the deployer's comment accepting the document's warnings (none: any
        warning refuses a published deployment, like an error); it goes into the ledger entry."""
        with _validator_lock:
            return versions.deploy(session, dict(self.lane_roles), content, actor, filename, attachments, accepted,
                                   comment, draft, shipped)

    def save_draft(self, session: Session, content: bytes, actor: User | None, filename: str = "upload.bpmn",
                   attachments: dict[str, bytes] | None = None, comment: str | None = None, replace: bool = True):
        """The document as its process's draft, unfinished while it has errors (versions.save_draft)."""
        with _validator_lock:
            return versions.save_draft(session, dict(self.lane_roles), content, actor, filename, attachments, comment,
                                       replace)

    def publish(self, session: Session, key: str, number: int, actor: User | None, comment: str | None,
                accepted: bool = False) -> ProcessDefinition:
        """Publish a draft, or an older version again (a rollback): it becomes current."""
        with _validator_lock:
            return versions.publish(session, dict(self.lane_roles), key, number, actor, comment, accepted)

    def inspect(self, content: bytes, filename: str = "upload.bpmn", attachments: dict[str, bytes] | None = None):
        """Every finding about a document, deployable or not (nothing is stored)."""
        with _validator_lock:
            return check.inspect(content, dict(self.lane_roles), filename, attachments)

    @staticmethod
    def current(session: Session, key: str, to_start: bool = False) -> ProcessDefinition | None:
        """The version new instances of `key` start on (its published version published last);
        `to_start`: without reading its document and stored spec unless they are needed."""
        return versions.current(session, key, to_start)

    # -- instances -----------------------------------------------------------------------------

    def start(self, session: Session, definition: ProcessDefinition, problem: Problem, actor: User | None,
              data: dict | None = None, escalation_id: int | None = None,
              subject_official_id: int | None = None) -> ProcessInstance:
        """Start an instance for `problem`; `data` is the process's start data. A step that
        fails on the way leaves the instance at an incident (the problem stays registered)."""
        spec, subprocess_specs = specs_for(definition)
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)
        if data:
            for start_task in workflow.get_tasks(state=SpiffState.READY):
                start_task.data.update(data)
        instance = ProcessInstance(definition=definition, problem=problem, status=InstanceStatus.RUNNING,
                                   state={}, started_at=clock.now(), escalation_id=escalation_id,
                                   subject_official_id=subject_official_id, tasks=[])  # new: none to read
        session.add(instance)
        session.flush()
        ledger.record(session, Action.INSTANCE_STARTED, actor=actor, subject_type="process_instance",
                      subject_id=instance.id, problem_id=problem.id,
                      payload={"process": definition.key, "version": definition.version})
        failure = self._advance(session, instance, workflow, actor, completed=None)
        self._incident(session, instance, failure, actor)
        return instance

    # -- rehearsals: the scripts of an action run before its write transaction ------------------
    # Each runs the SpiffWorkflow steps of the action on a throwaway copy of the instance, inside
    # sandbox.rehearsal.rehearsed(), so that the action finds its scripts answered (rehearsal.py).
    # They read only; what they would write is never written; a failure here is the action's to meet.

    def rehearse_start(self, definition: ProcessDefinition, data: dict | None = None) -> None:
        if not has_scripts(definition):
            return
        spec, subprocess_specs = specs_for(definition)
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)
        if data:
            for start_task in workflow.get_tasks(state=SpiffState.READY):
                start_task.data.update(data)
        incidents.step(workflow, lambda: _engine_steps(workflow))

    def rehearse_completion(self, task: HumanTask, data: dict) -> None:
        if task.state != TaskState.READY or not has_scripts(task.instance.definition):
            return
        workflow = self.load(task.instance)
        spiff_task = workflow.get_task_from_id(UUID(task.spiff_task_id))
        if spiff_task is None or spiff_task.state != SpiffState.READY:
            return
        try:
            clean = validate_submission(task.instance.definition.forms.get(task.element_id), data, spiff_task.data)
        except ValidationError:
            return
        spiff_task.data.update(clean)
        incidents.step(workflow, spiff_task.run)
        incidents.step(workflow, lambda: _engine_steps(workflow))

    def rehearse_wake(self, instance: ProcessInstance) -> None:
        if not has_scripts(instance.definition):
            return
        workflow = self.load(instance)
        incidents.step(workflow, workflow.refresh_timers)
        incidents.step(workflow, lambda: _engine_steps(workflow))

    def rehearse_retry(self, incident: Incident) -> None:
        if not has_scripts(incident.instance.definition):
            return
        workflow = self.load(incident.instance)
        if incidents.step(workflow, lambda: _run_again(workflow, incident)) is None:
            incidents.step(workflow, workflow.refresh_timers)
        incidents.step(workflow, lambda: _engine_steps(workflow))

    def load(self, instance: ProcessInstance):
        return state_from_dict(instance.state, instance.definition, self.script_engine)

    def complete(self, session: Session, task: HumanTask, actor: User, data: dict) -> Incident | None:
        """Complete a ready task with form data already authorized for `actor`.

        A step that fails after the form was accepted (the task's own script, a script or
        condition after it) does not undo the completion: the user's data, the completed task
        and its ledger entry stand, the process stops at the failed element, and the incident
        opened for it is returned (None when the process went on)."""
        if task.state != TaskState.READY:
            raise Conflict(f"task {task.id} is already {task.state.value}")
        form = task.instance.definition.forms.get(task.element_id)
        workflow = self.load(task.instance)
        spiff_task = workflow.get_task_from_id(UUID(task.spiff_task_id))
        if spiff_task is None or spiff_task.state != SpiffState.READY:
            raise Conflict(f"task {task.id} is no longer waiting to be done")
        try:
            clean = validate_submission(form, data, spiff_task.data)
        except ValidationError as error:
            raise Invalid("the form has errors", field_errors(error.messages)) from None
        _check_evidence(session, task, form, clean)
        evidence.submit(session, task, [i for key in evidence_keys(form) for i in clean.get(key) or []
                                        if isinstance(i, int)], actor)
        self._update_plan(session, task, spiff_task, clean, actor)
        # a task with a `records` property writes its record (问责决定) or refuses the form
        spiff_task.data.update(accountability.record(session, task, _properties(spiff_task.task_spec), clean, actor))
        spiff_task.data.update(clean)
        task.state, task.completed_by_id, task.completed_at, task.data = (
            TaskState.COMPLETED, actor.id, clock.now(), clean)
        ledger.record(session, Action.TASK_COMPLETED, actor=actor, subject_type="human_task", subject_id=task.id,
                      problem_id=task.problem_id,
                      payload={"element": task.element_id, "name": task.name, "data": clean})
        # written now, the ledger's lock taken with it (PostgreSQL), before the instance's tasks
        # are read: a completion of the same task committed meanwhile is then seen, and this
        # one ends as a conflict on the instance's version instead of a second next task
        session.flush()
        failure = incidents.step(workflow, spiff_task.run)
        failure = self._advance(session, task.instance, workflow, actor, completed=task, failure=failure)
        return self._incident(session, task.instance, failure, actor)

    def wake(self, session: Session, instance: ProcessInstance) -> tuple[list[str], Incident | None]:
        """Fire the timers of `instance` that are due by the engine's clock: their names, and
        the incident the instance stopped at on the way (None when it went on).

        A timer is due once its moment has passed (strictly: SpiffWorkflow's own rule)."""
        workflow = self.load(instance)
        fired, failure = self._fire_timers(session, instance, workflow)
        failure = self._advance(session, instance, workflow, None, completed=None, failure=failure)
        return fired, self._incident(session, instance, failure, None)

    def retry(self, session: Session, incident: Incident, actor: User | None,
              reason: str | None = None) -> Incident | None:
        """Run an incident's failed step again from the instance's stored state: the task in
        ERROR run again (a script, a gateway), or the branch of a task that never started
        reset with its data (a timer whose expression failed); then the timers due and the
        engine steps, as after any action. Returns the incident open for the instance now:
        the same one with one more attempt when the step failed again, a new one when the
        instance failed further on (this one is then resolved), None when it runs again."""
        instance = incident.instance
        workflow = self.load(instance)
        failure = incidents.step(workflow, lambda: _run_again(workflow, incident))
        if failure is None:
            failure = self._fire_timers(session, instance, workflow)[1]
        failure = self._advance(session, instance, workflow, actor, completed=None, failure=failure)
        if failure is not None and failure.element_id == incident.element_id:
            return incidents.failed_again(session, incident, failure, actor, self.backoff, reason)
        incidents.resolve(session, incident, actor, "retried", reason)
        return self._incident(session, instance, failure, actor)

    def _fire_timers(self, session: Session, instance: ProcessInstance, workflow):
        now = clock.now()
        fired = [event.name for event in workflow.waiting_events()
                 if event.event_type in _TIMER_EVENTS and (_moment(event.value) or now) < now]
        failure = incidents.step(workflow, workflow.refresh_timers)
        for name in fired:
            ledger.record(session, Action.TIMER_FIRED, actor=None, subject_type="process_instance",
                          subject_id=instance.id, problem_id=instance.problem_id, payload={"timer": name})
        return fired, failure

    def settle(self, session: Session, instance: ProcessInstance, workflow, actor: User | None) -> Incident | None:
        """After a repair changed `workflow` (a token moved, another version): the engine steps,
        the task rows, status, lights, next timer and state written, as after any action; the
        incident the instance stopped at on the way, if any."""
        failure = self._advance(session, instance, workflow, actor, completed=None)
        return self._incident(session, instance, failure, actor)

    def _incident(self, session: Session, instance: ProcessInstance, failure: incidents.Failure | None,
                  actor: User | None) -> Incident | None:
        if failure is None:
            return None
        return incidents.record(session, instance, failure, actor, self.backoff, self.channels)

    def form_context(self, task: HumanTask) -> dict:
        """The process data a task's form reads its dynamic options (valuesKey) from."""
        keys = context_keys(task.instance.definition.forms.get(task.element_id))
        if not keys or task.state != TaskState.READY:
            return {}
        spiff_task = self.load(task.instance).get_task_from_id(UUID(task.spiff_task_id))
        return {key: spiff_task.data.get(key) for key in keys} if spiff_task else {}

    def case_options(self, task: HumanTask) -> dict:
        """The dynamic options (valuesKey) of every form of the task's process as the task's data
        holds them: the choices earlier steps made from them are shown by their labels."""
        forms = task.instance.definition.forms or {}
        keys = {key for form in forms.values() for key in context_keys(form)}
        if not keys:
            return {}
        workflow = self.load(task.instance)
        spiff_task = workflow.get_task_from_id(UUID(task.spiff_task_id))
        data = spiff_task.data if spiff_task is not None else workflow.data
        return {key: data[key] for key in keys if isinstance(data.get(key), list)}

    @staticmethod
    def due_instances(session: Session, by: datetime, since: datetime | None = None) -> list[int]:
        """Instances with a timer due before `by` (and not before `since`, when given), oldest
        due first (one stopped at an incident too: its other branches go on; the failed branch
        waits on no timer, its retry is the incident's)."""
        statement = select(ProcessInstance.id).where(
            ProcessInstance.status.in_((InstanceStatus.RUNNING, InstanceStatus.ERROR)),
            ProcessInstance.next_wakeup_at < by)
        if since is not None:
            statement = statement.where(ProcessInstance.next_wakeup_at >= since)
        return list(session.scalars(statement.order_by(ProcessInstance.next_wakeup_at, ProcessInstance.id)))

    # -- the step after every action -----------------------------------------------------------

    def _advance(self, session: Session, instance: ProcessInstance, workflow, actor: User | None,
                 completed: HumanTask | None, failure: incidents.Failure | None = None) -> incidents.Failure | None:
        """Run the engine steps and write down where they led: what passed, the tasks, the
        status, the lights, the state. A step that fails stops the engine there; what
        happened before it is kept and the failure is returned (the earlier `failure`
        first), for the caller to record as an incident."""
        passed_before = {t.id for t in workflow.get_tasks(state=SpiffState.COMPLETED)}
        later = incidents.step(workflow, lambda: _engine_steps(workflow))
        failure = failure or later
        passed = [t for t in workflow.get_tasks(state=SpiffState.COMPLETED) if t.id not in passed_before]
        self._raise_escalation_events(session, instance, passed, actor)
        self._send_notices(session, instance, workflow, passed, completed)
        self._sync_tasks(session, instance, workflow, actor, completed)
        self._sync_status(session, instance, workflow, actor)
        lights.update(instance.problem, instance.tasks, self.calendar, clock.now(), self.light_rules)
        instance.next_wakeup_at = _next_wakeup(workflow)
        instance.state = state_to_dict(workflow)
        if failure is None and workflow.is_completed() and instance.status != InstanceStatus.COMPLETED:
            instance.status, instance.ended_at, instance.next_wakeup_at = InstanceStatus.COMPLETED, clock.now(), None
            ledger.record(session, Action.INSTANCE_COMPLETED, actor=actor, subject_type="process_instance",
                          subject_id=instance.id, problem_id=instance.problem_id, payload={})
        session.flush()
        return failure

    @staticmethod
    def _raise_escalation_events(session, instance, passed, actor) -> None:
        """Elements with an `escalationEvent` property tell the ladder (a listed case's
        deadline missed, an interview commitment missed)."""
        for spiff_task in passed:
            event = _properties(spiff_task.task_spec).get("escalationEvent")
            if not event:
                continue
            row = EscalationEvent(problem_id=instance.problem_id, instance_id=instance.id, event=event,
                                  element_id=spiff_task.task_spec.bpmn_id, raised_at=clock.now())
            session.add(row)
            due_moments.mark(session.get(Problem, instance.problem_id))  # the sweep looks at it again
            session.flush()
            ledger.record(session, Action.ESCALATION_EVENT, actor=actor, subject_type="escalation_event",
                          subject_id=row.id, problem_id=instance.problem_id,
                          payload={"event": event, "element": row.element_id, "instance": instance.id})

    def _send_notices(self, session, instance, workflow, passed, completed) -> None:
        """Elements with a `notify` property tell the officials it names (region_heads: both
        heads, 党政同责) once the process passes them: an event or gateway when it is reached,
        a user task when it is completed. The text is `notifyMessage` with {key} filled from
        the process data, or a default naming the element."""
        elements = list(passed)
        done_id = UUID(completed.spiff_task_id) if completed is not None else None
        if done_id is not None:  # the user task just run was completed before this step began
            done = workflow.get_task_from_id(done_id)
            if done is not None and done_id not in {t.id for t in elements}:
                elements.insert(0, done)
        for spiff_task in elements:
            properties = _properties(spiff_task.task_spec)
            targets = [t.strip() for t in properties.get("notify", "").split(",") if t.strip()]
            if not targets:
                continue
            spec = spiff_task.task_spec
            notifications.element_notice(
                session, instance, element_id=spec.bpmn_id, element_name=spec.bpmn_name, targets=targets,
                message=properties.get("notifyMessage"), data=dict(spiff_task.data),
                was_task=spiff_task.id == done_id, channels=self.channels)

    def _sync_tasks(self, session, instance, workflow, actor, completed) -> None:
        problem = instance.problem
        ready = {str(t.id): t for t in workflow.get_tasks(state=SpiffState.READY, manual=True)}
        rows = list(instance.tasks)
        for row in rows:
            if row.state == TaskState.READY and row.spiff_task_id not in ready:
                row.state = TaskState.CANCELLED
                ledger.record(session, Action.TASK_CANCELLED, actor=actor, subject_type="human_task",
                              subject_id=row.id, problem_id=problem.id,
                              payload={"element": row.element_id, "name": row.name})
        known = {row.spiff_task_id for row in rows}
        last_done = {row.element_id: row.id for row in rows if row.state == TaskState.COMPLETED}
        earlier = {row.element_id: row.id for row in rows
                   if completed is not None and row.state == TaskState.COMPLETED and row.id < completed.id}
        for spiff_id, spiff_task in ready.items():
            if spiff_id in known:
                continue
            spec = spiff_task.task_spec
            lane = spec.lane or ""
            who = assign(session, problem, self.lane_roles[lane], subject_of(session, instance)) \
                if lane in self.lane_roles else assign(session, problem, ChainRole.OFFICE)  # a lane renamed since
            properties = _properties(spec)
            row = HumanTask(instance=instance, problem_id=problem.id, spiff_task_id=spiff_id,
                            element_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id, lane=lane,
                            assignee_id=who.assignee_id, candidate_unit_id=who.candidate_unit_id,
                            candidate_role=who.candidate_role, due_at=self._due(properties, problem),
                            state=TaskState.READY, created_at=clock.now())
            session.add(row)
            session.flush()
            ledger.record(session, Action.TASK_ASSIGNED, actor=actor, subject_type="human_task", subject_id=row.id,
                          problem_id=problem.id,
                          payload={"element": row.element_id, "name": row.name, "lane": lane,
                                   "assignee": row.assignee.username if row.assignee else None,
                                   "candidate_unit": row.candidate_unit.name if row.candidate_unit else None,
                                   "candidate_role": row.candidate_role.value if row.candidate_role else None,
                                   "due_at": row.due_at.isoformat() if row.due_at else None})
            sent_back = completed is not None and _sent_back(spec.bpmn_id, completed, last_done, earlier)
            notifications.task_assigned(session, row, self.channels, official_id=who.official_id,
                                        sent_back_from=completed if sent_back else None)
            if sent_back:
                ledger.record(session, Action.TASK_SENT_BACK, actor=actor, subject_type="human_task",
                              subject_id=row.id, problem_id=problem.id,
                              payload={"from": completed.element_id, "from_name": completed.name,
                                       "to": row.element_id, "to_name": row.name, "data": completed.data})

    def _sync_status(self, session, instance, workflow, actor) -> None:
        waiting = workflow.get_tasks(state=SpiffState.READY | SpiffState.WAITING)
        found = [ProblemStatus(s) for t in waiting if (s := _properties(t.task_spec).get("problemStatus"))]
        if not found:
            return
        status = min(found, key=_STATUS_ORDER.index)
        problem = instance.problem
        if status == problem.status:
            return
        before = problem.status
        problem.status = status
        problem.closed_at = clock.now() if status == ProblemStatus.CLOSED else None
        ledger.record(session, Action.PROBLEM_STATUS_CHANGED, actor=actor, subject_type="problem",
                      subject_id=problem.id, problem_id=problem.id,
                      payload={"from": before.value, "to": status.value, "to_label": status.label})

    def recompute_working_dues(self, session: Session, calendar: WorkingCalendar,
                               actor: User | None) -> list[tuple[HumanTask, datetime, datetime]]:
        """Ready tasks due a number of working days after they were opened (`calendar` =
        working) get their due time counted again on `calendar` (after the holiday
        arrangement changed); each moved one is written to the ledger. (Timers already running
        inside a workflow keep the moment they were started with.)"""
        moved = []
        for task in session.scalars(select(HumanTask).where(HumanTask.state == TaskState.READY,
                                                            HumanTask.due_at.is_not(None)).order_by(HumanTask.id)):
            properties = _element_properties(task.instance.definition, task.element_id)
            if properties.get("calendar") != "working" or properties.get("due") in (None, "", "deadline"):
                continue
            try:
                days = int(properties["due"][1:-1])
            except ValueError:
                continue
            before = task.due_at
            opened = task.created_at.astimezone(clock.SHANGHAI).date()
            local_due = before.astimezone(clock.SHANGHAI)
            after = datetime.combine(calendar.shift(opened, days), local_due.timetz()).astimezone(clock.UTC)
            if after == before:
                continue
            task.due_at = after
            moved.append((task, before, after))
            ledger.record(session, Action.TASK_DUE_RECOMPUTED, actor=actor, subject_type="human_task",
                          subject_id=task.id, problem_id=task.problem_id,
                          payload={"element": task.element_id, "name": task.name, "working_days": days,
                                   "from": before.isoformat(), "to": after.isoformat(),
                                   "reason": "the working-day calendar changed"})
        session.flush()
        return moved

    def _due(self, properties: dict, problem: Problem, start: datetime | None = None) -> datetime | None:
        """When a task with these properties is due, counted from `start` (now: a new task)."""
        due = properties.get("due")
        if not due:
            return None
        if due == "deadline":
            return self.calendar.end_of_day(problem.deadline) if problem.deadline else None
        start = start or clock.now()
        if properties.get("calendar") == "working":
            return self.calendar.add_working_days(start, int(due[1:-1]))
        parsed = TimerEventDefinition.parse_iso_duration(due)
        return start + TimerEventDefinition.get_timedelta_from_start(parsed, start)

    def _update_plan(self, session, task: HumanTask, spiff_task, clean: dict, actor: User) -> None:
        """`updatesProblem` stores the submitted plan as pending; `approvesPlan` decides it."""
        properties = _properties(spiff_task.task_spec)
        if properties.get("updatesProblem"):
            plans.submit(session, task, plans.parse_fields(properties["updatesProblem"], clean), actor)
        if properties.get("approvesPlan"):
            plans.decide(session, task, properties["approvesPlan"], clean, actor)


def _sent_back(element: str, completed: HumanTask, last_done: dict[str, int], earlier: dict[str, int]) -> bool:
    """Whether completing `completed` sent the work back to `element`: the element was done
    before, and in the pass before this one it came before the completed task (a loop going
    forward again, resubmission -> review, is not a send-back)."""
    if element not in last_done:
        return False
    previous = earlier.get(completed.element_id)
    return previous is None or last_done[element] < previous


def _properties(spec) -> dict:
    """The spiffworkflow:properties of a task spec (engine-internal specs have none)."""
    return getattr(spec, "extensions", {}).get("properties", {})


def _element_properties(definition: ProcessDefinition, element_id: str) -> dict:
    """The properties of a BPMN element of a deployed version, wherever it sits."""
    spec, subprocess_specs = specs_for(definition)
    for candidate in (spec, *subprocess_specs.values()):
        task_spec = candidate.task_specs.get(element_id)
        if task_spec is not None:
            return _properties(task_spec)
    return {}




def _run_again(workflow, incident: Incident) -> None:
    """An incident's failed step once more: the task in ERROR run again (a script, a
    gateway), or the branch of a task that never started reset with its data (a timer whose
    expression failed)."""
    task = workflow.tasks.get(UUID(incident.task_id)) if incident.task_id else None
    if task is None:
        return
    if task.state == SpiffState.ERROR:
        task.run()
    elif not task.has_state(SpiffState.FINISHED_MASK):
        task.reset_branch(task.data)


def _engine_steps(workflow) -> None:
    workflow.do_engine_steps()
    workflow.refresh_timers()
    workflow.do_engine_steps()


def _moment(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return TimerEventDefinition.get_datetime(value)
    except ValueError:
        return None


def _next_wakeup(workflow) -> datetime | None:
    moments = [m for e in workflow.waiting_events() if e.event_type in _TIMER_EVENTS
               if (m := _moment(e.value)) is not None]
    return min(moments) if moments else None


def _check_evidence(session, task: HumanTask, form: dict | None, clean: dict) -> None:
    for key in evidence_keys(form):
        ids = clean.get(key) or []
        if not ids:
            continue
        # the task's own drafts, or files already submitted on the problem (a step sent back
        # keeps what it submitted before); never another task's drafts
        found = set(session.scalars(select(EvidenceFile.id).where(
            EvidenceFile.id.in_(ids), EvidenceFile.problem_id == task.problem_id,
            or_(evidence.not_a_draft(), EvidenceFile.task_id == task.id))))
        missing = [i for i in ids if i not in found]
        if missing:
            raise Invalid("the form has errors",
                          {key: [f"no evidence file {', '.join(map(str, missing))} on this problem"]})
