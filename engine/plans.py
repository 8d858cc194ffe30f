"""Rectification plans (整改方案): a plan submitted by the chain is a proposal until approved.

A task marked `updatesProblem` stores the submitted plan fields as the problem's pending plan
(待审核方案); the problem's plan (target, measures, deadline kind, deadline) stays as it was. A
task marked `approvesPlan` decides it: completed with its approving value, the pending plan
becomes the plan; completed otherwise (退回), the pending plan stays on the problem, marked as
sent back, until the chain submits again.

A pending plan that moves the deadline later, or turns a dated problem into a long-term one
(长期坚持), asks for what only an extension request (延期申请) may grant. Approving such a plan is
refused, naming both dates: the chain files an extension request, and once the office approves
it the deadline has moved and the plan can be approved (or the reviewer sends the plan back).
Making a dated problem long-term is never granted by a plan review.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from . import clock, ledger
from .errors import Invalid
from .ledger import Action
from .models import DeadlineKind, HumanTask, Problem, User

PLAN_FIELDS = ("target", "measures", "deadline_kind", "deadline")
PENDING, RETURNED = "pending", "returned"


def parse_fields(names: str, clean: dict) -> dict:
    """The plan fields named by `updatesProblem` that the form filled, as stored values
    (deadline as ISO date text); a bad value is refused naming its field."""
    found = {}
    for name in (n.strip() for n in names.split(",")):
        if not name or name not in clean or clean[name] is None:
            continue
        value = clean[name]
        try:
            if name == "deadline_kind":
                value = DeadlineKind.parse(value).value
            elif name == "deadline":
                value = (datetime.fromisoformat(value).date() if "T" in value else date.fromisoformat(value)).isoformat()
        except (ValueError, TypeError):
            raise Invalid("the form has errors", {name: [f"{value!r} is not a valid {name}"]}) from None
        found[name] = value
    return found


def submit(session: Session, task: HumanTask, fields: dict, actor: User) -> None:
    """Store the submitted plan as the problem's pending plan; the plan itself is unchanged."""
    if not fields:
        return
    problem = task.problem
    problem.pending_plan = {**fields, "task_id": task.id, "submitted_at": clock.now().isoformat()}
    problem.pending_plan_state = PENDING
    ledger.record(session, Action.PLAN_SUBMITTED, actor=actor, subject_type="problem", subject_id=problem.id,
                  problem_id=problem.id, payload=dict(fields))


def approves(rule: str, clean: dict) -> bool:
    """Whether a completion with form data `clean` approves, by the task's `approvesPlan` rule:
    `field=value` (e.g. `decision=approve`), or `true` (completing the task approves)."""
    rule = (rule or "").strip()
    if "=" not in rule:
        return rule.lower() in ("true", "yes", "1")
    field, expected = (part.strip() for part in rule.split("=", 1))
    return str(clean.get(field)) == expected


def extension_needed(problem: Problem, pending: dict) -> str | None:
    """Why approving `pending` would grant an extension (the English refusal), or None."""
    if problem.deadline is None or problem.deadline_kind == DeadlineKind.LONG_TERM:
        return None
    current = problem.deadline.isoformat()
    if pending.get("deadline_kind") == DeadlineKind.LONG_TERM.value:
        return (f"the plan makes the problem long-term, dropping its deadline {current}: "
                f"a plan review cannot grant that, send the plan back")
    proposed = pending.get("deadline")
    if proposed and date.fromisoformat(proposed) > problem.deadline:
        return (f"the plan's deadline {proposed} is later than the current deadline {current}: "
                f"an extension request must be approved first, or send the plan back")
    return None


def decide(session: Session, task: HumanTask, rule: str, clean: dict, actor: User) -> None:
    """A task marked `approvesPlan` completed: approve the pending plan or mark it sent back."""
    problem = task.problem
    pending = problem.pending_plan
    if not pending or problem.pending_plan_state != PENDING:
        return
    if not approves(rule, clean):
        problem.pending_plan_state = RETURNED
        ledger.record(session, Action.PLAN_RETURNED, actor=actor, subject_type="problem", subject_id=problem.id,
                      problem_id=problem.id, payload={k: v for k, v in pending.items() if k in PLAN_FIELDS})
        return
    refusal = extension_needed(problem, pending)
    if refusal:
        field = rule.split("=", 1)[0].strip() if "=" in rule else ""
        raise Invalid("the plan needs an extension", {field: [refusal]})
    changed = {}
    for name in PLAN_FIELDS:
        if name not in pending:
            continue
        value = pending[name]
        if name == "deadline_kind":
            value = DeadlineKind(value)
        elif name == "deadline":
            value = date.fromisoformat(value)
        if getattr(problem, name) != value:
            setattr(problem, name, value)
            changed[name] = str(value)
    problem.pending_plan, problem.pending_plan_state = None, None
    if changed:
        ledger.record(session, Action.PLAN_UPDATED, actor=actor, subject_type="problem", subject_id=problem.id,
                      problem_id=problem.id, payload=changed)


def view(problem: Problem) -> dict | None:
    """The pending plan as shown beside the approved one (None when there is none)."""
    pending = problem.pending_plan
    if not pending:
        return None
    kind = pending.get("deadline_kind")
    return {"target": pending.get("target"), "measures": pending.get("measures"),
            "deadline_kind": kind, "deadline_kind_label": DeadlineKind(kind).label if kind else None,
            "deadline": pending.get("deadline"), "state": problem.pending_plan_state,
            "submitted_at": pending.get("submitted_at"), "task_id": pending.get("task_id"),
            "needs_extension": extension_needed(problem, pending) is not None}
