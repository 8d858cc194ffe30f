"""The working-day calendar: chinese_calendar's arrangement (the 2026 Spring Festival and its
make-up Saturdays), provisional years counted on weekdays, administrators declaring a year
through the API, the recomputation that follows, and a second process seeing the change."""
from __future__ import annotations

from datetime import date, datetime

import chinese_calendar
import pytest
from sqlalchemy import select

from engine import calendar_store, clock
from engine.calendar import WorkingCalendar
from engine.errors import Invalid
from engine.models import CalendarOverride, CalendarYear, HumanTask, ProblemCategory, ProblemSource
from engine.problems import NewProblem
from engine.service import Duban

from .helpers_flow import ledger_actions, snapshot


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=clock.SHANGHAI)


# A made-up 2027 arrangement for the tests (the real one is published in November 2026):
# 8-12 February off for the Spring Festival, Saturday 20 February worked in exchange.
ARRANGEMENT_2027 = [
    {"date": "2027-01-01", "working": False, "note": "元旦"},
    *({"date": f"2027-02-{d:02d}", "working": False, "note": "春节"} for d in range(8, 13)),
    {"date": "2027-02-20", "working": True, "note": "调休上班"},
]


def refused(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, (response.status_code, response.json)
    body = response.json
    assert set(body) == {"code", "message", "errors"} and body["message"]
    for field in fields:
        assert field in body["errors"] and all(m for m in body["errors"][field]), body
    return body


def put_year(api, year, body, as_="admin"):
    return api.client.put(f"/api/calendar/years/{year}", json=body, headers={"Authorization": f"Bearer {api.token(as_)}"})


def put_day(api, day, body, as_="admin"):
    return api.client.put(f"/api/calendar/days/{day}", json=body, headers={"Authorization": f"Bearer {api.token(as_)}"})


def delete(api, path, as_="admin"):
    return api.client.delete(path, headers={"Authorization": f"Bearer {api.token(as_)}"})


# -- chinese_calendar's years ----------------------------------------------------------------

def test_the_2026_spring_festival_and_its_make_up_saturdays():
    # what chinese_calendar itself says, before Duban counts on it
    assert [chinese_calendar.is_workday(date(2026, 2, d)) for d in range(13, 25)] == \
        [True, True] + [False] * 9 + [True]  # Fri 13, Sat 14 (调休) working; 15-23 off; Tue 24 back
    assert chinese_calendar.is_workday(date(2026, 2, 28)) and date(2026, 2, 28).weekday() == 5
    assert not chinese_calendar.is_workday(date(2026, 3, 7))  # an ordinary Saturday

    calendar = WorkingCalendar()
    assert calendar.shift(date(2026, 2, 13), 1) == date(2026, 2, 14)   # the make-up Saturday counts
    assert calendar.shift(date(2026, 2, 14), 1) == date(2026, 2, 24)   # nine days of holiday do not
    assert calendar.shift(date(2026, 2, 24), -1) == date(2026, 2, 14)
    assert calendar.shift(date(2026, 2, 27), 1) == date(2026, 2, 28)   # the second make-up Saturday
    assert calendar.shift(date(2026, 2, 28), 1) == date(2026, 3, 2)
    assert calendar.shift(date(2026, 3, 6), 1) == date(2026, 3, 9)     # an ordinary weekend
    assert calendar.working_days_between(date(2026, 2, 13), date(2026, 2, 28)) == 6
    assert calendar.add_working_days(at("2026-02-12T09:00:00"), 3) == at("2026-02-24T09:00:00")
    assert not calendar.is_provisional(date(2026, 2, 16))
    assert calendar.source_of(date(2026, 2, 16)) == "chinese_calendar"


def test_a_task_opened_before_the_festival_is_due_after_it(api, duban):
    """签收 is due 3 working days after assignment: from Friday 13 February, the make-up
    Saturday counts and the holiday does not, so Wednesday 25 February."""
    clock.freeze(at("2026-02-13T09:00:00"))
    problem = api.register(deadline="2026-06-30")
    sign = api.ready_task(problem["id"], "Task_sign")
    assert sign["due_at"] == "2026-02-25T01:00:00+00:00"
    assert sign["due_provisional"] is False and problem["deadline_provisional"] is False


def test_the_2026_calendar_through_the_api(api):
    body = api.get("/api/calendar?year=2026", as_="responsible").json
    assert (body["source"], body["provisional"], body["declared"]) == ("chinese_calendar", False, False)
    days = {d["date"]: d for d in body["days"]}
    assert days["2026-02-14"]["working"] is True and days["2026-02-14"]["name"] == "Spring Festival"
    assert days["2026-02-16"]["working"] is False and days["2026-02-16"]["source"] == "chinese_calendar"
    assert "2026-03-07" not in days  # an ordinary weekend is not listed
    assert body["working_days"] == sum(chinese_calendar.is_workday(date.fromordinal(n))
                                       for n in range(date(2026, 1, 1).toordinal(), date(2027, 1, 1).toordinal()))
    day = api.get("/api/calendar/days/2026-02-28", as_="responsible").json
    assert (day["working"], day["weekday"], day["source"], day["provisional"]) == (True, 6, "chinese_calendar", False)


# -- a year nobody knows yet -----------------------------------------------------------------

def test_2027_is_provisional_and_counts_weekdays(api):
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2027, 2, 8))
    calendar = WorkingCalendar()
    assert calendar.is_provisional(date(2027, 2, 8)) and calendar.is_provisional(at("2027-02-08T09:00:00"))
    assert calendar.shift(date(2027, 2, 5), 1) == date(2027, 2, 8)  # Friday -> Monday
    assert calendar.source_of(date(2027, 2, 8)) == "weekdays"

    problem = api.register(deadline="2027-02-19")
    assert problem["deadline_provisional"] is True
    assert api.get(f"/api/problems/{problem['id']}", as_="admin").json["plan"]["deadline_provisional"] is True
    body = api.get("/api/calendar?year=2027", as_="responsible").json
    assert (body["source"], body["provisional"], body["declared"], body["days"]) == ("weekdays", True, False, [])
    assert body["working_days"] == 261  # 2027 begins on a Friday: 52 weeks and one Friday


def test_declaring_2027_ends_provisional_and_counts_again(api, duban):
    clock.freeze(at("2027-02-03T09:00:00"))  # a Wednesday
    pid = api.register(deadline="2027-02-19")["id"]
    sign = api.ready_task(pid, "Task_sign")
    # weekdays only: Thu 4, Fri 5, Mon 8 February
    assert sign["due_at"] == "2027-02-08T01:00:00+00:00" and sign["due_provisional"] is True

    clock.freeze(at("2027-02-05T10:00:00"))
    duban.refresh_lights()
    problem = api.get(f"/api/problems/{pid}", as_="admin").json
    assert (problem["light"], problem["deadline_provisional"]) == ("green", True)  # yellow from 12 Feb

    response = put_year(api, 2027, {"days": ARRANGEMENT_2027, "note": "测试用安排"})
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["source"], body["provisional"], body["declared"], body["declared_by"]) == (
        "administrator", False, True, "admin")
    assert {d["date"]: d["working"] for d in body["days"]} == {d["date"]: d["working"] for d in ARRANGEMENT_2027}
    assert body["working_days"] == 261 - 6 + 1
    assert body["change"]["tasks_rescheduled"] == [sign["id"]]
    assert body["change"]["lights_changed"] == 1
    assert "2027-02-08" in body["change"]["days_changed"]

    day = api.get("/api/calendar/days/2027-02-08", as_="responsible").json
    assert (day["working"], day["source"], day["provisional"], day["name"]) == (False, "administrator", False, "春节")
    assert duban.runtime.calendar.shift(date(2027, 2, 5), 1) == date(2027, 2, 15)
    assert duban.runtime.calendar.shift(date(2027, 2, 19), 1) == date(2027, 2, 20)  # the make-up Saturday

    # the sign task counted again: Thu 4, Fri 5, then the holiday, Mon 15 February
    sign = api.ready_task(pid, "Task_sign")
    assert sign["due_at"] == "2027-02-15T01:00:00+00:00" and sign["due_provisional"] is False
    # five working days before Fri 19 Feb now reach back over the holiday to Fri 5 Feb: yellow
    problem = api.get(f"/api/problems/{pid}", as_="admin").json
    assert (problem["light"], problem["deadline_provisional"]) == ("yellow", False)

    changed = ledger_actions(duban, action="calendar.changed")
    assert len(changed) == 1 and changed[0].actor_name == "admin" and changed[0].payload["declared"] is True
    assert changed[0].payload["note"] == "测试用安排" and len(changed[0].payload["days"]) == len(ARRANGEMENT_2027)
    moved = ledger_actions(duban, action="task.due_recomputed")
    assert [(e.subject_id, e.problem_id, e.payload["to"]) for e in moved] == [
        (str(sign["id"]), pid, "2027-02-15T01:00:00+00:00")]

    # withdrawn: provisional again, and the due time goes back to the weekday count
    response = delete(api, "/api/calendar/years/2027")
    assert response.status_code == 200, response.json
    assert (response.json["provisional"], response.json["declared"], response.json["days"]) == (True, False, [])
    assert api.ready_task(pid, "Task_sign")["due_at"] == "2027-02-08T01:00:00+00:00"
    assert delete(api, "/api/calendar/years/2027").status_code == 404
    assert duban.verify_ledger().intact


def test_a_bare_list_declares_the_year_and_a_second_declaration_replaces_the_first(api, duban):
    assert put_year(api, 2027, ARRANGEMENT_2027).status_code == 200
    response = put_year(api, 2027, [{"date": "2027-10-01", "working": False, "note": "国庆节"}])
    assert response.status_code == 200
    assert [d["date"] for d in response.json["days"]] == ["2027-10-01"]
    with duban.db.reading() as session:
        assert session.scalars(select(CalendarOverride.day)).all() == [date(2027, 10, 1)]
        assert session.get(CalendarYear, 2027).revision == 2
    assert duban.runtime.calendar.is_working_day(date(2027, 2, 8))


def test_one_day_overridden_and_restored(api, duban):
    response = put_day(api, "2026-03-09", {"working": False, "note": "地方调休"})
    assert response.status_code == 200, response.json
    assert (response.json["working"], response.json["source"], response.json["name"]) == (False, "administrator", "地方调休")
    assert duban.runtime.calendar.shift(date(2026, 3, 6), 1) == date(2026, 3, 10)
    body = api.get("/api/calendar?year=2026", as_="admin").json
    assert body["declared"] is False and body["source"] == "chinese_calendar"
    assert any(d["date"] == "2026-03-09" and d["source"] == "administrator" for d in body["days"])

    response = delete(api, "/api/calendar/days/2026-03-09")
    assert response.status_code == 200
    assert (response.json["working"], response.json["source"]) == (True, "chinese_calendar")
    assert duban.runtime.calendar.shift(date(2026, 3, 6), 1) == date(2026, 3, 9)
    assert delete(api, "/api/calendar/days/2026-03-09").status_code == 404
    assert [e.payload["kind"] for e in ledger_actions(duban, action="calendar.changed")] == ["day_set", "day_removed"]


# -- bad input and the wrong person ----------------------------------------------------------

@pytest.mark.parametrize("rows, field", [
    ([{"date": "2027-02-30", "working": False}], "days.0.date"),
    ([{"date": "2027-02-08", "working": False}, {"date": "2026-02-08", "working": False}], "days.1.date"),
    ([{"date": "2027-02-08", "working": False}, {"date": "2027-02-09", "working": False},
      {"date": "2027-02-08", "working": True}], "days.2.date"),
    ([{"date": "2027-02-08", "working": "yes"}], "days.0.working"),
    ([{"date": "2027-02-08", "working": 0}], "days.0.working"),
    ([{"date": "2027-02-08"}], "days.0.working"),
    ([{"date": "2027-02-08", "working": False, "holiday": "春节"}], "days.0.holiday"),
    ([{"date": "2027-02-08", "working": False, "note": "节" * 101}], "days.0.note"),
    (["2027-02-08"], "days.0"),
    ([], "days"),
    ({"note": "no days"}, "days"),
    ({"days": ARRANGEMENT_2027, "source": "?"}, "source"),
    ("2027-02-08", "days"),
])
def test_a_bad_arrangement_is_400_naming_the_row_and_changes_nothing(api, duban, rows, field):
    api.register()
    before = snapshot(duban)
    body = refused(put_year(api, 2027, rows), 400, field)
    assert body["code"] == "invalid"
    assert snapshot(duban) == before
    assert duban.runtime.calendar.is_provisional(date(2027, 2, 8))


def test_the_duplicate_names_the_first_row(api):
    body = refused(put_year(api, 2027, [{"date": "2027-02-08", "working": False},
                                        {"date": "2027-02-08", "working": False}]), 400, "days.1.date")
    assert "row 0" in body["errors"]["days.1.date"][0]


def test_bad_years_and_dates_in_the_address(api, duban):
    before = snapshot(duban)
    refused(put_year(api, 1999, ARRANGEMENT_2027), 400, "year")
    refused(api.get("/api/calendar?year=twenty", as_="admin"), 400, "year")
    refused(api.get("/api/calendar?year=3000", as_="admin"), 400, "year")
    refused(api.get("/api/calendar/days/2027-13-01", as_="admin"), 400, "date")
    refused(put_day(api, "tomorrow", {"working": False}), 400, "date")
    refused(put_day(api, "2027-02-08", {"working": "no"}), 400, "working")
    refused(put_day(api, "2027-02-08", ["working"]), 400, "working")
    refused(api.get("/api/calendar?year=2027"), 401)
    assert snapshot(duban) == before


@pytest.mark.parametrize("user", ["responsible", "jiwei", "secretary"])
def test_only_the_office_changes_the_calendar_and_a_refusal_is_on_record(api, duban, user):
    before = snapshot(duban)
    refused(put_year(api, 2027, ARRANGEMENT_2027, as_=user), 403)
    refused(put_year(api, 2027, "not even a list", as_=user), 403)
    refused(put_day(api, "2026-03-09", {"working": False}, as_=user), 403)
    refused(delete(api, "/api/calendar/years/2027", as_=user), 403)
    denied = ledger_actions(duban, action="permission.denied")
    assert [e.subject_type for e in denied] == ["calendar_year"] * 4
    assert denied[0].actor_name != "系统" and "2027" in denied[0].payload["action"]
    after = snapshot(duban)
    assert after["calendar_year"] == after["calendar_override"] == 0
    assert {k: v for k, v in after.items() if k not in ("ledger_entry", "ledger_last_id")} == \
        {k: v for k, v in before.items() if k not in ("ledger_entry", "ledger_last_id")}
    assert duban.runtime.calendar.is_provisional(date(2027, 2, 8))


# -- several processes -----------------------------------------------------------------------

def test_a_second_process_sees_the_change(api, duban, settings):
    other = Duban(settings)  # another worker or the scheduler: its own calendar, the same database
    try:
        assert other.runtime.calendar is not duban.runtime.calendar
        assert other.current_calendar().is_working_day(date(2027, 2, 8))  # loaded before the change
        assert other.current_calendar().is_provisional(date(2027, 2, 8))

        assert put_year(api, 2027, ARRANGEMENT_2027).status_code == 200

        assert other.runtime.calendar.is_working_day(date(2027, 2, 8))  # nothing told it yet
        # its next action brings it in step: here, opening a task in the other process
        clock.freeze(at("2027-02-05T09:00:00"))
        org = api.org
        new = NewProblem(code="X-1", title="扬尘污染", description="工地扬尘", source=ProblemSource.SELF_CHECK,
                         batch="2027年自查", category=ProblemCategory.AIR, region_id=org["county"],
                         lead_unit_id=org["eco"], responsible_official_id=org["responsible"],
                         deadline=date(2027, 6, 30))
        pid = other.register_problem(org["user:admin"], new)
        assert not other.runtime.calendar.is_working_day(date(2027, 2, 8))
        assert not other.runtime.calendar.is_provisional(date(2027, 2, 8))
        with other.db.reading() as session:
            due = session.scalar(select(HumanTask.due_at).where(HumanTask.problem_id == pid))
        assert due == at("2027-02-17T09:00:00")  # Mon 15, Tue 16, Wed 17: the holiday skipped

        # and a change made there is seen here
        assert other.remove_calendar_day(org["user:admin"], date(2027, 2, 12))["days_changed"] == ["2027-02-12"]
        assert not duban.runtime.calendar.is_working_day(date(2027, 2, 12))
        assert duban.current_calendar().is_working_day(date(2027, 2, 12))
    finally:
        other.db.dispose()


# -- the default file ------------------------------------------------------------------------

def test_the_shipped_file_is_valid_and_lists_no_year_yet():
    assert calendar_store.load_file() == ()


def test_a_year_in_the_file_is_seeded_once_and_the_database_wins(duban, tmp_path):
    path = tmp_path / "calendar.toml"
    path.write_text('[[years]]\nyear = 2027\nnote = "通知"\ndays = [\n'
                    '  { date = 2027-02-08, working = false, note = "春节" },\n'
                    '  { date = 2027-02-20, working = true },\n]\n', encoding="utf-8")
    with duban.db.transaction() as session:
        assert calendar_store.seed(session, path) == [2027]
    with duban.db.transaction() as session:
        assert calendar_store.seed(session, path) == []
        calendar = calendar_store.build(session)
        row = session.get(CalendarYear, 2027)
        assert row.declared and row.note == "通知" and row.declared_by_id is None
    assert not calendar.is_working_day(date(2027, 2, 8)) and calendar.is_working_day(date(2027, 2, 20))
    assert not calendar.is_provisional(date(2027, 2, 8))
    entries = ledger_actions(duban, action="calendar.changed")
    assert len(entries) == 1 and entries[0].actor_name == "系统"
    assert entries[0].payload["source"] == "config/calendar.toml"


@pytest.mark.parametrize("text, field", [
    ('[[years]]\nyear = 2027\ndays = [{ date = 2026-02-08, working = false }]\n', "years.0.days.0.date"),
    ('[[years]]\nyear = 2027\ndays = [{ date = 2027-02-08, working = "no" }]\n', "years.0.days.0.working"),
    ('[[years]]\nyear = 2027\ndays = [{ date = 2027-02-08T00:00:00, working = false }]\n', "years.0.days.0.date"),
    ('[[years]]\nyear = 1900\n', "years.0.year"),
    ('[[years]]\nyear = 2027\nholidays = []\n', "years.0"),
    ('[[years]]\nyear = 2027\n[[years]]\nyear = 2027\n', "years.1.year"),
])
def test_a_bad_file_names_the_row(tmp_path, text, field):
    path = tmp_path / "calendar.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(Invalid) as error:
        calendar_store.load_file(path)
    assert field in error.value.errors, error.value.errors


def test_a_shift_remembered_under_one_arrangement_is_worked_out_again_under_the_next():
    from engine.calendar import Arrangement

    calendar = WorkingCalendar()
    friday = date(2031, 3, 7)  # a year chinese_calendar does not know: weekdays decide
    assert calendar.shift(friday, 1) == date(2031, 3, 10)
    assert calendar.shift(friday, 1) == date(2031, 3, 10)  # remembered, the same answer
    calendar.adopt(Arrangement({date(2031, 3, 10): False}, frozenset({2031})))  # Monday off
    assert calendar.shift(friday, 1) == date(2031, 3, 11)
    assert calendar.shift(date(2031, 3, 11), -1) == date(2031, 3, 7)
