"""The forecast reads the stored rungs of the ladder (ladder_rung, kept with each problem's next
due moment) and surveys only the problems still to be worked out and those of the lines it
gives; whatever the city went through, it answers exactly what a survey of every problem due
within the window answers (`firing.forecast_live`): its lines, their order, every page and the
total, the first lines of a scope."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from engine import clock
from engine.escalation import due_moments, firing, rules
from engine.escalation.ladder import shift_working, start_of
from engine.models import EscalationEvent, LadderRung, Problem, ProblemStatus, ProcessInstance
from engine.scheduling.runner import Scheduler

from .test_ladder_entry import old_ledger

DEADLINES = ["2026-03-05", "2026-03-05", "2026-03-06", "2026-03-10", "2026-03-13", "2026-03-20", "2026-03-20",
             "2026-03-27", "2026-04-10", "2026-04-30", "2026-05-29", "2026-06-30"]
WINDOWS = (3, 12, 40)  # working days


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=clock.SHANGHAI)


def first_order(due):
    return due.moment, due.rule["level"], due.problem_id, due.key


def page_order(due):
    return due.moment, due.problem_id, due.rule["level"], due.key


def agree(duban, scope: set[int] | None = None) -> int:
    """Compare the stored-rung forecast with the live survey over every window, page size and
    limit; how many lines the widest window has."""
    now = clock.now()
    with duban.db.transaction() as session:
        ladder = rules.current(session)
        calendar = duban.current_calendar(session)
        today = now.astimezone(clock.SHANGHAI).date()
        for days in WINDOWS:
            until = start_of(shift_working(calendar, today, days + 1))
            live = firing.forecast_live(session, ladder, calendar, now, until)
            first = sorted(live, key=first_order)
            assert firing.forecast(session, ladder, calendar, now, until) == first, days
            for limit in (1, 4, 9):
                assert firing.forecast(session, ladder, calendar, now, until, limit) == first[:limit], (days, limit)
            paged = sorted(live, key=page_order)
            for size in (1, 4, 50):
                for offset in range(0, len(paged) + size, size):
                    page, total = firing.forecast_page(session, ladder, calendar, now, until, offset, size)
                    assert total == len(paged), (days, size, offset)
                    assert page == paged[offset:offset + size], (days, size, offset)
            if scope:
                def narrow(statement):
                    return statement.where(Problem.id.in_(scope))
                mine = [due for due in first if due.problem_id in scope]
                assert firing.forecast_live(session, ladder, calendar, now, until, narrow) == [
                    due for due in live if due.problem_id in scope]
                assert firing.forecast(session, ladder, calendar, now, until, narrow=narrow) == mine
                assert firing.forecast(session, ladder, calendar, now, until, 2, narrow) == mine[:2]
        return len(live)


def stored_keys(duban, problem_id: int) -> list[str]:
    with duban.db.reading() as session:
        return list(session.scalars(select(LadderRung.key).where(LadderRung.problem_id == problem_id)))


def test_the_stored_rungs_answer_what_a_survey_of_every_problem_answers(api, duban, org, monkeypatch):
    ids = [api.register(code=f"SR-{number}", deadline=deadline)["id"] for number, deadline in enumerate(DEADLINES)]
    long_term = api.register(code="SR-LONG", deadline_kind="long_term", deadline=None)["id"]
    closed = api.register(code="SR-CLOSED", deadline="2026-03-20")["id"]
    # an old ledger imported with a grace date: each problem enters the ladder on 16 March at
    # its highest rung, passing over those below
    duban.import_ledger(org["user:admin"], old_ledger(), confirm=True, ladder_from="2026-03-16")
    with duban.db.transaction() as session:
        session.get(Problem, closed).status = ProblemStatus.CLOSED
    scope = {ids[0], ids[5], ids[9], long_term}
    assert agree(duban, scope) > 20  # everything to be worked out: the survey alone

    Scheduler(duban).plan()  # works everything out, storing the rungs
    with duban.db.reading() as session:
        assert session.scalar(select(func.count()).where(Problem.ladder_due_at == due_moments.TO_WORK_OUT)) == 0
        assert session.scalar(select(func.count()).select_from(LadderRung)) > 20
    assert stored_keys(duban, long_term) == [] and stored_keys(duban, closed) == []
    surveyed: list[int] = []
    real_survey = firing.survey

    def survey(session, problem_ids, *args, **kwargs):
        surveyed.extend(problem_ids)
        return real_survey(session, problem_ids, *args, **kwargs)

    monkeypatch.setattr(firing, "survey", survey)
    page = duban.forecast_page(40, 2, 3)
    monkeypatch.setattr(firing, "survey", real_survey)
    assert len(page.items) == 3 and page.total > 20
    assert 0 < len(set(surveyed)) <= 3  # the page's problems only
    agree(duban, scope)

    duban.sweep()  # the reminders of 5 March fire now
    agree(duban, scope)

    # a deadline extended (延期): that problem is worked out again, the others read as stored
    filed = api.post(f"/api/problems/{ids[0]}/extension-requests", as_="responsible",
                     json={"requested_deadline": "2026-03-13", "reason": "设备到货延迟，需延后一周"})
    assert filed.status_code == 201, filed.json
    assert api.post(f"/api/extension-requests/{filed.json['id']}/approve", as_="admin",
                    json={"note": "同意"}).status_code == 200
    agree(duban, scope)
    duban.sweep()
    agree(duban, scope)

    # an event from a process fires 约谈 under the deadline's key: its deadline rung is settled
    with duban.db.transaction() as session:
        instance = session.scalars(select(ProcessInstance).where(ProcessInstance.problem_id == ids[9])).first()
        session.add(EscalationEvent(problem_id=ids[9], instance_id=instance.id, event="listed_case_missed",
                                    element_id="Event_listed_missed", raised_at=clock.now()))
        due_moments.mark(session.get(Problem, ids[9]))
    agree(duban, scope)
    assert [f.level for f in duban.sweep()] == [4]
    assert all(":L4:" not in key for key in stored_keys(duban, ids[9]))
    agree(duban, scope)

    # the extended deadline's reminder is the problem's second yellow card: the repeat fires
    # 专函督办 under that deadline's key, and its overdue rung is settled
    clock.freeze(at("2026-03-10T09:00"))
    agree(duban, scope)  # due now and not fired yet
    fired = [(f.problem_code, f.level) for f in duban.sweep()]
    assert ("SR-0", 1) in fired and ("SR-0", 3) in fired
    agree(duban, scope)

    # the safety net marks a slice to be worked out: stored and live lines are merged on every page
    with duban.db.transaction() as session:
        due_moments.work_out_again(session, ids[3], ids[7])
    agree(duban, scope)

    # a problem closed (销号) meanwhile: once worked out, its rungs are gone
    with duban.db.transaction() as session:
        session.get(Problem, ids[5]).status = ProblemStatus.CLOSED
    agree(duban, scope)
    duban.sweep()
    assert stored_keys(duban, ids[5]) == []
    agree(duban, scope)

    # new rules: everything is to be worked out, its stored rows stale until it is
    with duban.db.transaction() as session:
        ladder = [dict(rule) for rule in rules.current(session).rules]
        ladder[0]["triggers"] = [{"kind": "before_deadline", "working_days": 5}]
        rules.replace(session, {"rules": ladder, "note": "提前两天提醒"}, None)
    agree(duban, scope)
    Scheduler(duban).plan()
    agree(duban, scope)

    for moment in ("2026-03-16T00:00:01", "2026-03-17T09:00", "2026-03-24T09:00", "2026-04-20T09:00"):
        clock.freeze(at(moment))
        agree(duban, scope)
        duban.sweep()
        agree(duban, scope)


def test_a_page_of_the_forecast_costs_the_same_whatever_the_city_holds(api, duban, monkeypatch):
    """The same statements, and only the page's problems worked out, with 3 problems or 18."""
    from .test_due_moments import Statements

    surveyed: list[int] = []
    real_survey = firing.survey

    def survey(session, problem_ids, *args, **kwargs):
        surveyed.extend(problem_ids)
        return real_survey(session, problem_ids, *args, **kwargs)

    def measure() -> tuple[int, int]:
        Scheduler(duban).plan()  # works out what was registered
        now = clock.now()
        surveyed.clear()
        with duban.db.transaction() as session:
            ladder, calendar = rules.current(session), duban.current_calendar(session)
            until = start_of(shift_working(calendar, now.astimezone(clock.SHANGHAI).date(), 41))
            with Statements(duban.db.engine) as reading:
                monkeypatch.setattr(firing, "survey", survey)
                page, total = firing.forecast_page(session, ladder, calendar, now, until, 2, 2)
                monkeypatch.setattr(firing, "survey", real_survey)
            assert len(page) == 2 and total > 4
            assert set(surveyed) == {due.problem_id for due in page}
        return reading.count, len(surveyed)

    for number in range(3):
        api.register(code=f"SC-{number}", deadline=DEADLINES[number + 5])
    few = measure()
    for number in range(15):
        api.register(code=f"SC-{number + 3}", deadline=DEADLINES[number % len(DEADLINES)])
    many = measure()
    assert many == few, (few, many)
