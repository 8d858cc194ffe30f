"""The benchmark's city: its bulk copies are real problems the engine works with."""
from __future__ import annotations

from sqlalchemy import func, select

from bench.city import build
from engine import clock, ledger
from engine.models import Escalation, HumanTask, Problem, ProcessInstance, TaskState


def test_a_built_city_holds_real_instances(database_url, tmp_path):
    city = build(database_url, tmp_path, 300, seeds=50, log=lambda *_: None, fresh=False)
    duban = city.duban
    last_seed = max(city.seeds)
    with duban.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Problem)) == 300
        assert session.scalar(select(func.count(func.distinct(Problem.code)))) == 300
        copies = session.scalars(select(Problem).where(Problem.id > last_seed).order_by(Problem.id)).all()
        assert len(copies) == 300 - 20 - 50
        # every copy has its running instance and one ready task of its own
        assert session.scalar(select(func.count()).select_from(ProcessInstance)
                              .where(ProcessInstance.problem_id > last_seed)) == len(copies)
        assert session.scalar(select(func.count(func.distinct(HumanTask.spiff_task_id)))
                              .where(HumanTask.problem_id > last_seed, HumanTask.state == TaskState.READY)) \
            == len(copies)
        task = session.scalar(select(HumanTask).where(HumanTask.problem_id == copies[-1].id))
        due_copies = {p.id for p in copies if p.ladder_due_at is not None and p.ladder_due_at.year > 1970
                      and p.ladder_due_at <= clock.now()}
        assert ledger.verify(session).intact

    # a copy's task completes through the engine and its process goes on
    assert duban.complete_task(task.assignee_id, task.id, {"acknowledged": True}) is None
    with duban.db.reading() as session:
        assert session.get(HumanTask, task.id).state == TaskState.COMPLETED
        ready = session.scalars(select(HumanTask.element_id).where(HumanTask.problem_id == task.problem_id,
                                                                   HumanTask.state == TaskState.READY)).all()
        assert ready == ["Task_submit_plan"]
        assert ledger.verify(session).intact

    # the sweep fires the copies that are due (1 seed in 100 and its copies), and only once
    assert due_copies
    fired = duban.sweep()
    with duban.db.reading() as session:
        fired_problems = set(session.scalars(select(Escalation.problem_id)))
    assert due_copies <= fired_problems
    assert len(fired) >= len(due_copies)
    assert duban.sweep() == []

