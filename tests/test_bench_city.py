"""The benchmark's city: its bulk copies are real problems the engine works with."""
from __future__ import annotations

from sqlalchemy import func, select

from bench.city import build
from engine import clock, ledger
from engine.escalation import firing, rules
from engine.escalation.ladder import shift_working, start_of
from engine.models import Escalation, HumanTask, LadderRung, Problem, ProcessInstance, TaskState


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
        # every copy has its seed's rungs of the ladder stored, under keys naming the copy
        seed = session.get(Problem, city.seeds[(copies[-1].id - copies[0].id) % len(city.seeds)])
        rungs = session.execute(select(LadderRung.problem_id, LadderRung.key, LadderRung.moment, LadderRung.level)
                                .where(LadderRung.problem_id.in_((seed.id, copies[-1].id)))).all()
        mine = sorted((key.split(":", 1)[1], moment, level) for pid, key, moment, level in rungs
                      if pid == copies[-1].id and key.startswith(f"p{pid}:"))
        assert mine and mine == sorted((key.split(":", 1)[1], moment, level) for pid, key, moment, level in rungs
                                       if pid == seed.id)
        assert seed.deadline == copies[-1].deadline

    # the forecast read from the stored rungs is the forecast worked out from every problem
    with duban.db.transaction() as session:
        ladder, calendar, now = rules.current(session), duban.current_calendar(session), clock.now()
        until = start_of(shift_working(calendar, now.astimezone(clock.SHANGHAI).date(), 31))
        live = firing.forecast_live(session, ladder, calendar, now, until)
        assert len(live) > len(copies)
        assert firing.forecast(session, ladder, calendar, now, until, 50) == sorted(
            live, key=lambda d: (d.moment, d.rule["level"], d.problem_id, d.key))[:50]
        paged = sorted(live, key=lambda d: (d.moment, d.problem_id, d.rule["level"], d.key))
        assert firing.forecast_page(session, ladder, calendar, now, until, 100, 50) == (paged[100:150], len(live))

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

