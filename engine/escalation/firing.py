"""Finding what is due on the ladder and firing it, once.

Every firing is one transaction: the escalation row (its key unique), the ledger entry and the
processes it starts commit together; a second sweep or a second scheduler that reaches the
same key fails on the unique constraint and moves on.

A problem enters the ladder once (ladder.entering): the rungs that fell due before its
`ladder_from` collapse into the highest of them, and those it passes over are recorded in
the same transaction as its firing (PassedOverRung, their keys unique too), so that neither a
deadline, a repeat nor an event fires them afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from .. import ledger
from ..calendar import WorkingCalendar
from ..ledger import Action
from ..models import (Escalation, EscalationEvent, LadderRung, Official, PassedOverRung, Post, Problem,
                      ProblemStatus)
from ..workflow import purpose
from ..workflow.runtime import Runtime
from . import due_moments, gaps
from .accountability import fitting_forms
from .ladder import Due, deadline_dues, deadline_key, entering, overdue_working_days
from .notices import escalation_fired
from .rules import Ladder
from .targets import describe, resolve


def fired_keys(session: Session, problem_ids: list[int]) -> set[str]:
    """The keys of these problems that are settled: fired, or passed over when their problem
    entered the ladder."""
    return (set(session.scalars(select(Escalation.key).where(Escalation.problem_id.in_(problem_ids))))
            | set(session.scalars(select(PassedOverRung.key).where(PassedOverRung.problem_id.in_(problem_ids)))))


@dataclass
class Survey:
    """What a look at some problems found: the rungs due by `now` (soonest first, one per key)
    and, per problem, the moment its next rung falls due after `now` (None: none will) and
    every deadline rung after `now` (`rungs`, soonest first: what due_moments stores)."""

    due: list[Due] = field(default_factory=list)
    later: dict[int, datetime | None] = field(default_factory=dict)
    rungs: dict[int, list[Due]] = field(default_factory=dict)
    ahead: list[Due] = field(default_factory=list)  # the deadline dues after `now` (by `until`)


def survey(session: Session, problem_ids: list[int], ladder: Ladder, calendar: WorkingCalendar, now: datetime,
           until: datetime | None = None) -> Survey:
    """Work out these problems' places on the ladder, a batch at a time: their deadline dues
    (each problem's backlog collapsed into the rung it enters the ladder at), the repeats and
    the events from processes; with `until`, also the deadline dues after `now` and by then."""
    found = Survey()
    dues: list[Due] = []
    for batch in due_moments.batches(problem_ids):
        problems = session.scalars(select(Problem).where(Problem.id.in_(batch)).order_by(Problem.id)).all()
        settled = fired_keys(session, batch)
        for problem in problems:
            mine = entering(problem, deadline_dues(problem, ladder, calendar), settled)
            dues += [due for due in mine if due.moment <= now]
            after = sorted((due for due in mine if due.moment > now), key=lambda due: (due.moment, due.rule["level"]))
            found.rungs[problem.id] = after
            found.later[problem.id] = after[0].moment if after else None
            if until is not None:
                found.ahead += [due for due in after if due.moment <= until]
        dues += _repeats(session, ladder, settled, batch)
        dues += _events(session, ladder, settled, batch)
    first: dict[str, Due] = {}
    for due in sorted(dues, key=lambda due: (due.moment, due.rule["level"], due.problem_id)):
        first.setdefault(due.key, due)  # one rung, several triggers: the earliest fires it
    found.due = list(first.values())
    found.ahead.sort(key=lambda due: (due.moment, due.rule["level"], due.problem_id))
    return found


def candidates(session: Session, by: datetime, work_out: int | None = None) -> list[int]:
    """The problems the sweep looks at: those whose next rung falls due by `by` or that are to
    be worked out (indexed; with `work_out`, the first that many of those to be worked out
    only), and those holding a rung as an open organisation gap."""
    if work_out is None:
        due = set(due_moments.due_by(session, by))
    else:
        due = set(due_moments.due_between(session, due_moments.TO_WORK_OUT, by)) | set(
            due_moments.to_work_out(session, limit=work_out))
    return sorted(due | {gap.problem_id for gap in gaps.open_gaps(session)})


def pending(session: Session, ladder: Ladder, calendar: WorkingCalendar, now: datetime,
            record: bool = False, work_out: int | None = None) -> list[Due]:
    """Everything due by `now` and not fired yet, soonest first; `record` stores each problem
    looked at with the moment its next rung falls due after now. With `work_out` (and
    `record`), only the first that many problems to be worked out are: the others wait for
    the next call, in another transaction. A problem with a rung due keeps that moment until the
    rung fires (its firing marks it to be worked out) or is held: the firing commits in a
    transaction of its own, and a sweep cut short before it (a leader killed, frozen or fenced
    out) leaves the rung due for the next one."""
    found = survey(session, candidates(session, now, work_out if record else None), ladder, calendar, now)
    if record:
        due_moments.store(session, due_moments.until_fired(found.later, found.due), found.rungs)
    return found.due


# the forecast's two orders, of (moment, problem id, level, key): a page's, and the first lines'
PAGE_ORDER = (0, 1, 2, 3)   # soonest first, then by problem, level and key
FIRST_ORDER = (0, 2, 1, 3)  # soonest first, then by level, problem and key


def forecast_live(session: Session, ladder: Ladder, calendar: WorkingCalendar, now: datetime, until: datetime,
                  narrow=None) -> list[Due]:
    """What the deadlines will fire after `now` and by `until`, worked out from every problem
    whose next rung falls due by `until` (soonest first, then by level and problem): what the
    stored rungs must always agree with, and the forecast of the problems still to be worked
    out. `narrow` (Select -> Select) limits the problems to a scope."""
    return survey(session, due_moments.due_by(session, until, narrow), ladder, calendar, now, until).ahead


def forecast(session: Session, ladder: Ladder, calendar: WorkingCalendar, now: datetime,
             until: datetime, limit: int | None = None, narrow=None) -> list[Due]:
    """What the deadlines will fire after `now` and by `until` (events cannot be foreseen),
    soonest first (then by level and problem); with `limit`, the first `limit` of them only;
    `narrow` (Select -> Select) limits the problems to a scope. Read from the stored rungs
    (and a survey of the problems still to be worked out): only the problems of the lines
    given are worked out."""
    lines, _ = window(session, ladder, calendar, now, until, FIRST_ORDER, 0, limit, narrow, count=False)
    return lines


def forecast_page(session: Session, ladder: Ladder, calendar: WorkingCalendar, now: datetime,
                  until: datetime, offset: int, size: int) -> tuple[list[Due], int]:
    """Lines `offset` to `offset + size` of the forecast soonest first (then by problem, level
    and key) and how many lines it has in all."""
    return window(session, ladder, calendar, now, until, PAGE_ORDER, offset, size)


def window(session: Session, ladder: Ladder, calendar: WorkingCalendar, now: datetime, until: datetime,
           order: tuple[int, ...], offset: int, size: int | None, narrow=None,
           count: bool = True) -> tuple[list[Due], int | None]:
    """Lines [offset, offset + size) of the forecast in `order` (all from `offset` when `size`
    is None) and, with `count`, how many lines it has.

    The stored rungs (due_moments) of the problems that are worked out are counted and sliced
    in the database; the problems to be worked out (normally few) are surveyed now, and their
    lines merged in: a stored rung's place is its index among the stored ones plus the live
    lines before it, so that the slice read from the database starts at most as many places
    before `offset` as there are live lines. Then only the problems of the lines kept are
    surveyed, for the `Due`s with their rules and passed-over rungs."""
    def sort_key(line):
        return tuple(line[i] for i in order)

    live_dues = survey(session, due_moments.to_work_out(session, narrow), ladder, calendar, now, until).ahead
    found = {due.key: due for due in live_dues}
    live = sorted(((due.moment, due.problem_id, due.rule["level"], due.key) for due in live_dues), key=sort_key)
    total = None
    if count:
        total = session.scalar(_stored(select(func.count()), now, until, narrow)) + len(live)
    start = max(0, offset - len(live))
    rung_key = LadderRung.key.collate("C") if session.get_bind().dialect.name == "postgresql" else LadderRung.key
    columns = (LadderRung.moment, LadderRung.problem_id, LadderRung.level, rung_key)
    statement = _stored(select(LadderRung.moment, LadderRung.problem_id, LadderRung.level, LadderRung.key),
                        now, until, narrow).order_by(*(columns[i] for i in order)).offset(start)
    if size is not None:
        statement = statement.limit(offset + size - start)
    stored = [tuple(row) for row in session.execute(statement).all()]
    full = size is not None and len(stored) == offset + size - start
    before = {line for line in live if start and (not stored or sort_key(line) < sort_key(stored[0]))}
    after = {line for line in live if full and sort_key(line) > sort_key(stored[-1])}
    merged = sorted(stored + [line for line in live if line not in before and line not in after], key=sort_key)
    first = offset - start - len(before)
    kept = merged[first:] if size is None else merged[first:first + size]
    wanted = sorted({line[1] for line in kept if line[3] not in found})
    if wanted:
        found.update((due.key, due) for due in survey(session, wanted, ladder, calendar, now, until).ahead)
    return [found[line[3]] for line in kept if line[3] in found], total


def _stored(statement, now: datetime, until: datetime, narrow=None):
    """`statement` over the stored rungs after `now` and by `until` of the problems that are
    worked out (a problem to be worked out keeps stale rows until it is), within the scope."""
    statement = (statement.select_from(LadderRung).join(Problem, Problem.id == LadderRung.problem_id)
                 .where(LadderRung.moment > now, LadderRung.moment <= until,
                        Problem.ladder_due_at > due_moments.TO_WORK_OUT))
    return narrow(statement) if narrow is not None else statement


def _repeats(session: Session, ladder: Ladder, fired: set[str], problem_ids: list[int]) -> list[Due]:
    """The C-th firing of level L (e.g. a second yellow card) fires the rule that counts it."""
    found = []
    for rule in ladder.rules:
        for trigger in rule["triggers"]:
            if trigger["kind"] != "repeat":
                continue
            counts = session.execute(select(Escalation.problem_id, func.count(), func.max(Escalation.fired_at))
                                     .where(Escalation.level == trigger["level"],
                                            Escalation.problem_id.in_(problem_ids))
                                     .group_by(Escalation.problem_id)).all()
            for problem_id, count, last in counts:
                problem = session.get(Problem, problem_id)
                if count < trigger["count"] or problem.status == ProblemStatus.CLOSED:
                    continue
                key = deadline_key(problem, rule, problem.deadline)
                if key not in fired:
                    found.append(Due(problem_id, rule, trigger, last, problem.deadline, key))
    return found


def _events(session: Session, ladder: Ladder, fired: set[str], problem_ids: list[int]) -> list[Due]:
    found = []
    for event in session.scalars(select(EscalationEvent).where(EscalationEvent.problem_id.in_(problem_ids))
                                 .order_by(EscalationEvent.id)):
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


def load_for_firing(session: Session, problem_ids) -> list[Problem]:
    """The problems with what their targets and notices read, in a few queries instead of
    some per firing; the caller holds the list while it fires (the session keeps only weak
    references to what it loaded)."""
    problem_ids = sorted(set(problem_ids))
    if not problem_ids:
        return []
    return list(session.scalars(select(Problem).where(Problem.id.in_(problem_ids)).options(
        selectinload(Problem.region), selectinload(Problem.lead_unit),
        selectinload(Problem.industry_unit), selectinload(Problem.cooperating_units),
        selectinload(Problem.responsible_official).selectinload(Official.posts).selectinload(Post.unit),
        selectinload(Problem.leading_official).selectinload(Official.posts).selectinload(Post.unit))))


def fire(session: Session, due: Due, ladder: Ladder, runtime: Runtime, now: datetime) -> Escalation | None:
    """Fire one due rule in the caller's transaction (flush raises IntegrityError if the key
    was fired meanwhile). 党政同责: where a `*_heads` target lacks the Party or the government
    head of a level it names, nothing fires; the rung is held as an organisation gap (None)."""
    problem = session.get(Problem, due.problem_id)
    rule = due.rule
    missing = gaps.missing_heads(session, problem, rule["targets"])
    if missing:
        gaps.hold(session, problem, rule, due.key, missing, now, runtime.channels)
        due_moments.held(session, problem, now)
        return None
    targets = resolve(session, problem, rule["targets"])
    escalation = Escalation(
        key=due.key, problem_id=problem.id, rule_code=rule["code"], rule_name=rule["name"], level=rule["level"],
        rule_version=ladder.version, trigger=dict(due.trigger, event_id=due.event_id) if due.event_id else due.trigger,
        deadline=due.deadline, due_at=due.moment, fired_at=now, targets=targets, action=rule["action"],
        instance_ids=[])
    session.add(escalation)
    session.flush()
    due_moments.mark(problem)  # the next rung, a repeat it makes due
    gap = gaps.close(session, due.key, escalation, now)
    for passed in due.passed_over:  # entered the ladder here: the rungs below are passed over
        session.add(PassedOverRung(key=passed.key, problem_id=problem.id, escalation_id=escalation.id,
                                   rule_code=passed.rule["code"], rule_name=passed.rule["name"],
                                   level=passed.rule["level"], deadline=passed.deadline, due_at=passed.moment,
                                   recorded_at=now))
    if due.passed_over:
        session.flush()
    if rule["action"]["kind"] == "start_process":
        escalation.instance_ids, escalation.note = _start_processes(session, escalation, problem, runtime)
    ledger.record(session, Action.ESCALATION_FIRED, actor=None, subject_type="escalation",
                  subject_id=escalation.id, problem_id=problem.id, payload={
                      "level": escalation.level, "rule": escalation.rule_code, "name": escalation.rule_name,
                      "rule_version": escalation.rule_version, "key": escalation.key,
                      "due_at": due.moment.isoformat(), "targets": [t["name"] for t in targets],
                      "instances": escalation.instance_ids, "note": escalation.note,
                      **({"held_since": gap.since.isoformat()} if gap is not None else {}),
                      **({"ladder_from": problem.ladder_from.isoformat(),
                          "passed_over": [passed.rule["code"] for passed in due.passed_over]}
                         if due.passed_over else {})})
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
    if definition.purpose == "interview" and not any(t.get("side") in ("party", "government", "both")
                                                     for t in escalation.targets):
        # 约谈 is of the Party and government heads: never an interview that names no head
        return [], "an interview names the Party and government heads; this rule names none: nothing was started"
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
