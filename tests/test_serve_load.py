"""`duban serve` on PostgreSQL under 50 concurrent clients: no 5xx, and every answer that says
something was done names something the database holds.

50 threads, each with its own HTTP connection, for about 10 seconds: reads (the ledger, a
problem, the tasks, health), registrations by the office and sign-offs by the responsible
official of the problems just registered. Runs only when DUBAN_TEST_DATABASE_URL is set (CI
sets it): the pool exhaustion it guards against is PostgreSQL's.
"""
from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from engine.models import HumanTask, Problem, TaskState

from .served import demo_served, token

CLIENTS = 50
SECONDS = 10


@pytest.fixture
def served_pg(backend, database_url, tmp_path):
    if backend != "postgresql":
        pytest.skip("the 50-client run is PostgreSQL's (set DUBAN_TEST_DATABASE_URL)")
    with demo_served(database_url, tmp_path) as (base, log):
        yield base, database_url, log


def registration(model: dict) -> dict:
    """A problem to register, in the region, units and official of the problem `model`."""
    return {
        "title": "并发登记的问题", "description": "压力测试登记的问题。", "source": "self_check", "batch": "并发测试",
        "category": "water", "region_id": model["region"]["id"], "lead_unit_id": model["lead_unit"]["id"],
        "responsible_official_id": model["responsible"]["id"], "deadline_kind": "by_date",
        "deadline": "2027-06-30", "sites": ["点位一"],
    }


class Client:
    def __init__(self, base: str, bearer: str):
        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body=None) -> tuple[int, object]:
        try:
            self.connection.request(method, path, body=json.dumps(body) if body is not None else None,
                                    headers=self.headers)
            answer = self.connection.getresponse()
            raw = answer.read()
        except (ConnectionError, http.client.HTTPException):
            self.connection.close()  # the server closed a kept-alive connection: once more
            self.connection.request(method, path, body=json.dumps(body) if body is not None else None,
                                    headers=self.headers)
            answer = self.connection.getresponse()
            raw = answer.read()
        try:
            return answer.status, json.loads(raw) if raw else None
        except ValueError:
            return answer.status, raw[:200]


def test_fifty_clients_get_no_5xx_and_every_success_is_stored(served_pg):
    base, database_url, log = served_pg
    admin_token = token(base, "admin")
    probe = Client(base, admin_token)
    status, page = probe.call("GET", "/api/problems?per_page=5")
    assert status == 200, page
    status, model = probe.call("GET", f"/api/problems/{page['items'][0]['id']}")
    assert status == 200, model
    responsible = model["responsible"]["username"]
    official_token = token(base, responsible)
    template = registration(model)

    statuses: Counter = Counter()
    failures: list[str] = []
    registered: list[str] = []
    completed: list[int] = []
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS

    def note(method, path, status, body):
        with lock:
            statuses[status] += 1
            if status >= 500:
                failures.append(f"{method} {path} -> {status}: {body}")

    def work(index: int):
        rng = random.Random(index)
        role = "admin" if index % 3 == 0 else "official" if index % 3 == 1 else "reader"
        client = Client(base, official_token if role == "official" else admin_token)
        serial = 0
        while time.monotonic() < stop:
            if role == "admin":
                serial += 1
                code = f"LOAD-{index:02d}-{serial:04d}"
                status, body = client.call("POST", "/api/problems", dict(template, code=code))
                note("POST", "/api/problems", status, body)
                if status == 201:
                    assert body["code"] == code, body
                    with lock:
                        registered.append(code)
            elif role == "official":
                status, ready = client.call("GET", "/api/tasks")
                note("GET", "/api/tasks", status, ready)
                signs = [t for t in ready["items"] if t["element_id"] == "Task_sign"] if status == 200 else []
                if signs:
                    task = rng.choice(signs)
                    path = f"/api/tasks/{task['id']}/complete"
                    status, body = client.call("POST", path, {"data": {"acknowledged": True}})
                    note("POST", path, status, body)
                    if status == 200:
                        assert body["state"] == "completed", body
                        with lock:
                            completed.append(task["id"])
            else:
                path = rng.choice(["/api/problems?per_page=20", f"/api/problems/{model['id']}", "/api/tasks?all=true",
                                   "/api/health", "/api/problems/lights", "/api/escalations"])
                status, body = client.call("GET", path)
                note("GET", path, status, body)

    threads = [threading.Thread(target=work, args=(i,), name=f"client-{i}", daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SECONDS + 120)
    assert not any(t.is_alive() for t in threads), "a client never finished"

    assert not failures, f"{len(failures)} answers were 5xx, e.g. {failures[:5]}\nserver log tail:\n" \
                         f"{log.read_text(errors='replace')[-3000:]}"
    assert registered and completed, statuses
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            stored = set(session.scalars(select(Problem.code).where(Problem.code.in_(registered))))
            done = {t.id: t.state for t in session.scalars(select(HumanTask).where(HumanTask.id.in_(completed)))}
    finally:
        engine.dispose()
    assert stored == set(registered), set(registered) - stored
    assert all(state == TaskState.COMPLETED for state in done.values()) and len(done) == len(set(completed))
    print(f"\n{sum(statuses.values())} requests: {dict(sorted(statuses.items()))}; "
          f"{len(registered)} registered, {len(completed)} completed")
