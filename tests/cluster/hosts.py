"""The pieces of the cluster test: gunicorn hosts and `duban scheduler` processes on one
PostgreSQL database, a client that says what each request got (an answer, a refusal, no
answer), and the small processes whose timers fall due while it runs."""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit


from ..conftest import own_database
from ..served import BIN, free_port
from ..test_scheduler import wait_for
from ..support import for_problems
from ..test_definitions import FIXTURE

ROOT = Path(__file__).resolve().parents[2]
WEB_APP = "duban web"  # application_name of the hosts' database connections (engine/db.py)


def cluster_database(url: str) -> str:
    """The test's own database: DUBAN_TEST_DATABASE_URL's name with `_cluster` after it."""
    return own_database(url, "cluster")


class Host:
    """An app host: gunicorn (deploy/gunicorn.conf.py) with its workers in a process group of
    their own, so that the whole host can be killed at once."""

    def __init__(self, name: str, env: dict, folder: Path, workers: int = 2):
        self.name, self.port = name, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"host-{name}.log"
        env = dict(env, DUBAN_BIND=f"127.0.0.1:{self.port}", DUBAN_WORKERS=str(workers))
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen([str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "web:create_app()"],
                                            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.killed_at: float | None = None

    def wait_ready(self, timeout: float = 90) -> None:
        def up():
            status, _ = call(self.base, "GET", "/api/health", timeout=5)
            return status == 200
        if not wait_for(up, timeout, 0.2):
            raise RuntimeError(f"host {self.name} did not start:\n{self.log.read_text(errors='replace')[-3000:]}")

    def kill(self) -> None:
        """kill -9, master and workers together: the host is gone."""
        self.killed_at = time.time()
        os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self) -> None:
        _end_group(self.process, signal.SIGTERM)


class SchedulerProcess:
    """`duban scheduler` in a process group of its own."""

    def __init__(self, name: str, env: dict, folder: Path, lease_seconds: float):
        self.name = name
        self.log = folder / f"scheduler-{name}.log"
        env = dict(env, DUBAN_SCHEDULER_LEASE_SECONDS=str(lease_seconds))
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen([str(BIN / "duban"), "scheduler"], env=env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.process.pid

    def holds(self, holder: str | None) -> bool:
        return f":{self.pid}:" in (holder or "")

    def started(self) -> bool:
        return "scheduler started" in self.log.read_text(errors="replace")

    def freeze(self) -> None:
        os.killpg(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        os.killpg(self.pid, signal.SIGKILL)

    def stop(self) -> None:
        self.thaw()
        _end_group(self.process, signal.SIGINT)


def _end_group(process: subprocess.Popen, first: int) -> None:
    try:
        os.killpg(process.pid, first)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the workers too, whatever the master did
    except ProcessLookupError:
        pass
    if process.poll() is None:
        process.wait(timeout=10)


@dataclass
class Answer:
    """What one request got: `status` (None: no answer), `body`, and for no answer whether
    the connection was refused (nobody listening) or cut."""

    status: int | None
    body: object = None
    refused: bool = False
    error: str | None = None


def call(base: str, method: str, path: str, bearer: str | None = None, body=None, timeout: float = 60,
         content_type: str = "application/json") -> tuple[int | None, object]:
    answer = request(base, method, path, bearer, body, timeout, content_type)
    return answer.status, answer.body


def request(base: str, method: str, path: str, bearer: str | None = None, body=None, timeout: float = 60,
            content_type: str = "application/json") -> Answer:
    """One request on a connection of its own, never sent twice."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = {"Content-Type": content_type}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    try:
        connection.request(method, path, body=data, headers=headers)
        raw_answer = connection.getresponse()
        raw = raw_answer.read()
    except ConnectionRefusedError as error:
        return Answer(None, refused=True, error=repr(error))
    except (OSError, http.client.HTTPException) as error:
        return Answer(None, error=repr(error))
    finally:
        connection.close()
    try:
        return Answer(raw_answer.status, json.loads(raw) if raw else None)
    except ValueError:
        return Answer(raw_answer.status, raw[:200])


def deploy(base: str, bearer: str, xml: str) -> None:
    status, body = call(base, "POST", f"/api/process-definitions?accept_warnings=true&comment={quote(FIXTURE)}",
                        bearer, xml.encode("utf-8"), content_type="application/xml")
    assert status == 201, body


def raising(key: str, wait: str, event: str) -> str:
    """One lane (环督办): start, a timer to wait on, then an end event that reports `event`
    to the ladder (as a listed case's missed deadline does)."""
    nodes = "".join(f"<bpmn:flowNodeRef>{node}</bpmn:flowNodeRef>" for node in ("StartEvent_1", "Timer", "End_event"))
    return for_problems(f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Definitions_{key}" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="{key}" name="{key}" isExecutable="true">
    <bpmn:laneSet id="LaneSet"><bpmn:lane id="Lane_office" name="环督办">{nodes}</bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="Timer" name="等待期">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TimerDef"><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{wait}</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="End_event" name="期限已过">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="escalationEvent" value="{event}" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="StartEvent_1" targetRef="Timer" />
    <bpmn:sequenceFlow id="f2" sourceRef="Timer" targetRef="End_event" />
  </bpmn:process>
</bpmn:definitions>
""")


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (0.0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(-(-fraction * len(ordered) // 1)) - 1))]
