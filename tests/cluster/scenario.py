"""The cluster scenario on one machine: two gunicorn hosts on two ports and two `duban scheduler`
processes on one PostgreSQL database, under a load of registrations and completions against
both ports while BPMN timers and escalation rungs fall due in real time; meanwhile one host is
killed (-9), the leading scheduler is killed (-9) and restarted as a standby, the new leader is
frozen (SIGSTOP) for 60 s, and the hosts' database connections are terminated mid-request.

`run` plays it and returns what it found: `wrong`, what must never happen (an acknowledged
write missing, a write answered 5xx but stored, a 5xx but a 503 `unavailable` during a
database fault, a refusal but from the host that died, a timer or rung fired twice or never,
a take-over slower than 15 s, `duban audit verify` failing), which tests/cluster/test_cluster.py
asserts; `late`, the timing targets missed (a timer due during a take-over late by more than
its length, the others and the rungs p99 over 1 s, a burst of 1,000 timers due at one instant
or 1,000 rungs due at the start fired over 10 s), and `figures`, which the benchmark reports
and judges (`python -m bench --cluster`): timing is the benchmark's, never a test's.

The processes run on the real clock (it has no shift a subprocess could be given), so the
deadline rungs that fall due as a day begins in Asia/Shanghai are made otherwise: problems
registered with today's deadline have their reminder due at their registration (the ladder
counts from it), 1,000 of them before the schedulers start, the others under the load.
"""
from __future__ import annotations

import random
import re
import subprocess
import threading
import time
from collections import Counter, defaultdict, deque
from datetime import datetime, timezone

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from engine import clock
from engine.models import (Escalation, HumanTask, LedgerEntry, Problem, ProcessDefinition, ProcessInstance,
                           TaskState)
from engine.scheduling.lease import standing

from ..served import BIN, duban_env, load_demo, token
from ..test_definitions import mini_process
from ..test_serve_load import registration
from ..test_scheduler import wait_for
from .hosts import WEB_APP, Host, SchedulerProcess, cluster_database, deploy, percentile, raising, request

LEASE = 3              # seconds: DUBAN_SCHEDULER_LEASE_SECONDS of both schedulers
WAIT = 20              # seconds a steady timer waits after its problem's registration
EVENT_WAIT = 10        # seconds before a raising process reports its event
BURST = 1000           # timers due at one instant; as many rungs due when the schedulers start
REGISTRARS, PERIOD = 6, 0.4    # 6 clients, one registration each 0.4 s: 15 a second
COMPLETERS = 6
# the load phase, in seconds from its start
# (the steady timers fall due from +20 s on: until the leader is killed, nothing disturbs them)
HOST_KILLED, DB_FAULTS, LEADER_KILLED, LEADER_FROZEN, FROZEN_FOR = 10, (15, 100), 45, 60, 60
BURST_AT, REGISTERING_ENDS, LOAD_ENDS = 85, 100, 135


def _now() -> float:
    return time.time()


def _wall(moment: datetime) -> float:
    return moment.replace(tzinfo=moment.tzinfo or timezone.utc).timestamp()


class Record:
    """Every request the clients made, with what it got."""

    def __init__(self):
        self.lock = threading.Lock()
        self.lines: list[dict] = []

    def add(self, **line) -> None:
        with self.lock:
            self.lines.append(line)


TAKEOVER_BOUND = 15.0  # seconds: the bound on a standby leading after the leader died or froze


def run(given_url: str, folder) -> "_Run":
    """Play the scenario on a database of its own beside `given_url`'s (a PostgreSQL URL),
    its processes' files in `folder`; the run, judged (`wrong`, `late`, `figures`)."""
    clock.release()  # this process reads the real clock, as the cluster's do
    began = time.monotonic()
    database_url = cluster_database(given_url)
    env = duban_env(database_url, folder / "instance")
    load_demo(env)
    engine = create_engine(database_url)
    hosts: list[Host] = []
    schedulers: list[SchedulerProcess] = []
    played = None
    try:
        try:
            hosts = [Host("a", env, folder), Host("b", env, folder)]
            for host in hosts:
                host.wait_ready()
            played = _Run(engine, hosts, schedulers, env, folder)
            played.prepare()
            played.register_burst()
            played.start_schedulers()
            played.load()
            played.drain()
        finally:
            for scheduler in schedulers:
                scheduler.thaw()
            for process in [*schedulers, *hosts]:
                process.stop()
        played.judge(time.monotonic() - began)
        return played
    finally:
        engine.dispose()


class _Run:
    def __init__(self, engine, hosts, schedulers, env, folder):
        self.engine, self.hosts, self.schedulers, self.env, self.folder = engine, hosts, schedulers, env, folder
        self.record = Record()
        self.events: list[tuple[float, str]] = []  # (wall time, what the test did)
        self.holders: list[tuple[float, str | None]] = []  # the lease's holder as it changed
        self.db_faults: list[tuple[float, float, int]] = []  # (first, last termination, connections ended)
        self.takeovers: list[dict] = []
        self.stop_monitor = threading.Event()
        self.suffix = f"{int(_now()) % 100000:05d}"

    # -- set-up -------------------------------------------------------------------------------

    def prepare(self) -> None:
        base = self.hosts[0].base
        self.admin = token(base, "admin")
        answer = request(base, "GET", "/api/problems?per_page=1", self.admin)
        assert answer.status == 200, answer
        model = request(base, "GET", f"/api/problems/{answer.body['items'][0]['id']}", self.admin).body
        self.template = registration(model)
        self.today = clock.today().isoformat()  # a deadline today: its reminder is due at registration
        self.keys = {name: f"cl_{name}_{self.suffix}" for name in ("timer", "event", "burst")}
        # the instant of the burst, far enough ahead for the registrations and the schedulers' start
        self.burst_at = datetime.fromtimestamp(int(_now()) + 15 + BURST_AT + BURST // 20, timezone.utc)
        deploy(base, self.admin, mini_process(self.keys["timer"], f"timeDuration:PT{WAIT}S"))
        deploy(base, self.admin, raising(self.keys["event"], f"PT{EVENT_WAIT}S", "listed_case_missed"))
        moment = self.burst_at.astimezone(clock.SHANGHAI).isoformat()
        deploy(base, self.admin, mini_process(self.keys["burst"], f"timeDate:{moment}"))

    def register_burst(self) -> None:
        """1,000 problems whose timers fall due at one instant, registered before any scheduler
        runs; each with today's deadline, so their reminders are due when the schedulers start."""
        codes = deque(f"CB-{self.suffix}-{n:04d}" for n in range(BURST))
        failures = []

        def work(index):
            base = self.hosts[index % 2].base
            while True:
                try:
                    code = codes.popleft()
                except IndexError:
                    return
                answer = request(base, "POST", "/api/problems", self.admin,
                                 dict(self.template, code=code, deadline=self.today, process_key=self.keys["burst"]))
                if answer.status != 201:
                    failures.append((code, answer))

        began = _now()
        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not failures, failures[:5]
        self.burst_registered_in = _now() - began

    def start_schedulers(self) -> None:
        first = SchedulerProcess("1", self.env, self.folder, LEASE)
        self.schedulers.append(first)
        threading.Thread(target=self._monitor, daemon=True).start()
        assert wait_for(lambda: first.holds(self._holder()), 60, 0.1), first.log.read_text()
        self.led_at = next(at for at, holder in self.holders if first.holds(holder))
        second = SchedulerProcess("2", self.env, self.folder, LEASE)
        self.schedulers.append(second)
        assert wait_for(second.started, 60, 0.1), second.log.read_text()
        problems = self._burst_problem_ids()
        assert wait_for(lambda: self._count(select(func.count()).select_from(Escalation).where(
            Escalation.problem_id.in_(problems), Escalation.rule_code == "reminder")) >= BURST, 180, 0.1), \
            "the reminders due at the start were not all fired"
        with Session(self.engine) as session:
            last = session.scalar(select(func.max(Escalation.fired_at)).where(Escalation.problem_id.in_(problems)))
        self.start_burst_in = _wall(last) - self.led_at

    def _burst_problem_ids(self) -> list[int]:
        with Session(self.engine) as session:
            return list(session.scalars(select(Problem.id).where(Problem.code.like(f"CB-{self.suffix}-%"))))

    def _count(self, statement) -> int:
        with Session(self.engine) as session:
            return session.scalar(statement)

    def _holder(self) -> str | None:
        return self.holders[-1][1] if self.holders else None

    def _monitor(self) -> None:
        """The lease's holder, read every 0.1 s, with the moment it changed."""
        while not self.stop_monitor.is_set():
            try:
                holder = standing(self.engine)["holder"]
            except Exception:  # noqa: BLE001 - read again next time
                holder = self._holder()
            if not self.holders or self.holders[-1][1] != holder:
                self.holders.append((_now(), holder))
            time.sleep(0.1)

    # -- the load and the faults ----------------------------------------------------------------

    def load(self) -> None:
        start = _wall(self.burst_at) - BURST_AT
        if start > _now():
            time.sleep(start - _now())
        self.load_began = _now()
        self.registering_until = self.load_began + REGISTERING_ENDS
        self.load_until = self.load_began + LOAD_ENDS
        self.due_for_completion: deque = deque()
        self.serial = 0
        self.serial_lock = threading.Lock()
        self.gone: set[int] = set()  # the clients that found host b gone
        threads = [threading.Thread(target=self._register, args=(i,), daemon=True) for i in range(REGISTRARS)]
        threads += [threading.Thread(target=self._complete, args=(i,), daemon=True) for i in range(COMPLETERS)]
        for thread in threads:
            thread.start()
        self._faults()
        for thread in threads:
            thread.join(timeout=LOAD_ENDS + 120)

    def alive(self, index: int) -> Host:
        """The host a client sends its next request to: its own until that one refused a
        connection (then, as a load balancer would, the other)."""
        return self.hosts[0] if index in self.gone else self.hosts[index % 2]

    def _send(self, index: int, kind: str, key, method: str, path: str, bearer: str, body=None):
        while True:
            host = self.alive(index)
            sent = _now()
            answer = request(host.base, method, path, bearer, body)
            self.record.add(kind=kind, key=key, host=host.name, sent=sent, answered=_now(), status=answer.status,
                            body=answer.body, refused=answer.refused, error=answer.error)
            if not (answer.refused and host is self.hosts[1]):
                return answer
            self.gone.add(index)  # refused: never received, so sent again to the other host

    def _register(self, index: int) -> None:
        pace = time.monotonic() + random.Random(index).random() * PERIOD
        while _now() < self.registering_until:
            pace += PERIOD
            with self.serial_lock:
                self.serial += 1
                serial = self.serial
            code = f"CL-{self.suffix}-{serial:05d}"
            body = dict(self.template, code=code, process_key=self.keys["timer"])
            if serial % 30 == 0:
                body["process_key"] = self.keys["event"]
            elif serial % 30 == 15:
                body["deadline"] = self.today
            answer = self._send(index, "register", code, "POST", "/api/problems", self.admin, body)
            if answer.status == 201 and body["process_key"] == self.keys["timer"]:
                self.due_for_completion.append((time.monotonic() + WAIT + 0.5, answer.body["id"]))
            time.sleep(max(0.0, pace - time.monotonic()))

    def _complete(self, index: int) -> None:
        """Complete the task each steady timer leads to, once it is there."""
        while _now() < self.load_until:
            try:
                ready_at, problem_id = self.due_for_completion.popleft()
            except IndexError:
                if _now() > self.registering_until + WAIT + 5:
                    return
                time.sleep(0.2)
                continue
            if ready_at > time.monotonic():
                self.due_for_completion.appendleft((ready_at, problem_id))
                time.sleep(min(0.2, ready_at - time.monotonic()))
                continue
            answer = request(self.alive(index).base, "GET", f"/api/problems/{problem_id}", self.admin)
            if answer.refused:
                self.gone.add(index)
            tasks = [t for t in answer.body.get("current_tasks", []) if t["element_id"] == "Task_after"] \
                if answer.status == 200 and isinstance(answer.body, dict) else []
            if not tasks:
                self.due_for_completion.append((time.monotonic() + 1.0, problem_id))
                continue
            task_id = tasks[0]["id"]
            answer = self._send(index, "complete", task_id, "POST", f"/api/tasks/{task_id}/complete", self.admin,
                                {"data": {}})
            if answer.status is None or answer.status >= 500:
                self.due_for_completion.append((time.monotonic() + 1.0, problem_id))

    def _at(self, offset: float) -> None:
        delay = self.load_began + offset - _now()
        if delay > 0:
            time.sleep(delay)

    def _faults(self) -> None:
        pending = sorted([(HOST_KILLED, self._kill_host), (LEADER_KILLED, self._kill_leader),
                          (LEADER_FROZEN, self._freeze_leader), (LEADER_FROZEN + FROZEN_FOR, self._thaw),
                          *((offset, self._terminate_connections) for offset in DB_FAULTS)], key=lambda p: p[0])
        for offset, action in pending:
            self._at(offset)
            action()
        self._at(LOAD_ENDS)

    def _kill_host(self) -> None:
        self.hosts[1].kill()
        self.events.append((self.hosts[1].killed_at, "host b killed (-9)"))

    def _leader(self) -> SchedulerProcess:
        holder = standing(self.engine)["holder"]
        return next(s for s in self.schedulers if s.holds(holder))

    def _taken_over(self, old: SchedulerProcess, at: float, what: str) -> None:
        assert wait_for(lambda: self._holder() and not old.holds(self._holder()), 30, 0.1), \
            f"nobody took over after {what}; the database's sessions then:\n{self._sessions()}\n" + "\n".join(
                f"--- scheduler {s.name} (pid {s.pid}), its last lines:\n" + "\n".join(
                    s.log.read_text(errors="replace").splitlines()[-40:]) for s in self.schedulers)
        took = next(when for when, holder in self.holders if when >= at and holder and not old.holds(holder))
        self.takeovers.append({"what": what, "at": at, "led": took, "seconds": took - at})

    def _sessions(self) -> str:
        """Every session of the cluster's database, with what it waits on and how long its
        transaction has been open: what a take-over that does not come is stuck behind."""
        with self.engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT pid, application_name, state, wait_event_type, wait_event,"
                " round(extract(epoch from clock_timestamp() - xact_start)::numeric, 1) AS open_for,"
                " pg_blocking_pids(pid) AS blocked_by, left(query, 120) AS query"
                " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")).all()
        return "\n".join(" | ".join(str(value) for value in row) for row in rows)

    def _kill_leader(self) -> None:
        leader = self._leader()
        at = _now()
        leader.kill()
        self.events.append((at, f"scheduler {leader.name} (leading) killed (-9)"))
        self.schedulers.append(SchedulerProcess("3", self.env, self.folder, LEASE))  # restarted, as a supervisor would
        self._taken_over(leader, at, "kill -9 of the leader")

    def _freeze_leader(self) -> None:
        self.frozen = self._leader()
        at = _now()
        self.frozen.freeze()
        self.events.append((at, f"scheduler {self.frozen.name} (leading) frozen"))
        self._taken_over(self.frozen, at, "freeze of the leader")

    def _thaw(self) -> None:
        self.frozen.thaw()
        self.events.append((_now(), f"scheduler {self.frozen.name} thawed"))

    def _terminate_connections(self) -> None:
        """The hosts' database connections terminated, three times a second apart."""
        first, ended = _now(), 0
        for round_ in range(3):
            if round_:
                time.sleep(1.0)
            with self.engine.connect() as connection:
                ended += connection.exec_driver_sql(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    f"WHERE datname = current_database() AND application_name = '{WEB_APP}'").scalar()
        self.db_faults.append((first, _now(), ended))
        self.events.append((first, f"{ended} host connections terminated"))

    def drain(self) -> None:
        """Until every timer of the run has fired (or a minute has passed)."""
        definitions = list(self.keys.values())

        def all_fired():
            with Session(self.engine) as session:
                waiting = session.scalar(select(func.count()).select_from(ProcessInstance)
                                         .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                                         .where(ProcessDefinition.key.in_(definitions),
                                                ProcessInstance.next_wakeup_at.is_not(None)))
            return waiting == 0
        wait_for(all_fired, 60, 0.5)
        time.sleep(2 * LEASE)  # the thawed scheduler has woken and stood by
        self.stop_monitor.set()

    # -- the verdict ----------------------------------------------------------------------------

    def judge(self, seconds: float) -> None:
        windows = [(t["at"], t["led"]) for t in self.takeovers]
        faults = [(first - 0.5, last + 5.0) for first, last, _ in self.db_faults]
        killed = self.hosts[1].killed_at
        lines = self.record.lines
        statuses = Counter(line["status"] if line["status"] is not None
                           else ("refused" if line["refused"] else "no answer") for line in lines)
        wrong = []
        for line in lines:
            status = line["status"]
            if status is None:
                if line["host"] != "b" or killed is None or line["answered"] < killed - 0.5:
                    wrong.append(f"{line['kind']} {line['key']} on {line['host']}: {line['error']}")
            elif status == 503:
                during = any(lo <= line["sent"] <= hi or lo <= line["answered"] <= hi for lo, hi in faults)
                if not during or not (isinstance(line["body"], dict) and line["body"].get("code") == "unavailable"):
                    wrong.append(f"{line['kind']} {line['key']}: 503 {'outside a fault' if not during else ''} "
                                 f"{line['body']}")
            elif status >= 500 or (line["kind"] == "register" and status != 201) \
                    or (line["kind"] == "complete" and status not in (200, 409)):
                wrong.append(f"{line['kind']} {line['key']}: {status} {line['body']}")

        registered = {line["key"] for line in lines if line["kind"] == "register" and line["status"] == 201}
        refused_writes = {line["key"] for line in lines if line["kind"] == "register" and (line["status"] or 0) >= 500}
        by_task = defaultdict(list)
        for line in lines:
            if line["kind"] == "complete":
                by_task[line["key"]].append(line["status"])
        with Session(self.engine) as session:
            stored = set(session.scalars(select(Problem.code).where(Problem.code.like(f"CL-{self.suffix}-%"))))
            states = dict(session.execute(select(HumanTask.id, HumanTask.state)
                                          .where(HumanTask.id.in_(list(by_task)))).all()) if by_task else {}
        lost = registered - stored
        committed_5xx = refused_writes & stored
        completed_wrong = []
        for task_id, answers in by_task.items():
            if 200 in answers and states.get(task_id) != TaskState.COMPLETED:
                completed_wrong.append(f"task {task_id} answered 200 but is {states.get(task_id)}")
            first_ok = next((i for i, s in enumerate(answers) if s in (200, 409)), None)
            if first_ok is not None and answers[first_ok] == 409 and any(
                    (s or 0) >= 500 for s in answers[:first_ok]):
                completed_wrong.append(f"task {task_id}: answered {answers}: a 5xx committed it")
            if first_ok is None and any((s or 0) >= 500 for s in answers) and states.get(task_id) == TaskState.COMPLETED:
                completed_wrong.append(f"task {task_id}: only answered {answers} but completed")

        timers = self._timers()
        rungs = self._rungs()
        twice = [f"instance {i}: {n} firings" for i, n in timers["firings"].items() if n != 1]
        twice += [f"rung {k}: {n} firings" for k, n in rungs["firings"].items() if n != 1]

        def inside(due: float) -> bool:
            return any(lo - 1.0 <= due <= hi + 1.0 for lo, hi in windows)

        steady = [(due, late) for due, late in timers["steady"]]
        outside = [late for due, late in steady if not inside(due)]
        during = [late for due, late in steady if inside(due)]
        rungs_outside = [late for due, late in rungs["late"] if not inside(due)]
        takeover = max((t["seconds"] for t in self.takeovers), default=0.0)
        burst = timers["burst"]
        burst_within = max(burst) if burst else float("inf")
        audit = subprocess.run([str(BIN / "duban"), "audit", "verify"], env=self.env, capture_output=True, text=True,
                               timeout=300)
        both = (self.load_began + WAIT, self.registering_until)  # registering and completing
        writes = sum(1 for line in lines if both[0] <= line["sent"] <= both[1] and line["status"] is not None)
        steady_rate = sum(1 for due, _ in steady if both[0] <= due <= both[1]) / (both[1] - both[0])
        first_fault = min(t["at"] for t in self.takeovers) if self.takeovers else float("inf")
        settled = [late for due, late in steady if due < first_fault - 1.0]

        summary = [
            ("run", f"{seconds:.0f} s in all; {len(lines)} write requests, {writes / (both[1] - both[0]):.1f} "
                    f"answered/s and {steady_rate:.1f} timers due/s from +{WAIT} s to +{REGISTERING_ENDS} s"),
            ("answers", ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str))),
            ("registrations", f"{len(registered)} acknowledged, {len(refused_writes)} answered 5xx, "
                              f"{len(lost)} acknowledged but missing, {len(committed_5xx)} answered 5xx but stored"),
            ("completions", f"{sum(1 for a in by_task.values() if 200 in a)} acknowledged, "
                            f"{sum(1 for a in by_task.values() for s in a if (s or 0) >= 500)} answered 5xx"),
            ("database faults", "; ".join(f"{n} connections at +{first - self.load_began:.0f} s"
                                           for first, _, n in self.db_faults)),
            *((f"take-over: {t['what']}", f"{t['seconds']:.1f} s (at +{t['at'] - self.load_began:.0f} s)")
              for t in self.takeovers),
            ("timer lateness before the first take-over", _figures(settled)),
            ("timer lateness outside take-overs", _figures(outside)),
            ("timer lateness during take-overs", _figures(during)),
            ("rung lateness outside take-overs", _figures(rungs_outside) + f" ({len(rungs['late'])} rungs)"),
            ("latest rungs outside take-overs", ", ".join(
                f"{late:.1f} s late (due +{due - self.load_began:.0f} s)"
                for due, late in sorted((r for r in rungs["late"] if not inside(r[0])), key=lambda r: -r[1])[:3])),
            (f"burst of {len(burst)} timers", f"all fired {burst_within:.1f} s after their instant "
                                              f"(+{_wall(self.burst_at) - self.load_began:.0f} s)"),
            (f"{BURST} rungs due at the start", f"fired within {self.start_burst_in:.1f} s of the first lead; "
                                                f"registered in {self.burst_registered_in:.0f} s"),
            ("fired twice or never", f"{len(twice)}; {len(timers['unfired'])} timers and "
                                     f"{len(rungs['missing'])} rungs never fired"),
            ("audit verify", (audit.stdout or audit.stderr).strip()),
            ("timer jobs skipped as still queued", str(sum(
                s.log.read_text(errors="replace").count("skipped: maximum number of running instances")
                for s in self.schedulers))),
            ("backlogs shared with timer workers", ", ".join(
                f"{woken} woken, {by} by the workers" for s in self.schedulers
                for woken, by in re.findall(r"backlog of timers shared: (\d+) instances woken, (\d+) of them",
                                            s.log.read_text(errors="replace"))) or "none"),
            ("sessions a new leader ended", "; ".join(
                line.split(" WARNING ", 1)[-1] for s in self.schedulers
                for line in s.log.read_text(errors="replace").splitlines()
                if "holding the expired scheduler lease's row" in line or "of the previous scheduler" in line) or "none"),
        ]
        print("\n" + "\n".join(f"  {name:<36} {value}" for name, value in summary))
        for at, what in sorted(self.events):
            print(f"    +{at - self.load_began:6.1f} s  {what}")

        self.wrong = [f"{len(wrong)} unexpected answers, e.g. {wrong[:8]}"] if wrong else []
        if lost or committed_5xx:
            self.wrong.append(f"acknowledged but missing: {sorted(lost)[:5]}; answered 5xx but stored: "
                              f"{sorted(committed_5xx)[:5]}")
        self.wrong += completed_wrong[:5]
        if twice or timers["unfired"] or rungs["missing"]:
            self.wrong.append(f"fired twice: {twice[:5]}; timers never fired: {timers['unfired'][:5]}; "
                              f"rungs never fired: {rungs['missing'][:5]}")
        if audit.returncode != 0:
            self.wrong.append(f"duban audit verify: {audit.stdout} {audit.stderr}")
        if takeover > TAKEOVER_BOUND:
            self.wrong.append(f"a standby led {takeover:.1f} s after the leader died or froze (at most "
                              f"{TAKEOVER_BOUND:g} s)")
        self.figures = {"takeover_s": takeover, "timer_late_p99_s": percentile(outside, 0.99),
                        "timer_late_max_s": max(outside, default=0.0),
                        "timer_late_during_takeover_max_s": max(during, default=0.0),
                        "rung_late_p99_s": percentile(rungs_outside, 0.99), "burst_s": burst_within,
                        "start_rungs_s": self.start_burst_in, "timers_due_per_s": steady_rate,
                        "writes_per_s": writes / (both[1] - both[0])}
        late = []  # the bounds, all checked, all named
        if max(during, default=0.0) > takeover + 1.0:
            late.append(f"a timer due during a take-over of {takeover:.1f} s was {max(during):.1f} s late")
        if percentile(outside, 0.99) > 1.0:
            late.append(f"timers outside the take-overs: {_figures(outside)}")
        if percentile(rungs_outside, 0.99) > 1.0:
            late.append(f"rungs outside the take-overs: {_figures(rungs_outside)}")
        if burst_within > 10.0:
            late.append(f"the burst of {BURST} timers took {burst_within:.1f} s")
        if self.start_burst_in > 10.0:
            late.append(f"the {BURST} rungs due at the start took {self.start_burst_in:.1f} s")
        self.late = late

    def _timers(self) -> dict:
        """Per instance of the run's processes: its firings; the steady timers' (due moment,
        lateness) and the burst's lateness, in seconds."""
        waits = {self.keys["timer"]: WAIT, self.keys["event"]: EVENT_WAIT}
        with Session(self.engine) as session:
            instances = session.execute(
                select(ProcessInstance.id, ProcessInstance.started_at, ProcessDefinition.key)
                .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                .where(ProcessDefinition.key.in_(list(self.keys.values())))).all()
            fired = defaultdict(list)
            for subject, at in session.execute(select(LedgerEntry.subject_id, LedgerEntry.at).where(
                    LedgerEntry.action == "instance.timer_fired",
                    LedgerEntry.subject_id.in_([str(row.id) for row in instances]))):
                fired[int(subject)].append(at)
        found = {"firings": {i: len(v) for i, v in fired.items()}, "steady": [], "burst": [], "unfired": []}
        burst_at = _wall(self.burst_at)
        for row in instances:
            if not fired.get(row.id):
                found["unfired"].append(row.id)
                continue
            at = _wall(min(fired[row.id]))
            if row.key == self.keys["burst"]:
                found["burst"].append(at - burst_at)
            else:
                due = _wall(row.started_at) + waits[row.key]
                found["steady"].append((due, at - due))
        return found

    def _rungs(self) -> dict:
        """The rungs the run made due: each problem with today's deadline its reminder, each
        raising process's problem its interview; their firings and (due, lateness) of those
        that fell due under the load."""
        with Session(self.engine) as session:
            codes = dict(session.execute(select(Problem.id, Problem.code).where(
                Problem.code.like(f"C_-{self.suffix}-%"))).all())
            keys = {problem_id: "reminder" if code.startswith("CB-") else None for problem_id, code in codes.items()}
            for problem_id, deadline, key in session.execute(
                    select(Problem.id, Problem.deadline, ProcessDefinition.key)
                    .join(ProcessInstance, ProcessInstance.problem_id == Problem.id)
                    .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                    .where(Problem.id.in_(list(codes)), ProcessInstance.escalation_id.is_(None))):
                if key == self.keys["event"]:
                    keys[problem_id] = "interview"
                elif deadline is not None and deadline.isoformat() == self.today:
                    keys[problem_id] = "reminder"
            escalations = session.execute(select(Escalation.key, Escalation.problem_id, Escalation.rule_code,
                                                 Escalation.due_at, Escalation.fired_at)
                                          .where(Escalation.problem_id.in_(list(codes)))).all()
            entries = Counter(payload.get("key") for payload in session.scalars(
                select(LedgerEntry.payload).where(LedgerEntry.action == "escalation.fired",
                                                  LedgerEntry.problem_id.in_(list(codes)))))
        have = {(row.problem_id, row.rule_code) for row in escalations}
        missing = [f"{codes[p]} {rule}" for p, rule in keys.items() if rule and (p, rule) not in have]
        firings = Counter({row.key: entries.get(row.key, 0) for row in escalations})
        late = [(_wall(row.due_at), _wall(row.fired_at) - _wall(row.due_at)) for row in escalations
                if _wall(row.due_at) >= self.load_began]
        return {"firings": firings, "missing": missing, "late": late}


def _figures(values: list[float]) -> str:
    if not values:
        return "none"
    return (f"n={len(values)} p50={percentile(values, 0.5):.3f} s p99={percentile(values, 0.99):.3f} s "
            f"max={max(values):.3f} s")
