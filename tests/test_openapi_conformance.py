"""The published OpenAPI document tells the truth: schemathesis, run against a real `duban
serve` with the demo loaded, finds no 5xx, no response outside its documented schema and no
undocumented status code, signed in as the office's administrator and as an official.

Phases: examples, coverage (boundary and out-of-range values of every parameter and field)
and fuzzing, at most MAX_EXAMPLES cases per operation and role, with a fixed seed. Writes
change the demo as they go: each run serves a fresh one (SQLite in a temporary directory).
Alone: `.venv/bin/pytest tests/test_openapi_conformance.py -q` (about 2 minutes: the two roles run side by side).
"""
from __future__ import annotations

import json
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from .served import BIN, duban_env, load_demo, serving, token

MAX_EXAMPLES = 15
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"
PHASES = "examples,coverage,fuzzing"


@contextmanager
def demo_server(where: Path):
    env = duban_env(f"sqlite:///{where / 'duban.db'}", where / "instance")
    load_demo(env)
    with serving(env, where / "serve.log", "--no-scheduler") as base:
        yield base


def _an_official_with_tasks(base: str, admin: str) -> str:
    request = urllib.request.Request(f"{base}/api/tasks?all=true&per_page=200", headers={"Authorization": f"Bearer {admin}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        ready = json.loads(answer.read())["items"]
    return next(t["assignee"] for t in ready if t["assignee"] and t["assignee"] != "admin")


def test_the_openapi_document_tells_the_truth(tmp_path):
    """Each role against a demo of its own (the writes of one never meet the other's), the two
    runs side by side."""
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda role: (role, _run(role, tmp_path / role)), ("admin", "official")))
    failed = [(role, run) for role, run in reports if run.returncode != 0]
    assert not failed, "\n\n".join(f"--- as {role} (exit {run.returncode}) ---\n{_findings(run.stdout)}\n{run.stderr[-2000:]}"
                                   for role, run in failed)
    for role, run in reports:
        assert "passed" in run.stdout and "failures" not in run.stdout.split("SUMMARY")[-1].lower(), run.stdout[-3000:]


def _run(role: str, where: Path) -> subprocess.CompletedProcess:
    where.mkdir()
    with demo_server(where) as base:
        admin = token(base, "admin")
        bearer = admin if role == "admin" else token(base, _an_official_with_tasks(base, admin))
        return subprocess.run(
            [str(BIN / "schemathesis"), "run", f"{base}/api/openapi.json", "--url", base,
             "-H", f"Authorization: Bearer {bearer}", "--checks", CHECKS, "--phases", PHASES,
             "--max-examples", str(MAX_EXAMPLES), "--seed", "20261204", "--workers", "1",
             "--generation-database", "none", "--request-timeout", "60", "--request-retries", "2", "--no-color",
             "--output-truncate", "false"],
            cwd=where, capture_output=True, text=True, timeout=900)


def _findings(output: str) -> str:
    """The failures and errors of a schemathesis report, without its warnings."""
    start = min((i for i in (output.find("= FAILURES ="), output.find("= ERRORS =")) if i >= 0), default=0)
    end = output.find("= WARNINGS =", start)
    return output[start:end if end > 0 else None][-15000:] + "\n" + output[output.find("= SUMMARY ="):][-2000:]
