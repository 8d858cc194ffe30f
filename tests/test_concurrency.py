"""Two people completing one task at the same moment: exactly one wins, the other is told 409,
and the task, the workflow and the ledger record one completion."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest
from werkzeug.serving import make_server

from engine.errors import Conflict
from engine.models import HumanTask, TaskState

from .helpers_flow import ledger_actions

RACES = 5


@contextmanager
def serving(app):
    """The app on a real threaded HTTP server on a free port, shut down afterwards."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="duban-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def post_json(url: str, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def together(*calls):
    """Run the calls in threads released at once by a barrier; their results (or exceptions) in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        barrier.wait(timeout=30)
        try:
            results[index] = call()
        except BaseException as error:  # noqa: BLE001 - the test looks at what each thread got
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a completion hung"
    return results


def completions_of(duban, task_id: int) -> list:
    return [e for e in ledger_actions(duban, action="task.completed") if e.subject_id == str(task_id)]


def test_two_http_completions_of_one_task(app, api, duban):
    """The responsible person signs from two clients at once, on each of five problems."""
    problems = [api.register(code=f"NL-2026-{n:03d}")["id"] for n in range(1, RACES + 1)]
    tasks = [api.ready_task(pid, "Task_sign") for pid in problems]
    token = api.token("responsible")

    with serving(app) as base:
        for pid, task in zip(problems, tasks):
            url = f"{base}/api/tasks/{task['id']}/complete"
            first = {"data": {"acknowledged": True, "remark": "第一个"}}
            second = {"data": {"acknowledged": True, "remark": "第二个"}}
            results = together(lambda: post_json(url, token, first), lambda: post_json(url, token, second))
            statuses = sorted(status for status, _ in results)
            assert statuses == [200, 409], results
            winner = next(body for status, body in results if status == 200)
            loser = next(body for status, body in results if status == 409)
            assert loser["code"] == "conflict" and loser["message"]
            assert winner["state"] == "completed"

            with duban.db.reading() as session:
                row = session.get(HumanTask, task["id"])
                assert row.state == TaskState.COMPLETED and row.data["remark"] == winner["data"]["remark"]
            assert len(completions_of(duban, task["id"])) == 1
            # the workflow moved on exactly once: one plan task, not two
            assert [t["element_id"] for t in api.get(f"/api/problems/{pid}", as_="admin").json["current_tasks"]] \
                == ["Task_submit_plan"]
    assert duban.verify_ledger().intact


def test_two_clients_on_the_same_unit_task(app, api, duban):
    """The industry certification may be done by anyone in the housing bureau: its head and the
    responsible person (科长 there) race with different decisions; one decision stands."""
    from .helpers_flow import drive_to

    pid = api.register()["id"]
    certify = drive_to(api, pid, "Task_industry_certify")
    tokens = (api.token("housing_head"), api.token("responsible"))
    with serving(app) as base:
        url = f"{base}/api/tasks/{certify['id']}/complete"
        results = together(
            lambda: post_json(url, tokens[0], {"data": {"decision": "certify"}}),
            lambda: post_json(url, tokens[1], {"data": {"decision": "reject", "opinion": "数据不全"}}))
    assert sorted(status for status, _ in results) == [200, 409], results
    winner = next(body for status, body in results if status == 200)
    expected = "Task_site_inspection" if winner["data"]["decision"] == "certify" else "Task_rectify"
    assert [t["element_id"] for t in api.get(f"/api/problems/{pid}", as_="admin").json["current_tasks"]] == [expected]
    assert len(completions_of(duban, certify["id"])) == 1
    assert duban.verify_ledger().intact


@pytest.mark.parametrize("race", range(RACES))
def test_two_engine_completions_of_one_task(api, duban, race):
    pid = api.register()["id"]
    sign = api.ready_task(pid, "Task_sign")
    user = api.org["user:responsible"]

    results = together(lambda: duban.complete_task(user, sign["id"], {"acknowledged": True, "remark": "甲"}),
                       lambda: duban.complete_task(user, sign["id"], {"acknowledged": True, "remark": "乙"}))
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "NoneType"], results
    assert any(isinstance(r, Conflict) for r in results)
    assert len(completions_of(duban, sign["id"])) == 1
    assert [t["element_id"] for t in api.get(f"/api/problems/{pid}", as_="admin").json["current_tasks"]] \
        == ["Task_submit_plan"]
    assert duban.verify_ledger().intact
