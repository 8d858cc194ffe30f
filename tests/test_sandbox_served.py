"""A served Duban keeps answering while a runaway script task burns its CPU budget in a
worker process: /api/health within a second, other reads at once, and a write (on SQLite,
which has one writer at a time) within the runaway's wall-clock limit."""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace

import pytest

from engine.settings import ScriptLimits

from .helpers_sandbox import diagram, start
from .support import problem_body

LIMITS = ScriptLimits(cpu_seconds=1.5, memory_mb=160, data_bytes=20_000, workers=2)


@pytest.fixture
def settings(settings):
    return replace(settings, scripts=LIMITS)


@pytest.fixture
def served(app, org):
    from werkzeug.serving import make_server

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)


def _call(url: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict, float]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    began = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), time.monotonic() - began
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), time.monotonic() - began


@pytest.mark.parametrize("script", ["x = sum(range(10**12))",
                                    "while True:\n    try:\n        while True:\n            pass\n"
                                    "    except BaseException:\n        pass"], ids=["C call", "caught timeout"])
def test_health_answers_within_a_second_while_a_runaway_script_runs(api, served, script):
    task = start(api, diagram("runaway", script=script))
    token = api.token("admin")
    outcome = {}

    def runaway():
        outcome["answer"] = _call(f"{served}/api/tasks/{task['id']}/complete", token, {"data": {"answer": "x"}})

    thread = threading.Thread(target=runaway)
    thread.start()
    time.sleep(0.2)  # let the runaway reach its worker
    health = []
    while thread.is_alive():
        status, body, seconds = _call(f"{served}/api/health")
        health.append(seconds)
        assert status == 200 and body["status"] == "ok" and seconds < 1.0, (status, seconds)
        time.sleep(0.05)
    thread.join()
    read = _call(f"{served}/api/problems/{task['problem_id']}", token)
    written = _call(f"{served}/api/problems", token, problem_body(api.org, code="SB-served-2"))

    status, body, seconds = outcome["answer"]
    # stopped by either limit: on a loaded machine the runaway may get under half a core and
    # reach the wall-clock limit before its CPU budget
    message = body["incident"]["message"]
    assert status == 200 and ("CPU" in message or "longer than" in message), body
    assert seconds < LIMITS.wall_seconds + 1.5
    assert len(health) >= 5, health
    assert read[0] == 200 and written[0] == 201


def test_a_write_waits_at_most_the_runaways_limit(api, served):
    task = start(api, diagram("runaway", script="while True:\n    pass"))
    token = api.token("admin")
    runaway = threading.Thread(target=_call, args=(f"{served}/api/tasks/{task['id']}/complete", token,
                                                   {"data": {"answer": "x"}}))
    runaway.start()
    time.sleep(0.2)
    status, _, seconds = _call(f"{served}/api/problems", token, problem_body(api.org, code="SB-served-3"))
    runaway.join()
    assert status == 201
    assert seconds < LIMITS.wall_seconds + 1.0
