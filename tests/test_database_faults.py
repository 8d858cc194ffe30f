"""`duban serve` on PostgreSQL while its database connections are terminated under it, again
and again, mid-request: requests in flight may fail, but only with a clear 503 (never a 500),
a write answered 503 was not committed, every write answered 201 is stored, and the next
requests succeed without restarting anything."""
from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from engine.models import Problem

from .served import demo_served, token
from .test_serve_load import Client, registration

CLIENTS = 6
SECONDS = 10


@pytest.fixture
def served_pg(backend, database_url, tmp_path):
    if backend != "postgresql":
        pytest.skip("connections terminated by the server: PostgreSQL's")
    with demo_served(database_url, tmp_path) as (base, log):
        yield base, database_url, log


def test_terminated_connections_answer_503_and_lose_nothing(served_pg):
    base, database_url, log = served_pg
    admin = token(base, "admin")
    probe = Client(base, admin)
    status, page = probe.call("GET", "/api/problems?per_page=1")
    assert status == 200, page
    status, model = probe.call("GET", f"/api/problems/{page['items'][0]['id']}")
    template = registration(model)
    statuses: Counter = Counter()
    wrong: list[str] = []
    created, refused = [], []
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS

    def work(index: int):
        client = Client(base, admin)
        serial = 0
        while time.monotonic() < stop:
            serial += 1
            code = f"FAULT-{index}-{serial:04d}"
            status, body = client.call("POST", "/api/problems", dict(template, code=code))
            with lock:
                statuses[status] += 1
                if status == 201:
                    created.append(code)
                elif status == 503:
                    refused.append(code)
                    if not (isinstance(body, dict) and body.get("code") == "unavailable"):
                        wrong.append(f"503 without its message: {body}")
                elif status >= 500 or status == 409:
                    wrong.append(f"POST {code} -> {status}: {body}")
            status, body = client.call("GET", "/api/problems?per_page=10")
            with lock:
                statuses[status] += 1
                if status not in (200, 503):
                    wrong.append(f"GET -> {status}: {body}")

    killer_engine = create_engine(database_url)
    killed = 0

    def kill():
        nonlocal killed
        while time.monotonic() < stop:
            time.sleep(1.5)
            with killer_engine.connect() as connection:
                killed += connection.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )).scalar()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(CLIENTS)]
    threads.append(threading.Thread(target=kill, daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SECONDS + 120)
    killer_engine.dispose()
    assert killed > 0 and created, (killed, statuses)
    assert not wrong, f"{wrong[:5]}\n{statuses}\nserver log tail:\n{log.read_text(errors='replace')[-3000:]}"
    status, _ = probe.call("GET", "/api/problems?per_page=1")  # afterwards: served again, no restart
    assert status == 200
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            stored = set(session.scalars(select(Problem.code).where(Problem.code.like("FAULT-%"))))
    finally:
        engine.dispose()
    assert set(created) <= stored, set(created) - stored
    assert not (set(refused) & stored), f"answered 503 but committed: {sorted(set(refused) & stored)[:5]}"
    print(f"\n{dict(statuses)}; {killed} connections terminated; {len(created)} registered, {len(refused)} refused")
