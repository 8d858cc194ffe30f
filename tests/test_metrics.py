"""`/metrics`: what the process counted and what the database says, to allowed addresses only."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine import clock

from .test_definitions import FIXTURE, deploy_xml, mini_process
from .test_scheduler import DEADLINE, at


def scrape(api, address="127.0.0.1"):
    answer = api.client.get("/metrics", environ_base={"REMOTE_ADDR": address})
    return answer.status_code, answer.get_data(as_text=True)


def value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{") and line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in:\n{text}")


def test_metrics_count_requests_completions_firings_and_read_the_lag(api, duban):
    status, text = scrape(api)
    assert status == 200
    completions = value(text, "duban_task_completions_total")
    fired = value(text, 'duban_escalations_fired_total{level="1"}') if 'level="1"' in text else 0.0
    assert value(text, 'duban_scheduler_lag_seconds{kind="ladder"}') == 0.0

    pid = api.register(deadline=DEADLINE)["id"]
    api.complete(api.ready_task(pid, "Task_sign"), "responsible", {"acknowledged": True})
    duban.sweep()  # nothing due yet; its next rung is worked out (as the scheduler's plan does)
    clock.freeze(at("2026-03-17T00:00") + timedelta(hours=2))  # the reminder has waited two hours
    status, text = scrape(api)
    assert value(text, 'duban_scheduler_lag_seconds{kind="ladder"}') >= 7200
    assert value(text, "duban_task_completions_total") == completions + 1
    assert 'route="/api/problems",status="201"' in text and "duban_http_request_seconds_bucket" in text

    duban.sweep()
    status, text = scrape(api)
    assert value(text, 'duban_escalations_fired_total{level="1"}') == fired + 1
    assert value(text, 'duban_scheduler_lag_seconds{kind="ladder"}') == 0.0
    assert value(text, "duban_incidents_open") == 0


def test_a_timer_is_counted_with_its_lateness(api, duban):
    assert deploy_xml(api, mini_process("wait_hour", "timeDuration:PT1H"), accept=FIXTURE).status_code == 201
    api.register(process_key="wait_hour")
    before = value(scrape(api)[1], "duban_timer_lateness_seconds_count")
    clock.advance(timedelta(hours=1, seconds=30))
    assert [names for _, names in duban.wake_due()] == [["等待期"]]
    text = scrape(api)[1]
    assert value(text, "duban_timer_lateness_seconds_count") == before + 1
    assert value(text, 'duban_timer_lateness_seconds_bucket{le="60.0"}') >= 1


def test_metrics_answer_only_the_allowed_addresses(api):
    assert scrape(api, "10.1.2.3")[0] == 403
    assert scrape(api, "::1")[0] == 200


def test_under_gunicorn_a_scrape_adds_up_every_worker(database_url, settings, tmp_path):
    """Two gunicorn workers (deploy/gunicorn.conf.py): whichever answers the scrape, the
    requests both answered are counted."""
    import os
    import signal
    import subprocess
    import urllib.request

    from .served import BIN, duban_env, free_port
    from .test_scheduler import wait_for

    if not database_url.startswith("sqlite"):
        pytest.skip("the counting is the processes', not the database's: once, on SQLite, is enough")
    port = free_port()
    env = dict(duban_env(database_url, settings.instance_path), DUBAN_BIND=f"127.0.0.1:{port}", DUBAN_WORKERS="2")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(tmp_path / "gunicorn.log", "wb") as log:
        server = subprocess.Popen([str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "web:create_app()"],
                                  cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)

    def get(path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
                return answer.read().decode()
        except OSError:
            return None

    try:
        assert wait_for(lambda: get("/api/health") is not None, timeout=60), (tmp_path / "gunicorn.log").read_text()
        for _ in range(40):
            assert get("/api/health") is not None
        counts = set()
        for _ in range(6):  # answered by one worker or the other
            text = get("/metrics")
            line = next(line for line in text.splitlines()
                        if line.startswith('duban_http_requests_total{method="GET",route="/api/health",status="200"}'))
            counts.add(float(line.rsplit(" ", 1)[1]))
        assert min(counts) >= 41, counts
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
