"""GET /api/tasks answers one page: counted and sliced in SQL, in a fixed number of
statements whatever the number of tasks."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event


@contextmanager
def statements(duban):
    seen: list[str] = []

    def one(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(duban.db.engine, "before_cursor_execute", one)
    try:
        yield seen
    finally:
        event.remove(duban.db.engine, "before_cursor_execute", one)


def register(api, first: int, count: int) -> None:
    for number in range(first, first + count):
        api.register(code=f"TP-{number:03d}", title=f"问题{number}")


def listed(api, duban, query: str) -> tuple[dict, int]:
    """The answer and the number of SQL statements it took."""
    api.get(f"/api/tasks?{query}", as_="admin")  # signed in and warmed up before counting
    with statements(duban) as seen:
        response = api.get(f"/api/tasks?{query}", as_="admin")
    assert response.status_code == 200, response.json
    return response.json, len(seen)


def test_a_page_of_everyone_s_tasks_takes_the_same_statements_for_5_or_60_problems(api, duban):
    register(api, 1, 5)
    few, few_statements = listed(api, duban, "all=true&per_page=50")
    assert few["total"] == len(few["items"]) >= 5
    register(api, 6, 55)
    many, many_statements = listed(api, duban, "all=true&per_page=50")
    assert many["total"] > 50 and len(many["items"]) == 50
    assert {t["problem_code"] for t in many["items"]} <= {f"TP-{n:03d}" for n in range(1, 61)}
    assert many_statements == few_statements


def test_the_pages_cover_every_task_once_soonest_due_first(api, duban):
    register(api, 1, 7)
    first, _ = listed(api, duban, "all=true&per_page=4")
    second, _ = listed(api, duban, "all=true&per_page=4&page=2")
    beyond, _ = listed(api, duban, "all=true&per_page=4&page=99")
    everything, _ = listed(api, duban, "all=true&per_page=200")
    assert (first["page"], first["per_page"], second["page"]) == (1, 4, 2)
    assert first["total"] == second["total"] == beyond["total"] == everything["total"] >= 7
    assert beyond["items"] == []
    ids = [t["id"] for t in everything["items"]]
    assert len(set(ids)) == len(ids) == everything["total"]
    assert [t["id"] for t in first["items"] + second["items"]] == ids[:8]
    due = [(t["due_at"] is None, t["due_at"] or "", t["id"]) for t in everything["items"]]
    assert due == sorted(due)


def test_per_page_and_page_are_bounded(api):
    for query, field in (("per_page=0", "per_page"), ("per_page=201", "per_page"), ("page=0", "page"),
                         ("page=x", "page")):
        response = api.get(f"/api/tasks?all=true&{query}", as_="admin")
        assert response.status_code == 400 and field in response.json["errors"], (query, response.json)
