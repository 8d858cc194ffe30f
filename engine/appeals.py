"""Appeals (申诉) against accountability decisions, and what their review decides.

After the official is told the decision, an accountability case waits for them at a user task
in the 被问责人 lane whose property `records` = `accountability_appeal`: its form's field
`appeal` is `appeal` (提出申诉) or `accept` (不申诉), `appeal_reason` the grounds. The window
is the diagram's (the task's due time and the cancelling timer on its boundary: 15 days in
the shipped diagram); when it runs out the case goes on without an appeal.

An appeal is decided at a user task whose property `records` = `appeal_decision` (纪委监委,
30 days in the shipped diagram). Its form's `appeal_outcome` is one of
- `upheld` (维持原决定): every decision of the case stands;
- `revoked` (撤销): every decision stops running on the appeal decision's date;
- `changed` (变更): `new_party_form` / `new_government_form` name the lighter form a decision
  of that category becomes (an appeal never makes a decision heavier: 申诉不加重; the forms in
  config/accountability.toml are listed lightest first). The new form is a new decision row
  whose influence period counts from the original decision's date; a category left empty
  stands as decided.
and `appeal_decision_no`, `appeal_decision_date` and `appeal_opinion` describe the decision.

Nothing is changed or deleted: one revision row per decision of the case (the outcome, the
appeal, the decision), one ledger entry per row, and for a change a new decision row.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from . import clock, ledger
from .accountability import add_months, dated
from .errors import Invalid
from .escalation.accountability import catalogue, fitting_forms
from .ledger import Action
from .models import (AccountabilityCategory, AccountabilityDecision, AccountabilityRevision, HumanTask,
                     LedgerEntry, Official, RevisionOutcome, User)

APPEAL = "accountability_appeal"   # the values of the `records` property (engine/accountability.py)
REVIEW = "appeal_decision"
CHOICES = {"appeal": Action.ACCOUNTABILITY_APPEALED, "accept": Action.ACCOUNTABILITY_APPEAL_WAIVED}
NEW_FORM = {AccountabilityCategory.PARTY: "new_party_form", AccountabilityCategory.GOVERNMENT: "new_government_form"}
KIND = {AccountabilityCategory.PARTY: "party", AccountabilityCategory.GOVERNMENT: "government"}
CASE = "accountability_case"  # the ledger's subject type for a case's appeal


def standing(session: Session, instance_id: int) -> list[AccountabilityDecision]:
    """The case's decisions that no appeal has revoked or changed (a change's new row among them)."""
    rows = session.scalars(select(AccountabilityDecision)
                           .where(AccountabilityDecision.process_instance_id == instance_id)
                           .options(selectinload(AccountabilityDecision.revisions))
                           .order_by(AccountabilityDecision.id)).all()
    return [row for row in rows if row.ended_by is None]


def _rank(category: AccountabilityCategory) -> dict[str, int]:
    return {form["code"]: index for index, form in enumerate(catalogue()[KIND[category]])}


def lighter_forms(official: Official, decisions: list[AccountabilityDecision]) -> dict[str, list[dict]]:
    """For the review's form: per category, the forms that fit the official and are lighter
    than the heaviest decided in it (`lighter_party_forms`, `lighter_government_forms`)."""
    party, government = fitting_forms(official)
    fitting = {AccountabilityCategory.PARTY: party, AccountabilityCategory.GOVERNMENT: government}
    found = {}
    for category, options in fitting.items():
        rank = _rank(category)
        decided = [rank[d.form] for d in decisions if d.category == category and d.form in rank]
        heaviest = max(decided, default=-1)
        found[f"lighter_{KIND[category]}_forms"] = [o for o in options if rank.get(o["value"], heaviest) < heaviest]
    return found


def _official(session: Session, task: HumanTask) -> Official:
    instance = task.instance
    official = session.get(Official, instance.subject_official_id) if instance.subject_official_id else None
    if official is None:
        raise Invalid("this case names no official (问责对象)",
                      {"official": ["an appeal belongs to an accountability case about one official"]})
    return official


def record_appeal(session: Session, task: HumanTask, clean: dict, actor: User) -> dict:
    """The official appeals (or says they will not): a ledger entry naming the decisions."""
    official = _official(session, task)
    choice = clean.get("appeal")
    if choice not in CHOICES:
        raise Invalid("the appeal cannot be recorded",
                      {"appeal": ["choose 提出申诉 (appeal) or 不申诉 (accept)"]})
    decisions = standing(session, task.instance_id)
    if not decisions:
        raise Invalid("this case has no decision to appeal", {"appeal": ["no accountability decision stands in this case"]})
    reason = str(clean.get("appeal_reason") or "").strip()
    if choice == "appeal" and not reason:
        raise Invalid("the appeal cannot be recorded", {"appeal_reason": ["give the grounds of the appeal (申诉理由)"]})
    ledger.record(session, CHOICES[choice], actor=actor, subject_type=CASE, subject_id=task.instance_id,
                  problem_id=task.problem_id,
                  payload={"official_id": official.id, "official": official.name, "task": task.id,
                           "decisions": [d.id for d in decisions], "forms": [d.form_label for d in decisions],
                           **({"reason": reason} if choice == "appeal" else {})})
    return {"appealed": choice == "appeal"}


def _appeal(session: Session, instance_id: int) -> LedgerEntry | None:
    """The case's latest appeal, as the ledger holds it."""
    return session.scalars(select(LedgerEntry).where(LedgerEntry.action == str(Action.ACCOUNTABILITY_APPEALED),
                                                     LedgerEntry.subject_type == CASE,
                                                     LedgerEntry.subject_id == str(instance_id))
                           .order_by(LedgerEntry.id.desc()).limit(1)).first()


def _changes(official: Official, decisions: list[AccountabilityDecision], clean: dict,
             errors: dict) -> dict[AccountabilityCategory, tuple[str, str]]:
    """For `changed`: category -> (new code, its label), each lighter than what was decided."""
    changes = {}
    options = lighter_forms(official, decisions)
    for category, key in NEW_FORM.items():
        code = clean.get(key)
        if code in (None, "", []):
            continue
        code = str(code)
        lighter = {o["value"]: o["label"] for o in options[f"lighter_{KIND[category]}_forms"]}
        if not any(d.category == category for d in decisions):
            errors[key] = [f"no {category.label} was decided in this case, so an appeal cannot change one"]
        elif code not in lighter:
            offered = "、".join(lighter.values())
            errors[key] = [f"{code!r} is not lighter than the form decided (申诉不加重): "
                           + (f"the forms offered are {offered}" if offered else "no lighter form fits the official")]
        else:
            changes[category] = (code, lighter[code])
    if not changes and not errors:
        fitting = [key for category, key in NEW_FORM.items() if any(d.category == category for d in decisions)]
        errors.update({key: ["choose the lighter form the decision is changed to"] for key in fitting})
    return changes


def record_review(session: Session, task: HumanTask, clean: dict, actor: User) -> dict:
    """The appeal's review: a revision row per standing decision, a new decision per change."""
    official = _official(session, task)
    decisions = standing(session, task.instance_id)
    if not decisions:
        raise Invalid("this case has no decision to review", {"appeal_outcome": ["no accountability decision stands"]})
    errors: dict = {}
    try:
        outcome = RevisionOutcome(clean.get("appeal_outcome"))
    except ValueError:
        outcome = None
        errors["appeal_outcome"] = ["choose upheld (维持原决定), revoked (撤销) or changed (变更)"]
    changes = _changes(official, decisions, clean, errors) if outcome == RevisionOutcome.CHANGED else {}
    decided_on = dated(clean.get("appeal_decision_date"), "appeal_decision_date", errors,
                       earliest=max(d.decision_date for d in decisions))
    if errors:
        raise Invalid("the appeal decision cannot be recorded", errors)

    appeal = _appeal(session, task.instance_id)
    now, number = clock.now(), clean.get("appeal_decision_no") or None
    opinion = clean.get("appeal_opinion") or None
    replacements: dict[AccountabilityCategory, AccountabilityDecision] = {}
    results = []
    for decision in decisions:
        if outcome == RevisionOutcome.CHANGED and decision.category not in changes:
            kind = RevisionOutcome.UPHELD  # a category the change leaves alone stands as decided
        else:
            kind = outcome
        replacement = None
        if kind == RevisionOutcome.CHANGED:
            replacement = replacements.get(decision.category) or _replace(
                session, decision, *changes[decision.category], number, opinion, task, actor, now)
            replacements[decision.category] = replacement
        revision = AccountabilityRevision(
            decision_id=decision.id, outcome=kind, replacement_id=replacement.id if replacement else None,
            appealed_at=appeal.at if appeal else None, appeal_reason=(appeal.payload or {}).get("reason") if appeal else None,
            decision_no=number, decision_date=decided_on, decided_at=now, decided_by_id=actor.id if actor else None,
            reason=opinion, process_instance_id=task.instance_id, human_task_id=task.id)
        session.add(revision)
        session.flush()
        ledger.record(session, Action.ACCOUNTABILITY_REVISED, actor=actor, subject_type="accountability_revision",
                      subject_id=revision.id, problem_id=task.problem_id, payload={
                          "official_id": official.id, "official": official.name, "decision": decision.id,
                          "form_label": decision.form_label, "outcome": kind.value,
                          "replacement": replacement.id if replacement else None,
                          "replacement_label": replacement.form_label if replacement else None,
                          "decision_no": number, "decision_date": decided_on.isoformat(),
                          "instance": task.instance_id, "task": task.id})
        results.append(_words(kind, decision, replacement))
    return {"appeal_result": "；".join(dict.fromkeys(results)), "appeal_outcome_label": outcome.label}


def _replace(session, decision: AccountabilityDecision, code: str, label: str, number, opinion, task: HumanTask,
             actor: User, now) -> AccountabilityDecision:
    """The lighter decision a change makes: its period counts from the original decision's date."""

    months = {f["code"]: int(f.get("months", 0)) for f in catalogue()[KIND[decision.category]]}[code]
    row = AccountabilityDecision(
        official_id=decision.official_id, problem_id=decision.problem_id, escalation_id=decision.escalation_id,
        process_instance_id=decision.process_instance_id, human_task_id=task.id, category=decision.category,
        form=code, form_label=label, decision_no=number or decision.decision_no, decision_date=decision.decision_date,
        decided_at=now, decided_by_id=actor.id if actor else None, influence_months=months,
        influence_until=add_months(decision.decision_date, months) if months else None,
        basis=opinion or decision.basis)
    session.add(row)
    session.flush()
    ledger.record(session, Action.ACCOUNTABILITY_DECIDED, actor=actor, subject_type="accountability_decision",
                  subject_id=row.id, problem_id=row.problem_id, payload={
                      "official_id": row.official_id, "official": decision.official.name,
                      "category": row.category.value, "form": code,
                      "form_label": label, "decision_no": row.decision_no,
                      "decision_date": row.decision_date.isoformat(), "influence_months": months,
                      "influence_until": row.influence_until.isoformat() if row.influence_until else None,
                      "instance": row.process_instance_id, "task": task.id, "replaces": decision.id})
    return row


def _words(kind: RevisionOutcome, decision: AccountabilityDecision, replacement) -> str:
    """The outcome for one decision, as the notice to the official says it."""
    if kind == RevisionOutcome.CHANGED:
        return f"{decision.category.label}由{decision.form_label}变更为{replacement.form_label}"
    if kind == RevisionOutcome.REVOKED:
        return f"撤销{decision.form_label}"
    return f"维持{decision.form_label}"
