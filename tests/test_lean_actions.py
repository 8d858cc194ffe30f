"""Registering a problem and completing a task take a small, fixed number of SQL statements,
whatever the number of problems stored, and the ledger's chain stays intact and serialised."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import event, select

from engine import ledger
from engine.ledger import Action
from engine.models import HumanTask, LedgerEntry, ProblemCategory, ProblemSource, TaskState
from engine.problems import NewProblem

from .helpers_flow import PLAN

# The most statements each action may take (BEGIN counted), by database, one above what they take
# now. On SQLite the scripts of an action are met in a short read before its write transaction
# (engine/areas/calendar.py, scripts_first): BEGIN, the calendar's revision, what the action
# starts from (the process version; the task with its instance and version, and the account
# with its roles only when the process runs scripts). Then, in the write transaction:
#   registration (27 now): BEGIN, the calendar's revision, the account with its roles (one
#     query), the process version (without its document), the units and the officials named
#     (one query each), the region, the code not yet taken; the problem, its cooperating unit,
#     its two sites (one INSERT each on SQLite); the instance; the sign task's assignee's account
#     and roles, the task, its notice; the ledger's head, read once, and one INSERT of the
#     entries waiting at each flush (three flushes: the problem, the instance and the task each
#     need their id for the entries that name them; PostgreSQL: the append lock and the entries'
#     ids too); the lights of the problem and the task, the workflow state;
#   completion (22 now; the same with more officials told): BEGIN, the calendar's revision, the
#     account with its roles, the task with its instance, version and problem (one query), the
#     instance's tasks, the problem's milestones; the task; the next task, who does it, its
#     notices; the status; the ledger's head and one INSERT per flush; the lights, the state.
# Nothing here depends on the number of problems, tasks, entries or notices stored.
BOUNDS = {
    "sqlite": {"register": 28, "sign": 23, "plan": 23},
    "postgresql": {"register": 28, "sign": 24, "plan": 23},
}


@contextmanager
def counted(duban):
    statements: list[str] = []

    def seen(_conn, _cursor, statement, _params, _context, _many):
        statements.append(statement)

    event.listen(duban.db.engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(duban.db.engine, "before_cursor_execute", seen)


def new_problem(org, code: str) -> NewProblem:
    return NewProblem(code=code, title="县城污水处理厂出水超标", description="督察发现县城污水处理厂出水氨氮超标排放。",
                      source=ProblemSource.PROVINCIAL, batch="2025年省级督察", category=ProblemCategory.WATER,
                      region_id=org["county"], lead_unit_id=org["eco"], responsible_official_id=org["responsible"],
                      leading_official_id=org["magistrate"], industry_unit_id=org["housing"],
                      cooperating_unit_ids=[org["housing"]], deadline=date(2026, 6, 30),
                      sites=["县城污水处理厂", "城北排口"])


def ready_task(duban, problem_id: int) -> HumanTask:
    with duban.db.reading() as session:
        return session.scalars(select(HumanTask).where(HumanTask.problem_id == problem_id,
                                                       HumanTask.state == TaskState.READY)).one()


def store(duban, org, first: int, last: int) -> None:
    for n in range(first, last):
        duban.register_problem(org["user:admin"], new_problem(org, f"STORED-{n:03d}"))


def statements_of_each(duban, org, code: str) -> dict[str, int]:
    """The statements of registering a problem, completing its sign task (签收) and then its
    plan (整改方案), each as the engine runs it."""
    counts = {}
    with counted(duban) as seen:
        problem_id = duban.register_problem(org["user:admin"], new_problem(org, code))
    counts["register"] = len(seen)
    for step, data in (("sign", {"acknowledged": True}), ("plan", PLAN)):
        task = ready_task(duban, problem_id)
        with counted(duban) as seen:
            assert duban.complete_task(org["user:responsible"], task.id, data) is None
        counts[step] = len(seen)
    return counts


def test_registering_and_completing_cost_the_same_few_statements_however_many_problems_are_stored(
        duban, org, backend):
    store(duban, org, 0, 5)
    few = statements_of_each(duban, org, "MEASURED-1")
    store(duban, org, 5, 60)
    many = statements_of_each(duban, org, "MEASURED-2")
    assert few == many
    for action, bound in BOUNDS[backend].items():
        assert many[action] <= bound, (action, many[action])
    assert duban.verify_ledger().intact


def test_an_action_writes_its_ledger_entries_in_order_and_chained(duban, org):
    problem_id = duban.register_problem(org["user:admin"], new_problem(org, "CHAINED-1"))
    duban.complete_task(org["user:responsible"], ready_task(duban, problem_id).id, {"acknowledged": True})
    with duban.db.reading() as session:
        entries = list(session.scalars(select(LedgerEntry).where(LedgerEntry.problem_id == problem_id)
                                       .order_by(LedgerEntry.id)))
    assert [e.action for e in entries] == [
        "problem.registered", "instance.started", "task.assigned",       # the registration
        "task.completed", "task.assigned", "problem.status_changed"]     # the completion
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(entries, entries[1:]))
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert duban.verify_ledger().intact


def test_an_entry_recorded_in_a_savepoint_rolled_back_leaves_no_trace_in_the_chain(duban, org):
    for flushed in (True, False):
        with duban.db.transaction() as session:
            ledger.record(session, Action.USER_UPDATED, actor=None, subject_type="test", subject_id="before")
            with pytest.raises(RuntimeError):
                with session.begin_nested():
                    ledger.record(session, Action.USER_UPDATED, actor=None, subject_type="test",
                                  subject_id="inside")
                    if flushed:
                        session.flush()
                    raise RuntimeError("undone")
            ledger.record(session, Action.USER_UPDATED, actor=None, subject_type="test", subject_id="after")
    with duban.db.reading() as session:
        subjects = list(session.scalars(select(LedgerEntry.subject_id).where(LedgerEntry.subject_type == "test")
                                        .order_by(LedgerEntry.id)))
    assert subjects == ["before", "after", "before", "after"]
    assert duban.verify_ledger().intact


def test_registrations_at_the_same_moment_keep_one_unbroken_chain(duban, org):
    """Four writers registering at once: the appends are serialised, none is lost, none forks."""
    with duban.db.reading() as session:
        before = len(session.scalars(select(LedgerEntry.id)).all())
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def register(writer: int) -> None:
        try:
            start.wait()
            for n in range(3):
                duban.register_problem(org["user:admin"], replace(new_problem(org, f"RACE-{writer}-{n}")))
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=register, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with duban.db.reading() as session:
        after = len(session.scalars(select(LedgerEntry.id)).all())
    assert after - before == 4 * 3 * 3  # registered, instance started, sign task assigned
    verification = duban.verify_ledger()
    assert verification.intact, verification.reason
