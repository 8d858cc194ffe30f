"""Register and complete through the JSON API under a real server, with 1 and 4 clients.

Two set-ups against the city's database: `duban serve` (Werkzeug, the scheduler embedded), and
gunicorn (4 workers, `web:create_app()`) beside a separate `duban scheduler`. Each client is a
thread with its own keep-alive connection: first it registers its problems (POST /api/problems
as 环督办, bearer token from /api/auth/token), then it completes their first task (签收) as the
official it went to (POST /api/tasks/<id>/complete). Latencies p50/p95/p99 per request, and
completions per second over the completing phase. Resident memory (VmRSS) of the server and
of the scheduler, read from /proc after the load."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import select

from bench.city import City
from bench.results import Result
from engine.demo import PASSWORD
from engine.models import HumanTask, Problem

BIN = Path(sys.executable).parent
PER_CLIENT = 40
HTTP_P50, HTTP_P99, GUNICORN_PER_S, SERVER_MB = 15, 60, 200, 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


class Client:
    def __init__(self, port: int):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body=None, token: str | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = None if body is None else json.dumps(body)
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=payload, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                return response.status, (json.loads(data) if data else {})
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")


class Server:
    def __init__(self, argv: list[str], env: dict, port: int, log: Path):
        self.port = port
        self.log = open(log, "ab")
        self.process = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{argv[0]} stopped at start; see {log}")
            try:
                status, _ = Client(port).call("GET", "/api/auth/token")
                if status:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not answer within 120 s; see {log}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def _problem_body(city: City, code: str) -> dict:
    with city.duban.db.reading() as session:
        template = session.scalar(select(Problem).where(Problem.id.in_(city.seeds), Problem.id.in_(
            select(HumanTask.problem_id).where(HumanTask.assignee_id.is_not(None)))).order_by(Problem.id).limit(1))
        return {"code": code, "title": template.title, "description": template.description,
                "source": template.source.value, "batch": template.batch, "category": template.category.value,
                "region_id": template.region_id, "lead_unit_id": template.lead_unit_id,
                "responsible_official_id": template.responsible_official_id,
                "leading_official_id": template.leading_official_id, "industry_unit_id": template.industry_unit_id,
                "cooperating_unit_ids": [u.id for u in template.cooperating_units], "target": template.target,
                "measures": template.measures, "deadline_kind": template.deadline_kind.value,
                "deadline": template.deadline.isoformat() if template.deadline else None,
                "sites": [s.name for s in template.sites]}


def load(city: City, port: int, clients: int, label: str, per_client: int = PER_CLIENT) -> dict:
    """Each client registers `per_client` problems, then completes their first tasks."""
    body = _problem_body(city, "")
    tokens: dict[str, str] = {}
    lock = threading.Lock()

    def token(username: str) -> str:
        with lock:
            if username not in tokens:
                status, answer = Client(port).call("POST", "/api/auth/token",
                                                   {"username": username, "password": PASSWORD})
                assert status == 200, (username, status, answer)
                tokens[username] = answer["token"]
            return tokens[username]

    token("admin")
    registered, completed, failures = [], [], []
    tasks: list[list[tuple[int, str]]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    stamp = f"{label}-{clients}-{time.time_ns() % 10**9}"

    def register(n: int) -> None:
        client = Client(port)
        barrier.wait()
        for i in range(per_client):
            began = time.perf_counter()
            status, answer = client.call("POST", "/api/problems", {**body, "code": f"H{stamp}-{n}-{i}"},
                                         token("admin"))
            took = (time.perf_counter() - began) * 1000
            if status != 201:
                failures.append((status, answer))
                continue
            registered.append(took)
            task = answer["current_tasks"][0]
            tasks[n].append((task["id"], task["assignee"]))
        barrier.wait()

    def complete(n: int) -> None:
        client = Client(port)
        mine = [(task_id, token(who)) for task_id, who in tasks[n]]
        barrier.wait()
        for task_id, bearer in mine:
            began = time.perf_counter()
            status, answer = client.call("POST", f"/api/tasks/{task_id}/complete",
                                         {"data": {"acknowledged": True}}, bearer)
            took = (time.perf_counter() - began) * 1000
            if status != 200:
                failures.append((status, answer))
                continue
            completed.append(took)
        barrier.wait()

    phases = {}
    for name, work in (("register", register), ("complete", complete)):
        threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        barrier.wait()
        began = time.perf_counter()
        barrier.wait()
        phases[name] = time.perf_counter() - began
        for thread in threads:
            thread.join()
    if failures:
        print(f"    {len(failures)} requests failed, first: {failures[0]}", flush=True)
    return {"register": registered, "complete": completed, "phases": phases, "failures": failures}


def _figures(city: City, label: str, clients: int, found: dict, raw_start: float, raw_complete: float,
             gunicorn: bool) -> list[Result]:
    db, size = city.database, city.problems
    out = []
    for step, raw in (("register", raw_start), ("complete", raw_complete)):
        times = found[step]
        if not times:
            continue
        judged = step == "complete" and clients == 4
        for p, target in ((50, HTTP_P50), (95, None), (99, HTTP_P99)):
            value = statistics.median(times) if p == 50 else percentile(times, p)
            out.append(Result(f"HTTP {step} p{p}, {clients} client{'s' * (clients > 1)} ({label})", db, size, value,
                              "ms", target=target if judged and p != 95 else None, ratio_to_raw=value / raw))
        per_s = len(times) / found["phases"][step]
        out.append(Result(f"HTTP {step}s per second, {clients} client{'s' * (clients > 1)} ({label})", db, size,
                          per_s, "per_s", target=GUNICORN_PER_S if gunicorn and step == "complete" and clients == 4
                          else None, higher_is_better=True, ratio_to_raw=per_s / (1000 / raw)))
    failures = found["failures"]
    out.append(Result(f"HTTP requests failed, {clients} client{'s' * (clients > 1)} ({label})", db, size,
                      len(failures), "count", note=f"first: {failures[0]}"[:200] if failures else None))
    return out


def run(city: City, folder: Path, raw_start: float, raw_complete: float, with_timers: bool = True) -> list[Result]:
    env = {**os.environ, "DUBAN_DATABASE_URL": city.url, "DUBAN_INSTANCE_PATH": str(folder / "instance"),
           "DUBAN_SECRET_KEY": "bench"}
    env.pop("DUBAN_DEMO", None)
    results = []
    db, size = city.database, city.problems

    port = free_port()
    server = Server([str(BIN / "duban"), "serve", "--port", str(port)], env, port, folder / "serve.log")
    try:
        for clients in (1, 4):
            results += _figures(city, "duban serve", clients, load(city, port, clients, "serve"),
                                raw_start, raw_complete, gunicorn=False)
        if with_timers:
            from bench import timers

            status, answer = Client(port).call("POST", "/api/auth/token", {"username": "admin", "password": PASSWORD})
            results += timers.run(city, port, answer["token"], "duban serve")
        results.append(Result("server resident memory (duban serve, scheduler in it)", db, size,
                              rss_mb(server.process.pid), "MB", target=SERVER_MB))
    finally:
        server.stop()

    port = free_port()
    scheduler = subprocess.Popen([str(BIN / "duban"), "scheduler"], env=env, start_new_session=True,
                                 stdout=open(folder / "scheduler.log", "ab"), stderr=subprocess.STDOUT)
    server = Server([str(BIN / "gunicorn"), "-w", "4", "-b", f"127.0.0.1:{port}", "--timeout", "120",
                     "web:create_app()"], env, port, folder / "gunicorn.log")
    try:
        for clients in (1, 4):
            results += _figures(city, "gunicorn -w 4", clients, load(city, port, clients, "gunicorn"),
                                raw_start, raw_complete, gunicorn=True)
        workers = children(server.process.pid)
        results.append(Result("server resident memory (one gunicorn worker, largest)", db, size,
                              max((rss_mb(pid) for pid in workers), default=0.0), "MB", target=SERVER_MB,
                              note=f"{len(workers)} workers, together {sum(rss_mb(p) for p in workers):.0f} MB"))
        results.append(Result("scheduler resident memory (duban scheduler)", db, size, rss_mb(scheduler.pid), "MB"))
    finally:
        server.stop()
        if scheduler.poll() is None:
            os.killpg(scheduler.pid, signal.SIGTERM)
            try:
                scheduler.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(scheduler.pid, signal.SIGKILL)
    return results
