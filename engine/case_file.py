"""One accountability case (问责案件) as the discipline office reads it: the official it is about,
the problem, the firing of the ladder that opened it, its steps, its decisions, and its trail in
the ledger (留痕). Reading only; the case moves through its tasks (engine.service.Duban)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from .accountability import Case, cases, cases_query
from .errors import NotFound
from .models import AccountabilityDecision, Escalation, HumanTask, LedgerEntry, ProcessInstance


@dataclass
class CaseFile:
    case: Case
    escalation: Escalation | None
    tasks: list[HumanTask]          # every step, in the order they opened
    timeline: list[LedgerEntry]     # the ledger's entries about this case, oldest first

    @property
    def instance(self) -> ProcessInstance:
        return self.case.instance

    def in_force(self, decision: AccountabilityDecision) -> bool:
        return decision.in_force(self.case.today)


def get(session: Session, instance_id: int) -> CaseFile:
    """The case; NotFound when no accountability case has this id (another process's instance
    included)."""
    found, _ = cases(session, cases_query().where(ProcessInstance.id == instance_id), 1, 1)
    if not found:
        raise NotFound(f"no accountability case with id {instance_id}", {"instance_id": ["no such case"]})
    case = found[0]
    instance = case.instance
    escalation = session.get(Escalation, instance.escalation_id) if instance.escalation_id else None
    tasks = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)
                                 .order_by(HumanTask.created_at, HumanTask.id)))
    decision_ids = [str(d.id) for d in case.decisions]
    about = [and_(LedgerEntry.subject_type == "process_instance", LedgerEntry.subject_id == str(instance.id))]
    if tasks:
        about.append(and_(LedgerEntry.subject_type == "human_task",
                          LedgerEntry.subject_id.in_([str(t.id) for t in tasks])))
    if decision_ids:
        about.append(and_(LedgerEntry.subject_type == "accountability_decision",
                          LedgerEntry.subject_id.in_(decision_ids)))
    if escalation is not None:
        about.append(and_(LedgerEntry.subject_type == "escalation", LedgerEntry.subject_id == str(escalation.id)))
    timeline = list(session.scalars(select(LedgerEntry).where(LedgerEntry.problem_id == instance.problem_id,
                                                              or_(*about)).order_by(LedgerEntry.id)))
    return CaseFile(case, escalation, tasks, timeline)

