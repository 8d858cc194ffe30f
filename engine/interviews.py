"""Interviews (约谈) as the offices read them: the interview processes the ladder's 约谈 rung
started (bpmn/interview.bpmn), with whom they are held (the rung's targets: the Party and
government heads, 党政同责), why (the rung and the problem), their steps, and what their forms
recorded (the date and place, the minutes 约谈纪要, the commitments 整改承诺, the follow-up),
read from the data of the instance's completed tasks. Reading only; an interview moves
through its tasks (engine.service.Duban)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, joinedload

from .errors import NotFound
from .models import (Escalation, HumanTask, InstanceStatus, LedgerEntry, Problem, ProcessDefinition, ProcessInstance,
                     TaskState)

INTERVIEW_PROCESS = "interview"   # the key of bpmn/interview.bpmn (its purpose: interview)

# what the interview's forms record, by field key, in the order a reader wants them
RECORD_KEYS = ("interview_on", "place", "interviewer", "subject", "held_on", "attendees", "minutes", "commitments",
               "commitment", "progress", "result", "finding")


@dataclass
class Interview:
    instance: ProcessInstance
    escalation: Escalation | None
    tasks: list[HumanTask]                    # every step, in the order they opened

    @property
    def problem(self) -> Problem:
        return self.instance.problem

    @property
    def open_tasks(self) -> list[HumanTask]:
        return [t for t in self.tasks if t.state == TaskState.READY]

    @property
    def interviewees(self) -> list[dict]:
        """The officials interviewed: the rung's targets (name, title, side, of)."""
        return list(self.escalation.targets or []) if self.escalation else []

    @property
    def record(self) -> dict:
        """What the forms recorded, the latest value of each field (a step sent back and done
        again counts once, as done last)."""
        merged: dict = {}
        done = sorted((t for t in self.tasks if t.state == TaskState.COMPLETED and t.data),
                      key=lambda t: (t.completed_at, t.id))
        for task in done:
            merged.update({k: v for k, v in task.data.items() if k in RECORD_KEYS and v not in (None, "", [])})
        return merged


def query(status: InstanceStatus | None = None, problem_id: int | None = None) -> Select:
    statement = (select(ProcessInstance).join(ProcessDefinition)
                 .where(ProcessDefinition.key == INTERVIEW_PROCESS).options(joinedload(ProcessInstance.problem)))
    if status is not None:
        statement = statement.where(ProcessInstance.status == status)
    if problem_id is not None:
        statement = statement.where(ProcessInstance.problem_id == problem_id)
    return statement


def page(session: Session, statement: Select, number: int, size: int) -> tuple[list[Interview], int]:
    """Running interviews first, then the newest."""
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = session.scalars(statement.order_by(ProcessInstance.status != InstanceStatus.RUNNING,
                                              ProcessInstance.started_at.desc(), ProcessInstance.id.desc())
                           .offset((number - 1) * size).limit(size)).unique().all()
    return _with_steps(session, rows), total


def of_problem(session: Session, problem_id: int) -> list[Interview]:
    rows = session.scalars(query(problem_id=problem_id).order_by(ProcessInstance.id)).unique().all()
    return _with_steps(session, rows)


def get(session: Session, instance_id: int) -> Interview:
    """The interview; NotFound when no interview process has this id (another process's included)."""
    row = session.scalars(query().where(ProcessInstance.id == instance_id)).unique().first()
    if row is None:
        raise NotFound(f"no interview with id {instance_id}", {"instance_id": ["no such interview"]})
    return _with_steps(session, [row])[0]


def timeline(session: Session, interview: Interview) -> list[LedgerEntry]:
    """The ledger's entries about this interview: its instance, its tasks and the rung that started it."""
    instance = interview.instance
    about = [and_(LedgerEntry.subject_type == "process_instance", LedgerEntry.subject_id == str(instance.id))]
    if interview.tasks:
        about.append(and_(LedgerEntry.subject_type == "human_task",
                          LedgerEntry.subject_id.in_([str(t.id) for t in interview.tasks])))
    if interview.escalation is not None:
        about.append(and_(LedgerEntry.subject_type == "escalation",
                          LedgerEntry.subject_id == str(interview.escalation.id)))
    return list(session.scalars(select(LedgerEntry).where(LedgerEntry.problem_id == instance.problem_id, or_(*about))
                                .order_by(LedgerEntry.id)))


def _with_steps(session: Session, rows) -> list[Interview]:
    if not rows:
        return []
    steps: dict[int, list[HumanTask]] = {row.id: [] for row in rows}
    for task in session.scalars(select(HumanTask).where(HumanTask.instance_id.in_(list(steps)))
                                .order_by(HumanTask.created_at, HumanTask.id)):
        steps[task.instance_id].append(task)
    escalation_ids = {row.escalation_id for row in rows if row.escalation_id}
    escalations = {e.id: e for e in session.scalars(select(Escalation).where(Escalation.id.in_(escalation_ids)))
                   } if escalation_ids else {}
    return [Interview(row, escalations.get(row.escalation_id), steps[row.id]) for row in rows]
