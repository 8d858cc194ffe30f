"""Finding what is due on the ladder and firing it, once.

Every firing is one transaction: the escalation row (its key unique), the ledger entry and the
processes it starts commit together; a second sweep or a second scheduler that reaches the
same key fails on the unique constraint and moves on.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import ledger
from ..calendar import WorkingCalendar
from ..ledger import Action
from ..models import Escalation, EscalationEvent, Official, Problem, ProblemStatus
from ..workflow import purpose
from ..workflow.runtime import Runtime
from .accountability import fitting_forms
from .ladder import Due, deadline_dues, deadline_key, overdue_working_days
from .notices import escalation_fired
from .rules import Ladder
from .targets import describe, resolve


def open_problems(session: Session) -> list[Problem]:
    return list(session.scalars(select(Problem).where(Problem.status != ProblemStatus.CLOSED).order_by(Problem.id)))


def fired_keys(session: Session) -> set[str]:
    return set(session.scalars(select(Escalation.key)))


def pending(session: Session, ladder: Ladder, calendar: WorkingCalendar, now: datetime) -> list[Due]:
    """Everything due by `now` and not fired yet, soonest first."""
    fired = fired_keys(session)
    dues = [due for problem in open_problems(session) for due in deadline_dues(problem, ladder, calendar)
            if due.moment <= now and due.key not in fired]
    dues += _repeats(session, ladder, fired, now)
    dues += _events(session, ladder, fired)
    first: dict[str, Due] = {}
    for due in sorted(dues, key=lambda due: (due.moment, due.rule["level"], due.problem_id)):
        first.setdefault(due.key, due)  # one rung, several triggers: the earliest fires it
    return list(first.values())


def forecast(session: Session, ladder: Ladder, calendar: WorkingCalendar, now: datetime,
             until: datetime) -> list[Due]:
    """What the deadlines will fire after `now` and by `until` (events cannot be foreseen)."""
    fired = fired_keys(session)
    dues = [due for problem in open_problems(session) for due in deadline_dues(problem, ladder, calendar)
            if now < due.moment <= until and due.key not in fired]
    return sorted(dues, key=lambda due: (due.moment, due.rule["level"], due.problem_id))


def _repeats(session: Session, ladder: Ladder, fired: set[str], now: datetime) -> list[Due]:
    """The C-th firing of level L (e.g. a second yellow card) fires the rule that counts it."""
    found = []
    for rule in ladder.rules:
        for trigger in rule["triggers"]:
            if trigger["kind"] != "repeat":
                continue
            counts = session.execute(select(Escalation.problem_id, func.count(), func.max(Escalation.fired_at))
                                     .where(Escalation.level == trigger["level"])
                                     .group_by(Escalation.problem_id)).all()
            for problem_id, count, last in counts:
                problem = session.get(Problem, problem_id)
                if count < trigger["count"] or problem.status == ProblemStatus.CLOSED:
                    continue
                key = deadline_key(problem, rule, problem.deadline)
                if key not in fired:
                    found.append(Due(problem_id, rule, trigger, last, problem.deadline, key))
    return found


def _events(session: Session, ladder: Ladder, fired: set[str]) -> list[Due]:
    found = []
    for event in session.scalars(select(EscalationEvent).order_by(EscalationEvent.id)):
        for rule in ladder.rules:
            trigger = next((t for t in rule["triggers"] if t["kind"] == "event" and t["event"] == event.event), None)
            if trigger is None:
                continue
            problem = session.get(Problem, event.problem_id)
            if problem.status == ProblemStatus.CLOSED:
                continue  # closed (销号) meanwhile: nothing left to escalate
            key = deadline_key(problem, rule, problem.deadline)
            if key not in fired:
                fired.add(key)  # two events of one kind raise one rung
                found.append(Due(event.problem_id, rule, trigger, event.raised_at, problem.deadline, key, event.id))
    return found


def fire(session: Session, due: Due, ladder: Ladder, runtime: Runtime, now: datetime) -> Escalation:
    """Fire one due rule in the caller's transaction (flush raises IntegrityError if the key
    was fired meanwhile)."""
    problem = session.get(Problem, due.problem_id)
    rule = due.rule
    targets = resolve(session, problem, rule["targets"])
    escalation = Escalation(
        key=due.key, problem_id=problem.id, rule_code=rule["code"], rule_name=rule["name"], level=rule["level"],
        rule_version=ladder.version, trigger=dict(due.trigger, event_id=due.event_id) if due.event_id else due.trigger,
        deadline=due.deadline, due_at=due.moment, fired_at=now, targets=targets, action=rule["action"],
        instance_ids=[])
    session.add(escalation)
    session.flush()
    if rule["action"]["kind"] == "start_process":
        escalation.instance_ids, escalation.note = _start_processes(session, escalation, problem, runtime)
    ledger.record(session, Action.ESCALATION_FIRED, actor=None, subject_type="escalation",
                  subject_id=escalation.id, problem_id=problem.id, payload={
                      "level": escalation.level, "rule": escalation.rule_code, "name": escalation.rule_name,
                      "rule_version": escalation.rule_version, "key": escalation.key,
                      "due_at": due.moment.isoformat(), "targets": [t["name"] for t in targets],
                      "instances": escalation.instance_ids, "note": escalation.note})
    escalation_fired(session, escalation, runtime.calendar, runtime.channels)  # 督办通知, same transaction
    return escalation


def _start_processes(session: Session, escalation: Escalation, problem: Problem,
                     runtime: Runtime) -> tuple[list[int], str | None]:
    key = escalation.action["process"]
    definition = runtime.current(session, key)
    if definition is None:
        return [], f"process {key!r} is not deployed: nothing was started"
    refusal = purpose.refusal_for_ladder(key, definition.purpose)
    if refusal:
        return [], f"{refusal}: nothing was started"
    data = {"problem_code": problem.code, "problem_title": problem.title, "level": escalation.level,
            "level_name": escalation.rule_name, "rule": escalation.rule_code,
            "deadline": problem.deadline.isoformat() if problem.deadline else None,
            "overdue_working_days": overdue_working_days(problem, runtime.calendar, escalation.fired_at),
            "target_names": describe(escalation.targets)}
    if not purpose.one_per_official(key, definition.purpose):
        instance = runtime.start(session, definition, problem, None, data=data, escalation_id=escalation.id)
        return [instance.id], None
    started = []
    for target in escalation.targets:  # one case per official (问责对象)
        official = session.get(Official, target["official_id"])
        party, government = fitting_forms(official)
        case = {**data, "official_name": official.name, "official_title": target.get("title"),
                "allowed_party_forms": party, "allowed_government_forms": government}
        instance = runtime.start(session, definition, problem, None, data=case, escalation_id=escalation.id,
                                 subject_official_id=official.id)
        started.append(instance.id)
    return started, None
