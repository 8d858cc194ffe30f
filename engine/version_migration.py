"""Migrating the open instances of one process version to another (版本迁移).

The dry run says what would change without changing anything: for each element of the old
version its counterpart in the new one (SpiffWorkflow's SpecDiff: same id, renamed, aligned by
structure, or none), how many open instances wait there (one grouped query over the ready
tasks and one over the open incidents: no instance state is loaded for it), and, one page of
instances at a time, each instance's waiting tasks and where each goes. An element without
counterpart needs a target element chosen for it (for every instance, or for one instance).

The migration itself runs one instance per transaction (engine/repair.py's `migrate_in`), at
most `limit` instances per call, oldest first: an instance that fails is rolled back and
becomes an incident (the others go on); an instance whose waiting task has no chosen target
is left where it is and named. What remains is counted, so that a caller can go on.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import incidents
from .errors import DubanError, Invalid, NotFound
from .models import HumanTask, Incident, IncidentStatus, InstanceStatus, ProcessDefinition, ProcessInstance, TaskState
from .repair import migrate_in, reason_of, target_version
from .workflow import migration
from .workflow.serializer import specs_for

log = logging.getLogger("duban.migration")
OPEN = (InstanceStatus.RUNNING, InstanceStatus.ERROR)
MAX_LIMIT = 500


@dataclass(frozen=True)
class ElementPlan:
    mapping: migration.Mapping
    ready: int       # ready tasks of open instances waiting there
    incidents: int   # open incidents at it


@dataclass
class DryRun:
    process: str
    from_version: int
    to_version: int
    open_instances: int
    elements: list[ElementPlan]
    added: list[migration.Element]
    targets: list[migration.Element]          # where a token may be put in the new version
    instances: list[dict] = field(default_factory=list)   # one page: {instance_id, problem_code, tokens}
    page: int = 1
    per_page: int = 20


@dataclass(frozen=True)
class InstanceResult:
    instance_id: int
    problem_code: str
    outcome: str            # migrated, needs_choice, failed
    message: str | None = None
    incident_id: int | None = None


def versions(session: Session, key: str, from_version: int, to_version) -> tuple[ProcessDefinition, ProcessDefinition]:
    source = session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                             ProcessDefinition.version == from_version)).first()
    if source is None:
        raise NotFound(f"process {key} has no version {from_version}")
    return source, target_version(session, source, to_version)


def dry_run(session: Session, runtime, key: str, from_version: int, to_version, page: int = 1,
            per_page: int = 20) -> DryRun:
    source, target = versions(session, key, from_version, to_version)
    from_spec, _ = specs_for(source)
    to_spec, _ = specs_for(target)
    mappings = migration.spec_mappings(from_spec, to_spec)
    open_ids = select(ProcessInstance.id).where(ProcessInstance.definition_id == source.id,
                                                ProcessInstance.status.in_(OPEN))
    ready = dict(session.execute(select(HumanTask.element_id, func.count()).where(
        HumanTask.instance_id.in_(open_ids), HumanTask.state == TaskState.READY).group_by(HumanTask.element_id)).all())
    stuck = dict(session.execute(select(Incident.element_id, func.count()).where(
        Incident.instance_id.in_(open_ids), Incident.status == IncidentStatus.OPEN).group_by(Incident.element_id)).all())
    total = session.scalar(select(func.count()).select_from(open_ids.subquery()))
    known = {e.id for e in migration.elements(from_spec)}
    elements = [ElementPlan(m, ready.get(m.element_id, 0), stuck.get(m.element_id, 0))
                for element_id, m in mappings.items() if element_id in known]
    added = [e for e in migration.elements(to_spec) if e.id not in from_spec.task_specs]
    plan = DryRun(key, source.version, target.version, total, elements, added, migration.elements(to_spec),
                  page=page, per_page=per_page)
    rows = session.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(open_ids))
                           .order_by(ProcessInstance.id).offset((page - 1) * per_page).limit(per_page)).all() \
        if per_page > 0 else []
    for instance in rows:
        extra = _open_incident_task(session, instance.id)
        try:
            workflow = runtime.load(instance)
            tokens = migration.plan(workflow, to_spec, mappings, extra_task_id=extra)
        except Exception as error:  # noqa: BLE001 - a state that does not load is shown, not raised
            plan.instances.append({"instance_id": instance.id, "problem_id": instance.problem_id,
                                   "problem_code": instance.problem.code, "tokens": [],
                                   "error": f"{type(error).__name__}: {error}"})
            continue
        plan.instances.append({"instance_id": instance.id, "problem_id": instance.problem_id,
                               "problem_code": instance.problem.code, "status": instance.status.value,
                               "tokens": tokens, "error": None})
    return plan


def _open_incident_task(session: Session, instance_id: int) -> str | None:
    return session.scalar(select(Incident.task_id).where(Incident.instance_id == instance_id,
                                                         Incident.status == IncidentStatus.OPEN)
                          .order_by(Incident.id).limit(1))


class VersionMigration:
    """The migration of a version's open instances, one per transaction (entered through
    `Duban`)."""

    def __init__(self, duban):
        self.duban = duban

    def run(self, user_id: int, key: str, from_version: int, to_version, reason, choices: dict | None = None,
            instance_choices: dict | None = None, limit: int = 100) -> tuple[list[InstanceResult], int]:
        """Migrate up to `limit` open instances of `from_version`: the result per instance and
        how many open instances remain on the old version afterwards."""
        reason = reason_of(reason)
        duban = self.duban
        limit = max(1, min(int(limit), MAX_LIMIT))
        with duban.db.reading() as session:
            source, target = versions(session, key, from_version, to_version)
            to_spec, _ = specs_for(target)
            choices = _checked(choices or {}, to_spec, "choices")
            instance_choices = {int(i): _checked(c or {}, to_spec, f"instance_choices.{i}")
                                for i, c in (instance_choices or {}).items()}
            ids = list(session.scalars(select(ProcessInstance.id).where(
                ProcessInstance.definition_id == source.id, ProcessInstance.status.in_(OPEN))
                .order_by(ProcessInstance.id).limit(limit)))
            target_id = target.id
        results = [self._one(user_id, instance_id, target_id, reason, {**choices, **instance_choices.get(instance_id, {})})
                   for instance_id in ids]
        with duban.db.reading() as session:
            remaining = session.scalar(select(func.count()).select_from(ProcessInstance).where(
                ProcessInstance.definition_id == source.id, ProcessInstance.status.in_(OPEN)))
        return results, remaining

    def _one(self, user_id: int, instance_id: int, target_id: int, reason: str, choices: dict) -> InstanceResult:
        duban = self.duban
        code = None
        try:
            with duban.db.transaction() as session:
                duban._calendar(session)
                actor = duban.actor(session, user_id)
                instance = session.get(ProcessInstance, instance_id)
                code = instance.problem.code
                if instance.status not in OPEN:
                    return InstanceResult(instance_id, code, "skipped", f"the instance is {instance.status.value}")
                incident = session.scalars(select(Incident).where(
                    Incident.instance_id == instance_id, Incident.status == IncidentStatus.OPEN)
                    .order_by(Incident.id).limit(1)).first()
                migrate_in(session, duban.runtime, instance, session.get(ProcessDefinition, target_id), actor, reason,
                           choices, incident)
                return InstanceResult(instance_id, code, "migrated")
        except Invalid as refused:
            said = "; ".join(m for messages in refused.errors.values() for m in messages) or refused.message
            return InstanceResult(instance_id, code or "", "needs_choice", said)
        except (StaleDataError, DubanError) as error:
            return InstanceResult(instance_id, code or "", "failed", str(error))
        except Exception as error:  # noqa: BLE001 - one instance's failure must not stop the others
            log.exception("instance %s could not be migrated", instance_id)
            return self._failed(user_id, instance_id, code, error)

    def _failed(self, user_id, instance_id: int, code, error: BaseException) -> InstanceResult:
        """The instance stays on its version; the failure becomes its incident (no automatic
        retry: an administrator repairs it from the incident's page)."""
        failure = incidents.Failure("process", None, None, "MigrationError",
                                    incidents.describe(error))
        with self.duban.db.transaction() as session:
            instance = session.get(ProcessInstance, instance_id)
            incident = incidents.record(session, instance, failure, self.duban.actor(session, user_id),
                                        self.duban.runtime.backoff, self.duban.runtime.channels)
            incident.next_retry_at = None
            session.flush()
            return InstanceResult(instance_id, code or instance.problem.code, "failed", failure.message, incident.id)


def _checked(choices: dict, to_spec, name: str) -> dict:
    if not isinstance(choices, dict):
        raise Invalid("bad choices", {name: ["a mapping of element id to target element id"]})
    known = {e.id for e in migration.elements(to_spec)}
    wrong = {f"{name}.{k}": [f"no element {v} in the target version"] for k, v in choices.items()
             if not isinstance(v, str) or v not in known}
    if wrong:
        raise Invalid("a chosen target element does not exist", wrong)
    return {str(k): v for k, v in choices.items()}
