"""The accountability record (问责记录): decisions written when an accountability case's
decision task is completed, and read back by case and by official.

A user task with the property `records` = `accountability_decision` records a decision when
it is completed. Its form names the chosen forms in two fields (see bpmn/README.md):
`party_form` (党内问责方式) and `government_form` (政务处分), a code each (or a list of
codes, for a checklist) from config/accountability.toml; `decision_date`, `decision_no` and
`basis` are read when present. A chosen form must fit the official the case is about
(engine.escalation.accountability.fitting_forms) as the official stands now; anything else is
refused naming the field, before the workflow moves. One row is written per chosen form, with
its influence period (影响期) from the catalogue, and one ledger entry per row. Rows are
never changed or deleted.
"""
from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from . import clock, ledger
from .errors import Invalid, NotFound
from .escalation.accountability import catalogue, fitting_forms
from .ledger import Action
from .models import (AccountabilityCategory, AccountabilityDecision, Escalation, HumanTask, InstanceStatus,
                     Official, ProcessDefinition, ProcessInstance, TaskState, User)

PROCESS_KEY = "accountability"  # the process the ladder starts, one case per official
DECISION = "accountability_decision"
APPEAL, REVIEW = "accountability_appeal", "appeal_decision"  # engine/appeals.py
RECORDS = (DECISION, APPEAL, REVIEW)  # the values the `records` property may take
FIELDS = {AccountabilityCategory.PARTY: "party_form", AccountabilityCategory.GOVERNMENT: "government_form"}


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the last day of the month where that day does not exist)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def record(session: Session, task: HumanTask, properties: dict, clean: dict, actor: User) -> dict:
    """Write what a completed task's `records` property asks for, in the caller's transaction;
    the process data to add for the steps after it (e.g. the forms' names for a notice)."""
    from . import appeals  # it builds on this module

    kind = properties.get("records")
    if kind == DECISION:
        decisions = record_decision(session, task, clean, actor)
        return {"decided_forms": "；".join(f"{d.category.label}：{d.form_label}" for d in decisions),
                "decision_ids": [d.id for d in decisions],
                **appeals.lighter_forms(decisions[0].official, decisions)}
    if kind == APPEAL:
        return appeals.record_appeal(session, task, clean, actor)
    if kind == REVIEW:
        return appeals.record_review(session, task, clean, actor)
    return {}


def _codes(value) -> list[str]:
    if value in (None, "", []):
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def record_decision(session: Session, task: HumanTask, clean: dict, actor: User) -> list[AccountabilityDecision]:
    instance = task.instance
    official = session.get(Official, instance.subject_official_id) if instance.subject_official_id else None
    if official is None:
        raise Invalid("this case names no official to decide on (问责对象)",
                      {"official": ["an accountability case is started by the ladder for one official"]})
    party, government = fitting_forms(official)
    allowed = {AccountabilityCategory.PARTY: {o["value"]: o["label"] for o in party},
               AccountabilityCategory.GOVERNMENT: {o["value"]: o["label"] for o in government}}
    months = {f["code"]: int(f.get("months", 0)) for kind in ("party", "government") for f in catalogue()[kind]}

    chosen, errors = [], {}
    for category, key in FIELDS.items():
        for code in _codes(clean.get(key)):
            if code in allowed[category]:
                chosen.append((category, code))
                continue
            offered = "、".join(allowed[category].values())
            errors.setdefault(key, []).append(
                f"{code!r} is not a form that fits {official.name}: "
                + (f"the forms offered are {offered}" if offered else _why_none(official, category)))
    if not errors and not chosen:
        fitting = [key for category, key in FIELDS.items() if allowed[category]] or ["official"]
        errors = {key: ["choose the accountability form decided (党内问责方式 or 政务处分)"] for key in fitting}
    decided_on = _decision_date(clean.get("decision_date"), errors)
    if errors:
        raise Invalid("the decision cannot be recorded", errors)

    rows = []
    for category, code in chosen:
        period = months.get(code, 0)
        row = AccountabilityDecision(
            official_id=official.id, problem_id=instance.problem_id, escalation_id=instance.escalation_id,
            process_instance_id=instance.id, human_task_id=task.id, category=category, form=code,
            form_label=allowed[category][code], decision_no=clean.get("decision_no") or None,
            decision_date=decided_on, decided_at=clock.now(), decided_by_id=actor.id if actor else None,
            influence_months=period, influence_until=add_months(decided_on, period) if period else None,
            basis=clean.get("basis") or None)
        session.add(row)
        session.flush()
        ledger.record(session, Action.ACCOUNTABILITY_DECIDED, actor=actor, subject_type="accountability_decision",
                      subject_id=row.id, problem_id=instance.problem_id, payload={
                          "official_id": official.id, "official": official.name, "category": category.value,
                          "form": code, "form_label": row.form_label, "decision_no": row.decision_no,
                          "decision_date": decided_on.isoformat(), "influence_months": period,
                          "influence_until": row.influence_until.isoformat() if row.influence_until else None,
                          "instance": instance.id, "task": task.id})
        rows.append(row)
    return rows


def _why_none(official: Official, category: AccountabilityCategory) -> str:
    if category == AccountabilityCategory.PARTY:
        return f"{official.name} is not a Party member, so no Party form (党内问责) applies"
    return f"{official.name} holds no government or department post, so no 政务处分 applies"


def _decision_date(value, errors: dict) -> date:
    return dated(value, "decision_date", errors)


def dated(value, key: str, errors: dict, earliest: date | None = None) -> date:
    """The date a decision gives itself (today when none): not after today, nor before
    `earliest`; a bad one is written to `errors` under `key`."""
    today = clock.today()
    if value in (None, ""):
        return today
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        errors[key] = [f"{value!r} is not a date"]
        return today
    if day > today:
        errors[key] = ["a decision cannot be dated after today"]
    elif earliest is not None and day < earliest:
        errors[key] = [f"it cannot be dated before the decision it reviews ({earliest.isoformat()})"]
    return day


# -- reading ------------------------------------------------------------------------------------

@dataclass
class OfficialRecord:
    """An official's accountability record: every decision, newest first, read at `today`."""

    official: Official
    decisions: list[AccountabilityDecision]
    today: date

    @property
    def in_force(self) -> list[AccountabilityDecision]:
        return [d for d in self.decisions if d.in_force(self.today)]


def official_record(session: Session, official_id: int) -> OfficialRecord:
    official = session.get(Official, official_id)
    if official is None:
        raise NotFound(f"no official with id {official_id}")
    decisions = session.scalars(select(AccountabilityDecision).where(AccountabilityDecision.official_id == official_id)
                                .order_by(AccountabilityDecision.decision_date.desc(),
                                          AccountabilityDecision.id.desc())).all()
    return OfficialRecord(official, list(decisions), clock.today())


@dataclass(frozen=True)
class Subject:
    """The official a case (or an interview) is about (问责对象), with the post the firing of
    the ladder named them in (e.g. 县委书记)."""

    official_id: int
    name: str
    post: str | None

    @property
    def label(self) -> str:
        return f"{self.name}（{self.post}）" if self.post else self.name


def subjects(session: Session, instances) -> dict[int, Subject]:
    """instance id -> the official it is about, for the instances that name one; the officials
    and the firings read in two queries whatever the number of instances."""
    named = [i for i in instances if i.subject_official_id is not None]
    if not named:
        return {}
    names = dict(session.execute(select(Official.id, Official.name)
                                 .where(Official.id.in_({i.subject_official_id for i in named}))).all())
    firings = {e.id: e for e in session.scalars(select(Escalation).where(
        Escalation.id.in_({i.escalation_id for i in named if i.escalation_id is not None})))}
    found = {}
    for instance in named:
        firing = firings.get(instance.escalation_id)
        post = next((t.get("title") for t in (firing.targets or []) if firing is not None
                     and t.get("official_id") == instance.subject_official_id), None) if firing else None
        found[instance.id] = Subject(instance.subject_official_id, names.get(instance.subject_official_id, "—"),
                                     post or None)
    return found


@dataclass
class Case:
    """One accountability case (an instance of the accountability process) as the discipline
    office follows it: the official it is about, and the firing of the ladder that opened it
    (several cases share one firing: one case per official, 党政同责)."""

    instance: ProcessInstance
    official: Official | None
    decisions: list[AccountabilityDecision]
    open_tasks: list[HumanTask]
    today: date
    subject: Subject | None = None
    escalation: Escalation | None = None


def cases_query(status: InstanceStatus | None = None, official_id: int | None = None,
                problem_id: int | None = None) -> Select:
    statement = (select(ProcessInstance).join(ProcessDefinition)
                 .where(ProcessDefinition.key == PROCESS_KEY))
    if status is not None:
        statement = statement.where(ProcessInstance.status == status)
    if official_id is not None:
        statement = statement.where(ProcessInstance.subject_official_id == official_id)
    if problem_id is not None:
        statement = statement.where(ProcessInstance.problem_id == problem_id)
    return statement


def cases(session: Session, statement: Select, page: int, per_page: int) -> tuple[list[Case], int]:
    """One page of the cases `statement` selects, newest first, and how many there are."""
    total = session.scalar(select(func.count()).select_from(statement.subquery()))
    # the cases one firing opened stay together: newest first, then by firing, then in order
    instances = session.scalars(statement.order_by(ProcessInstance.started_at.desc(),
                                                   ProcessInstance.escalation_id.desc(), ProcessInstance.id.desc())
                                .offset((page - 1) * per_page).limit(per_page)).all()
    ids = [i.id for i in instances]
    decisions: dict[int, list[AccountabilityDecision]] = {i: [] for i in ids}
    tasks: dict[int, list[HumanTask]] = {i: [] for i in ids}
    if ids:
        for row in session.scalars(select(AccountabilityDecision).where(
                AccountabilityDecision.process_instance_id.in_(ids)).order_by(AccountabilityDecision.id)):
            decisions[row.process_instance_id].append(row)
        for row in session.scalars(select(HumanTask).where(HumanTask.instance_id.in_(ids),
                                                           HumanTask.state == TaskState.READY).order_by(HumanTask.id)):
            tasks[row.instance_id].append(row)
    today = clock.today()
    named = subjects(session, instances)
    firings = {e.id: e for e in session.scalars(select(Escalation).where(
        Escalation.id.in_({i.escalation_id for i in instances if i.escalation_id is not None})))} if ids else {}
    found = [Case(i, session.get(Official, i.subject_official_id) if i.subject_official_id else None,
                  decisions[i.id], tasks[i.id], today, named.get(i.id), firings.get(i.escalation_id))
             for i in instances]
    return found, total
