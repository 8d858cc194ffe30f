"""A write that committed is answered with what it committed, even when the database can give
no connection after the commit.

The trap: once an action's transaction commits, the app's engine refuses every further
connection checkout with the pool's own TimeoutError (what an exhausted pool raises, which the
API answers 503). A view that reads its answer back after the commit then answers 503 for a
write that happened; a view that built its answer inside the transaction answers 2xx. Each
test also shows the trap is live (a read after the write is refused) and that the data is in
the database.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date

from sqlalchemy import event, select
from sqlalchemy import exc as sa_exc

from engine.models import CalendarOverride, ExtensionRequest, Notification, Official, Post, Region, Unit, User


@contextmanager
def no_connection_after_commit(duban):
    """Within the block, every connection checkout after the first commit is refused."""
    engine = duban.db.engine
    state = {"committed": False, "refused": 0}

    def committed(_connection):
        state["committed"] = True

    def checkout(_dbapi_connection, _record, _proxy):
        if state["committed"]:
            state["refused"] += 1
            raise sa_exc.TimeoutError("QueuePool limit reached, connection timed out (refused by the test)")

    event.listen(engine, "commit", committed)
    event.listen(engine.pool, "checkout", checkout)
    try:
        yield state
    finally:
        event.remove(engine.pool, "checkout", checkout)
        event.remove(engine, "commit", committed)


def call(api, method: str, path: str, as_: str = "admin", json=None):
    return api.client.open(path, method=method, json=json, headers={"Authorization": f"Bearer {api.token(as_)}"})


def write_then_read(api, duban, method, path, json=None, as_="admin", read="/api/regions"):
    """The write's answer, with the trap set; then a read, which the trap must refuse."""
    api.token(as_)  # signed in before the trap is set
    with no_connection_after_commit(duban) as trap:
        answer = call(api, method, path, as_, json)
        assert trap["committed"], "the write committed nothing"
        after = call(api, "GET", read, as_)
    assert after.status_code == 503 and after.headers["Retry-After"], "the trap let a connection through"
    return answer


def stored(duban, statement):
    with duban.db.reading() as session:
        return session.scalars(statement).all()


def test_organisation_writes_answer_what_they_committed(api, duban, org):
    answer = write_then_read(api, duban, "POST", "/api/regions",
                             {"name": "白沙镇", "level": "township", "parent_id": org["county"]})
    assert answer.status_code == 201, answer.json
    assert answer.json["name"] == "白沙镇" and answer.json["depth"] == 2 and answer.json["parent_id"] == org["county"]
    region_id = answer.json["id"]
    assert [r.name for r in stored(duban, select(Region).where(Region.id == region_id))] == ["白沙镇"]

    answer = write_then_read(api, duban, "PATCH", f"/api/regions/{region_id}", {"name": "白沙街道"})
    assert answer.status_code == 200 and answer.json["name"] == "白沙街道", answer.json
    assert stored(duban, select(Region.name).where(Region.id == region_id)) == ["白沙街道"]

    answer = write_then_read(api, duban, "POST", "/api/units",
                             {"name": "白沙街道党工委", "kind": "party_committee", "region_id": region_id})
    assert answer.status_code == 201 and answer.json["region"] == {"id": region_id, "name": "白沙街道"}, answer.json
    unit_id = answer.json["id"]
    answer = write_then_read(api, duban, "PATCH", f"/api/units/{unit_id}", {"short_name": "白沙党工委"})
    assert answer.status_code == 200 and answer.json["short_name"] == "白沙党工委", answer.json
    assert stored(duban, select(Unit.short_name).where(Unit.id == unit_id)) == ["白沙党工委"]

    answer = write_then_read(api, duban, "POST", "/api/officials", {"name": "陈书记", "party_member": True})
    assert answer.status_code == 201 and answer.json["name"] == "陈书记" and answer.json["posts"] == [], answer.json
    official_id = answer.json["id"]
    answer = write_then_read(api, duban, "PATCH", f"/api/officials/{official_id}", {"mobile": "13800000000"})
    assert answer.status_code == 200 and answer.json["mobile"] == "13800000000", answer.json
    assert stored(duban, select(Official.mobile).where(Official.id == official_id)) == ["13800000000"]

    answer = write_then_read(api, duban, "POST", f"/api/officials/{official_id}/posts",
                             {"unit_id": unit_id, "title": "党工委书记", "kind": "party", "is_head": True})
    assert answer.status_code == 201, answer.json
    assert answer.json["title"] == "党工委书记" and answer.json["is_head"] is True
    assert answer.json["unit"] == {"id": unit_id, "name": "白沙街道党工委"}
    assert stored(duban, select(Post.official_id).where(Post.id == answer.json["id"])) == [official_id]

    answer = write_then_read(api, duban, "POST", "/api/users", {
        "username": "chen", "display_name": "陈书记", "password": "Baisha-2027-party", "roles": ["leader"],
        "official_id": official_id})
    assert answer.status_code == 201, answer.json
    assert answer.json["official"] == {"id": official_id, "name": "陈书记"} and answer.json["roles"] == ["leader"]
    user_id = answer.json["id"]
    answer = write_then_read(api, duban, "PATCH", f"/api/users/{user_id}", {"roles": ["leader", "official"]})
    assert answer.status_code == 200 and answer.json["roles"] == ["leader", "official"], answer.json
    assert stored(duban, select(User.username).where(User.id == user_id)) == ["chen"]


def test_calendar_changes_answer_what_they_committed(api, duban, org):
    days = [{"date": "2027-02-%02d" % d, "working": False, "note": "春节"} for d in range(10, 17)]
    answer = write_then_read(api, duban, "PUT", "/api/calendar/years/2027",
                             {"days": days, "note": "国务院办公厅通知"}, read="/api/calendar?year=2027")
    assert answer.status_code == 200, answer.json
    assert answer.json["declared"] is True and answer.json["provisional"] is False
    assert answer.json["source"] == "administrator" and answer.json["declared_by"] == "admin"
    assert answer.json["change"]["declared"] is True and "2027-02-10" in answer.json["change"]["days_changed"]
    assert len(stored(duban, select(CalendarOverride).where(CalendarOverride.year == 2027))) == 7

    answer = write_then_read(api, duban, "PUT", "/api/calendar/days/2027-02-20", {"working": True, "note": "调休上班"})
    assert answer.status_code == 200, answer.json
    assert answer.json["working"] is True and answer.json["source"] == "administrator"
    assert answer.json["change"]["days_changed"] == ["2027-02-20"]
    assert stored(duban, select(CalendarOverride.working).where(CalendarOverride.day == date(2027, 2, 20))) == [True]

    answer = write_then_read(api, duban, "DELETE", "/api/calendar/days/2027-02-20")
    assert answer.status_code == 200 and answer.json["working"] is False, answer.json
    assert stored(duban, select(CalendarOverride).where(CalendarOverride.day == date(2027, 2, 20))) == []

    answer = write_then_read(api, duban, "DELETE", "/api/calendar/years/2027")
    assert answer.status_code == 200, answer.json
    assert answer.json["declared"] is False and answer.json["provisional"] is True
    assert stored(duban, select(CalendarOverride).where(CalendarOverride.year == 2027)) == []


def test_decisions_and_readings_answer_what_they_committed(api, duban, org):
    problem = api.register(deadline="2026-06-30")
    filed = api.post(f"/api/problems/{problem['id']}/extension-requests", as_="responsible",
                     json={"requested_deadline": "2026-09-30", "reason": "雨季施工受限"})
    assert filed.status_code == 201, filed.json
    answer = write_then_read(api, duban, "POST", f"/api/extension-requests/{filed.json['id']}/approve",
                             {"note": "同意"})
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "approved" and answer.json["decided_by"] == "admin"
    assert answer.json["approved_deadline"] == "2026-09-30"
    assert [r.status.value for r in stored(duban, select(ExtensionRequest))] == ["approved"]

    notice = stored(duban, select(Notification).where(Notification.user_id == org["user:responsible"],
                                                       Notification.read_at.is_(None)))[0]
    answer = write_then_read(api, duban, "POST", f"/api/notifications/{notice.id}/read", as_="responsible",
                             read="/api/notifications")
    assert answer.status_code == 200 and answer.json["id"] == notice.id and answer.json["unread"] is False, answer.json
    assert stored(duban, select(Notification.read_at).where(Notification.id == notice.id))[0] is not None
