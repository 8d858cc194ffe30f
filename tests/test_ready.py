"""`/api/ready`: what a load balancer and an operator ask of a host."""
from __future__ import annotations

from engine.scheduling import leadership as leadership_module
from engine.scheduling.runner import Scheduler


def test_ready_names_the_schema_and_who_leads(api, duban, app):
    answer = api.get("/api/ready")
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "ready" and answer.json["schema"] == "current"
    assert answer.json["scheduler"] == "none" and answer.json["leader"] is None

    running = Scheduler(duban, leadership=leadership_module.for_database(duban.db.engine, 30))
    assert running.leadership.acquire()
    running.leading.set()
    app.extensions["duban_scheduler"] = running
    try:
        answer = api.get("/api/ready").json
        assert answer["scheduler"] == "leading" and answer["leader"] == running.leadership.lease.holder
        assert 0 < answer["lease_expires_in"] <= 30
    finally:
        running.leadership.release()
        app.extensions["duban_scheduler"] = None
    assert api.get("/api/ready").json["leader"] is None


def test_a_host_on_a_schema_behind_the_code_is_not_ready(tmp_path):
    from engine import migrate
    from engine.service import Duban
    from engine.settings import Settings
    from web import create_app

    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0023_ladder_rungs")
    old = Duban(Settings.from_env(database_url=url, instance_path=tmp_path / "instance", secret_key="x"))
    try:
        answer = create_app(duban=old).test_client().get("/api/ready")
        assert answer.status_code == 503 and answer.json["code"] == "not_ready", answer.json
        assert "0023_ladder_rungs" in answer.json["message"] and "duban db upgrade" in answer.json["message"]
    finally:
        old.db.dispose()
