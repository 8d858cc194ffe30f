"""Traffic lights (红黄绿灯): a problem walks green -> yellow -> red over working days and
shows closed once closed out; a missed milestone is yellow; refresh changes only what
changed; next_change says when; filters and counts through the API."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine import clock, lights
from engine.calendar import WorkingCalendar
from engine.lights import LightChange, LightRules
from engine.models import HumanTask, Light, Milestone, Problem, TaskState

from .helpers_flow import upload


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=clock.SHANGHAI)


def light(api, pid: int) -> str:
    return api.get(f"/api/problems/{pid}", as_="admin").json["light"]


def refresh_at(duban, moment: str) -> int:
    clock.freeze(at(moment))
    return duban.refresh_lights()


def detailed_refresh(duban) -> list[tuple]:
    with duban.db.transaction() as session:
        changes = lights.refresh(session, duban.current_calendar(session), clock.now(), duban.runtime.light_rules)
        return [(c.kind, c.before.value, c.after.value) for c in changes]


def test_the_shipped_thresholds():
    assert lights.load_rules() == LightRules(problem_yellow_days=5, task_yellow_days=1)


def test_a_problem_walks_green_yellow_red_and_closes(api, duban):
    # registered Monday 2 March 09:00 with its deadline on Friday 20 March
    pid = api.register(deadline="2026-03-20")["id"]
    sign = api.ready_task(pid, "Task_sign")  # due Thursday 5 March 09:00
    assert (light(api, pid), sign["light"]) == ("green", "green")
    assert duban.refresh_lights() == 0
    assert duban.next_light_change() == at("2026-03-04T00:00:00")  # the task turns yellow the day before

    assert refresh_at(duban, "2026-03-03T23:59:59") == 0
    assert refresh_at(duban, "2026-03-04T00:00:00") == 1
    assert api.ready_task(pid, "Task_sign")["light"] == "yellow"
    assert duban.refresh_lights() == 0  # nothing more changed
    assert duban.next_light_change() == at("2026-03-05T09:00:00")
    assert refresh_at(duban, "2026-03-05T09:00:00") == 1
    assert api.ready_task(pid, "Task_sign")["light"] == "red"

    # done late: the task shows closed, the next one starts green
    api.complete(api.ready_task(pid, "Task_sign"), "responsible", {"acknowledged": True})
    with duban.db.reading() as session:
        done = session.get(HumanTask, sign["id"])
        assert done.light == Light.CLOSED
    assert api.ready_task(pid, "Task_submit_plan")["light"] == "green"
    assert light(api, pid) == "green"

    # five working days before Friday 20 March is Friday 13 March (not Sunday 15: the weekend
    # does not count)
    assert duban.next_light_change() == at("2026-03-13T00:00:00")
    assert refresh_at(duban, "2026-03-12T23:59:59") == 0 and light(api, pid) == "green"
    assert refresh_at(duban, "2026-03-13T00:00:00") == 1 and light(api, pid) == "yellow"
    assert refresh_at(duban, "2026-03-15T12:00:00") == 0 and light(api, pid) == "yellow"
    assert duban.next_light_change() == at("2026-03-21T00:00:00")
    assert refresh_at(duban, "2026-03-20T23:59:59") == 0 and light(api, pid) == "yellow"
    assert refresh_at(duban, "2026-03-21T00:00:00") == 1 and light(api, pid) == "red"
    assert light(api, pid) == "red"
    assert api.get(f"/api/problems/{pid}", as_="admin").json["overdue"] is True

    # rectified late, accepted, publicly noticed and closed out (销号): closed
    plan = {"target": "达标", "measures": "改造", "deadline_kind": "by_date", "deadline": "2026-03-20"}
    api.complete(api.ready_task(pid, "Task_submit_plan"), "responsible", plan)
    api.complete(api.ready_task(pid, "Task_review_plan"), "admin", {"decision": "approve"})
    assert light(api, pid) == "red"
    evidence = upload(api, pid)
    api.complete(api.ready_task(pid, "Task_rectify"), "responsible", {"summary": "完成", "evidence": [evidence]})
    api.complete(api.ready_task(pid, "Task_industry_certify"), "housing_head", {"decision": "certify"})
    api.complete(api.ready_task(pid, "Task_site_inspection"), "admin", {"decision": "pass", "checked_on": "2026-03-21"})
    clock.advance(timedelta(days=10))
    duban.wake_due()
    api.complete(api.ready_task(pid, "Task_notice_result"), "admin", {"objection": "none"})
    detail = api.get(f"/api/problems/{pid}", as_="admin").json
    assert (detail["status"], detail["light"]) == ("closed", "closed")
    with duban.db.reading() as session:
        assert {t.light for t in session.scalars(select(HumanTask).where(HumanTask.problem_id == pid))} == {Light.CLOSED}
    assert duban.refresh_lights() == 0
    assert duban.next_light_change() is None  # the look-back task waits on a timer, not a due date


def test_a_missed_milestone_makes_a_long_term_problem_yellow(api, duban):
    pid = api.register(deadline_kind="long_term", deadline=None,
                       milestones=[{"title": "一期工程完工", "due": "2026-03-06"},
                                   {"title": "二期工程完工", "due": "2026-12-31"}])["id"]
    plain = api.register(code="NL-2026-002", deadline_kind="long_term", deadline=None)["id"]
    api.complete(api.ready_task(pid, "Task_sign"), "responsible", {"acknowledged": True})
    api.complete(api.ready_task(plain, "Task_sign"), "responsible", {"acknowledged": True})
    assert refresh_at(duban, "2026-03-06T23:59:59") == 0
    assert (light(api, pid), light(api, plain)) == ("green", "green")
    assert refresh_at(duban, "2026-03-07T00:00:00") == 1
    assert (light(api, pid), light(api, plain)) == ("yellow", "green")

    # the milestone is reported done: green again
    with duban.db.transaction() as session:
        first = session.scalars(select(Milestone).where(Milestone.problem_id == pid).order_by(Milestone.due)).first()
        first.done_at = clock.now()
    assert detailed_refresh(duban) == [("problem", "yellow", "green")]
    # a problem without deadline or milestones never changes with time
    clock.freeze(at("2028-01-01T00:00:00"))
    with duban.db.transaction() as session:
        problem = session.get(Problem, plain)
        assert lights.light_of(problem, WorkingCalendar(), clock.now()) == Light.GREEN


def test_refresh_returns_only_what_changed(api, duban):
    early = api.register(code="A", deadline="2026-03-10")["id"]
    late = api.register(code="B", deadline="2026-06-30")["id"]
    assert detailed_refresh(duban) == []
    clock.freeze(at("2026-03-04T08:00:00"))
    # A's deadline (Tuesday 10 March) is within 5 working days since Tuesday 3 March: yellow;
    # both sign tasks are due tomorrow: yellow
    changes = detailed_refresh(duban)
    assert sorted(changes) == sorted([("problem", "green", "yellow"), ("task", "green", "yellow"),
                                      ("task", "green", "yellow")])
    assert detailed_refresh(duban) == []
    with duban.db.reading() as session:
        assert session.get(Problem, early).light == Light.YELLOW and session.get(Problem, late).light == Light.GREEN


def test_a_row_written_stale_is_corrected_by_the_next_refresh(api, duban):
    pid = api.register(deadline="2026-03-10")["id"]
    with duban.db.transaction() as session:  # e.g. a row migrated with the default colour
        session.get(Problem, pid).light = Light.RED
    with duban.db.transaction() as session:
        changes = lights.refresh(session, duban.current_calendar(session), clock.now())
    assert changes == [LightChange("problem", pid, pid, Light.RED, Light.GREEN)]


def test_task_lights_count_working_days_too():
    calendar, rules = WorkingCalendar(), LightRules(problem_yellow_days=5, task_yellow_days=1)
    task = HumanTask(state=TaskState.READY, due_at=at("2026-03-09T09:00:00"), light=Light.GREEN)  # a Monday
    # one working day before Monday is Friday: yellow through the weekend
    assert lights.task_light_of(task, calendar, at("2026-03-05T23:59:59"), rules) == Light.GREEN
    assert lights.task_light_of(task, calendar, at("2026-03-06T00:00:00"), rules) == Light.YELLOW
    assert lights.task_light_of(task, calendar, at("2026-03-09T09:00:00"), rules) == Light.RED
    # across the Spring Festival: a task due Tuesday 24 February is yellow from Saturday 14 (调休上班)
    task.due_at = at("2026-02-24T09:00:00")
    assert lights.task_light_of(task, calendar, at("2026-02-13T23:59:59"), rules) == Light.GREEN
    assert lights.task_light_of(task, calendar, at("2026-02-14T00:00:00"), rules) == Light.YELLOW


@pytest.fixture
def board(api, duban):
    """Three problems seen on Monday 16 March: one red, one yellow, one green; one of them air."""
    red = api.register(code="R", deadline="2026-03-10")["id"]
    yellow = api.register(code="Y", deadline="2026-03-20", category="air")["id"]
    green = api.register(code="G", deadline="2026-06-30")["id"]
    api.complete(api.ready_task(green, "Task_sign"), "responsible", {"acknowledged": True})
    clock.freeze(at("2026-03-16T09:00:00"))
    duban.refresh_lights()
    return {"red": red, "yellow": yellow, "green": green}


def test_filters_and_counts_through_the_api(api, board):
    codes = lambda response: [p["code"] for p in response.json["items"]]  # noqa: E731
    assert codes(api.get("/api/problems?light=red", as_="admin")) == ["R"]
    assert codes(api.get("/api/problems?light=yellow", as_="admin")) == ["Y"]
    assert codes(api.get("/api/problems?light=green&region=%d" % api.org["county"], as_="admin")) == ["G"]
    assert api.get("/api/problems?light=closed", as_="admin").json["total"] == 0

    counts = api.get("/api/problems/lights", as_="admin").json
    assert counts == {"green": 1, "yellow": 1, "red": 1, "closed": 0, "total": 3}
    assert api.get("/api/problems/lights?category=air", as_="admin").json == {
        "green": 0, "yellow": 1, "red": 0, "closed": 0, "total": 1}
    assert api.get("/api/problems/lights?light=red", as_="admin").json["total"] == 1
    # an official counts only the problems they are part of
    assert api.get("/api/problems/lights", as_="outsider").json["total"] == 0
    assert api.get("/api/problems/lights", as_="responsible").json["total"] == 3

    # tasks: the two sign tasks due 5 March are red, the plan task opened on 2 March is green
    tasks = api.get("/api/tasks?all=true&light=red", as_="admin").json["items"]
    assert sorted(t["problem_code"] for t in tasks) == ["R", "Y"]
    assert {t["light"] for t in api.get("/api/tasks", as_="responsible").json["items"]} == {"red", "green"}
    assert api.get("/api/tasks/lights?all=true", as_="admin").json == {
        "green": 1, "yellow": 0, "red": 2, "closed": 0, "total": 3}
    assert api.get("/api/tasks/lights?state=completed&all=true", as_="admin").json == {
        "green": 0, "yellow": 0, "red": 0, "closed": 1, "total": 1}
    assert api.get("/api/tasks/lights", as_="outsider").json["total"] == 0


@pytest.mark.parametrize("path", ["/api/problems?light=purple", "/api/problems/lights?light=amber",
                                  "/api/tasks?light=RED", "/api/tasks/lights?light="])
def test_an_unknown_light_is_400_naming_it(api, path):
    response = api.get(path, as_="admin")
    assert response.status_code == 400 and "light" in response.json["errors"], response.json


def test_lights_need_a_signed_in_caller(api):
    assert api.get("/api/problems/lights").status_code == 401
    assert api.get("/api/tasks/lights").status_code == 401


def test_a_bad_thresholds_file_is_refused(tmp_path):
    from engine.errors import Invalid

    path = tmp_path / "lights.toml"
    path.write_text("[problem]\nyellow_within_working_days = -1\n")
    with pytest.raises(Invalid) as error:
        lights.load_rules(path)
    assert "problem.yellow_within_working_days" in error.value.errors
    path.write_text("[task]\nyellow_days = 2\n")
    with pytest.raises(Invalid) as error:
        lights.load_rules(path)
    assert "task.yellow_days" in error.value.errors
    path.write_text("[problem]\nyellow_within_working_days = 3\n")
    assert lights.load_rules(path) == LightRules(problem_yellow_days=3, task_yellow_days=1)


def test_catching_up_lights_leaves_references_to_the_problem_free(api, duban, backend):
    """The lights' catch-up locks the rows it changes FOR NO KEY UPDATE: a writer that refers to
    the problem meanwhile (a ledger entry, a task: PostgreSQL's key-share lock of a foreign key)
    does not wait for it."""
    if backend != "postgresql":
        pytest.skip("row locks: PostgreSQL's (SQLite's one writer waits for the other anyway)")
    from sqlalchemy import text, update
    from sqlalchemy.exc import OperationalError

    pid = api.register()["id"]
    with duban.db.transaction() as session:
        session.execute(update(Problem).where(Problem.id == pid).values(light_changes_at=clock.now()))
    with duban.db.transaction() as session:
        assert lights.catch_up(session, duban._calendar(session), clock.now()) is not None  # holds its locks
        with duban.db.engine.connect() as other:
            try:
                other.execute(text("SELECT id FROM problem WHERE id = :id FOR KEY SHARE NOWAIT"), {"id": pid})
            except OperationalError as error:
                raise AssertionError(f"a reference to the problem would wait: {error.orig}") from None
            finally:
                other.rollback()
