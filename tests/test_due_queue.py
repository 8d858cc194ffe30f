"""Timers that fall due while a backlog is fired go ahead of it (engine/incident_desk.py,
DueQueue): a burst of deadlines does not hold up the steady timers behind it, and one wake-up
still ends when timers keep falling due."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine import clock, incident_desk
from engine.models import ProcessInstance

from .test_definitions import FIXTURE, deploy_xml, mini_process


def _instances(duban, problem_ids: list[int]) -> list[int]:
    with duban.db.reading() as session:
        found = dict(session.execute(select(ProcessInstance.problem_id, ProcessInstance.id)
                                     .where(ProcessInstance.problem_id.in_(problem_ids))).all())
    return [found[p] for p in problem_ids]


def test_timers_fallen_due_during_a_backlog_fire_ahead_of_its_rest(api, duban, monkeypatch):
    assert deploy_xml(api, mini_process("wait_hour", "timeDuration:PT1H"), accept=FIXTURE).status_code == 201
    backlog = _instances(duban, [api.register(process_key="wait_hour", code=f"DQ-B{n}")["id"] for n in range(6)])
    clock.advance(timedelta(minutes=1))
    steady = _instances(duban, [api.register(process_key="wait_hour", code=f"DQ-S{n}")["id"] for n in range(2)])
    clock.advance(timedelta(hours=1, seconds=-30))  # the backlog is due, the steady ones in 30 s

    monkeypatch.setattr(incident_desk, "LOOK_AGAIN", 0)
    monkeypatch.setattr(incident_desk, "WAKE_BATCH", 2)
    monkeypatch.setattr(incident_desk, "WAKE_BUDGET", 600)  # whole batches, however loaded the machine
    looks = []
    head = incident_desk.DueQueue.head

    def moving_head(queue, count):
        looks.append(len(queue.ids))
        if len(looks) == 2:  # the first of the backlog fired: the steady ones fall due now
            clock.advance(timedelta(minutes=1))
        return head(queue, count)

    monkeypatch.setattr(incident_desk.DueQueue, "head", moving_head)
    order = [instance_id for instance_id, _names in duban.wake_due()]
    assert sorted(order) == sorted(backlog + steady)  # every one, once
    first = 1 if duban.db.is_sqlite else 2
    assert order[:first] == backlog[:first]
    assert sorted(order[first:first + 2]) == sorted(steady), (order, backlog, steady)
    assert order[first + 2:] == backlog[first:]


def test_a_wake_up_puts_ahead_at_most_as_many_as_its_backlog(api, duban, monkeypatch):
    """Timers falling due faster than they fire: the wake-up takes at most its backlog again,
    and ends; the rest are the next wake-up's."""
    assert deploy_xml(api, mini_process("wait_hour", "timeDuration:PT1H"), accept=FIXTURE).status_code == 201
    backlog = _instances(duban, [api.register(process_key="wait_hour", code=f"DQ-B{n}")["id"] for n in range(2)])
    for minute in range(1, 6):
        clock.advance(timedelta(minutes=1))
        api.register(process_key="wait_hour", code=f"DQ-L{minute}")
    clock.advance(timedelta(hours=1, minutes=-5, seconds=30))  # the two due; one more each minute after

    monkeypatch.setattr(incident_desk, "LOOK_AGAIN", 0)
    monkeypatch.setattr(incident_desk, "WAKE_BATCH", 1)
    head = incident_desk.DueQueue.head

    def moving_head(queue, count):
        clock.advance(timedelta(minutes=1))  # another falls due at every look
        return head(queue, count)

    monkeypatch.setattr(incident_desk.DueQueue, "head", moving_head)
    fired = duban.wake_due()
    assert len(fired) == 2 * len(backlog) and set(backlog) <= {i for i, _ in fired}
