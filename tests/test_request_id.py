"""A request's id: answered in X-Request-Id, written into the ledger entries of its action
(hashed with them) and into its log lines."""
from __future__ import annotations

import json
import logging

from sqlalchemy import select

from engine import logs, request_id
from engine.models import LedgerEntry

from .support import problem_body


def test_the_request_id_reaches_the_answer_and_the_ledger(api, duban):
    answer = api.post("/api/problems", as_="admin", json=problem_body(api.org, code="RID-1"),
                      headers={"X-Request-Id": "lb-7f3a.42"})
    assert answer.status_code == 201 and answer.headers["X-Request-Id"] == "lb-7f3a.42"
    with duban.db.reading() as session:
        written = session.scalars(select(LedgerEntry.request_id).where(LedgerEntry.problem_id == answer.json["id"])).all()
    assert written and set(written) == {"lb-7f3a.42"}
    assert duban.verify_ledger().intact

    timeline = api.get(f"/api/problems/{answer.json['id']}", as_="admin").json["timeline"]
    assert {entry["request_id"] for entry in timeline} == {"lb-7f3a.42"}

    made_up = api.client.get("/api/health", headers={"X-Request-Id": "not a token; DROP TABLE"})
    assert made_up.headers["X-Request-Id"] != "not a token; DROP TABLE" and len(made_up.headers["X-Request-Id"]) == 32


def test_a_changed_request_id_breaks_the_chain(api, duban):
    api.post("/api/problems", as_="admin", json=problem_body(api.org, code="RID-2"), headers={"X-Request-Id": "r-1"})
    with duban.db.transaction() as session:
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.request_id == "r-1")).first()
        entry.request_id = "r-2"
    assert not duban.verify_ledger().intact


def test_json_log_lines_carry_the_request_id(monkeypatch, capsys):
    monkeypatch.setenv("DUBAN_LOG_FORMAT", "json")
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure()
        with request_id.using("job-9"):
            logging.getLogger("duban.test").warning("fired %d", 3)
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert line["message"] == "fired 3" and line["request_id"] == "job-9" and line["level"] == "WARNING"
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
