"""The in-process figures of one city: register and complete through `Duban` (engine and
database, no HTTP), the pages through the real app (Flask's test client), the scheduler's plan
after one commit, a sweep, and an Excel import. Each returns `Result`s."""
from __future__ import annotations

import re
import statistics
import time

from sqlalchemy import event, func, select

from bench.city import City
from bench.import_lock import sheet
from bench.results import Result
from engine import clock
from engine.demo import PASSWORD
from engine.escalation import rules
from engine.models import HumanTask, Problem, TaskState, User
from engine.problems import NewProblem
from engine.scheduling.plan import upcoming

# targets (milliseconds unless said): see the README's "Benchmark"
COMPLETE_TO_RAW = 4.0
PAGES = {  # name → (path, who asks, p50 target ms)
    "ledger list": ("/ledger", "admin", 50),
    "problem page": ("/problems/{problem}", "admin", None),
    "dashboard": ("/dashboard", "jiwei", 100),
    "forecast (10 working days)": ("/api/escalations/forecast?days=10", "admin", 200),
    "my tasks": ("/tasks", "{official}", 30),
}
SWEEP_MS = 1000  # a sweep with 1,000 due


def ms(seconds: float) -> float:
    return seconds * 1000


class Statements:
    """Counts the SQL statements an engine runs."""

    def __init__(self, engine):
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args, **kwargs):
        self.count += 1


def _template(city: City) -> tuple[Problem, int]:
    """A seed to model new problems on, whose first task goes to a person (its official's account)."""
    with city.duban.db.reading() as session:
        row = session.execute(select(HumanTask.problem_id, HumanTask.assignee_id)
                              .where(HumanTask.problem_id.in_(city.seeds), HumanTask.assignee_id.is_not(None))
                              .order_by(HumanTask.problem_id).limit(1)).one()
        problem = session.get(Problem, row.problem_id)
        _ = problem.cooperating_units, problem.sites
        admin = session.scalar(select(User.id).where(User.username == "admin"))
    return problem, admin


def register_and_complete(city: City, samples: int, raw_start: float, raw_complete: float) -> list[Result]:
    duban = city.duban
    template, admin = _template(city)
    registered, completed = [], []
    for n in range(samples + 1):
        new = NewProblem(
            code=f"BENCH-{city.problems}-{n:04d}", title=template.title, description=template.description,
            source=template.source, batch=template.batch, category=template.category, region_id=template.region_id,
            lead_unit_id=template.lead_unit_id, responsible_official_id=template.responsible_official_id,
            leading_official_id=template.leading_official_id, industry_unit_id=template.industry_unit_id,
            cooperating_unit_ids=[u.id for u in template.cooperating_units], target=template.target,
            measures=template.measures, deadline_kind=template.deadline_kind, deadline=template.deadline,
            sites=[s.name for s in template.sites])
        began = time.perf_counter()
        problem_id = duban.register_problem(admin, new)
        took = ms(time.perf_counter() - began)
        with duban.db.reading() as session:
            task = session.execute(select(HumanTask.id, HumanTask.assignee_id).where(
                HumanTask.problem_id == problem_id, HumanTask.state == TaskState.READY)).one()
        began = time.perf_counter()
        assert duban.complete_task(task.assignee_id, task.id, {"acknowledged": True}) is None
        if n:  # the first is a warm-up
            registered.append(took)
            completed.append(ms(time.perf_counter() - began))
    register, complete = statistics.median(registered), statistics.median(completed)
    db, size = city.database, city.problems
    return [
        Result("in-process register (median)", db, size, register, "ms",
               ratio_to_raw=register / raw_start, note=f"{samples} problems; raw start+save {raw_start:.1f} ms"),
        Result("in-process complete (median)", db, size, complete, "ms",
               ratio_to_raw=complete / raw_complete, note=f"raw load+complete+save {raw_complete:.1f} ms"),
        Result("in-process complete ÷ raw engine", db, size, complete / raw_complete, "ratio", target=COMPLETE_TO_RAW,
               ratio_to_raw=complete / raw_complete),
    ]


def _sign_in(client, username: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, (username, response.status_code)


def pages(city: City, repeat: int) -> list[Result]:
    from web import create_app

    duban = city.duban
    app = create_app(duban=duban)
    app.config.update(TESTING=True)
    statements = Statements(duban.db.engine)
    with duban.db.reading() as session:
        problem = session.scalar(select(Problem.id).order_by(Problem.id.desc()).limit(1))
        official = session.scalar(select(User.username).join(HumanTask, HumanTask.assignee_id == User.id)
                                  .where(HumanTask.state == TaskState.READY).group_by(User.username)
                                  .order_by(func.count().desc(), User.username).limit(1))
    token = duban.sign_in("admin", PASSWORD)[1]
    clients = {}
    results = []
    for name, (path, who, target) in PAGES.items():
        who = who.format(official=official or "admin")
        path = path.format(problem=problem)
        headers = {}
        if path.startswith("/api/"):
            client = app.test_client()
            headers = {"Authorization": f"Bearer {token}"}
        else:
            if who not in clients:
                clients[who] = app.test_client()
                _sign_in(clients[who], who)
            client = clients[who]
        assert client.get(path, headers=headers).status_code == 200, path  # warm
        times = []
        for _ in range(repeat):
            before = statements.count
            began = time.perf_counter()
            response = client.get(path, headers=headers)
            times.append(ms(time.perf_counter() - began))
            assert response.status_code == 200, (path, response.status_code)
            queries = statements.count - before
        results.append(Result(f"{name} p50", city.database, city.problems, statistics.median(times), "ms",
                              target=target, note=f"{path} as {who}, {queries} SQL statements"))
    event.remove(duban.db.engine, "before_cursor_execute", statements._seen)
    return results


def replan(city: City, repeat: int) -> list[Result]:
    """The scheduler's plan (engine/scheduling/plan.upcoming) right after one committed completion."""
    duban = city.duban
    with duban.db.reading() as session:
        ready = session.execute(select(HumanTask.id, HumanTask.assignee_id).where(
            HumanTask.state == TaskState.READY, HumanTask.element_id == "Task_sign",
            HumanTask.assignee_id.is_not(None)).order_by(HumanTask.id.desc()).limit(repeat + 1)).all()
    times, wakeups = [], 0
    for n, task in enumerate(ready):
        duban.complete_task(task.assignee_id, task.id, {"acknowledged": True})
        began = time.perf_counter()
        with duban.db.transaction() as session:
            wakeups = len(upcoming(session, rules.current(session), duban.current_calendar(session), clock.now()))
        if n:
            times.append(ms(time.perf_counter() - began))
    return [Result("scheduler re-plan after one commit", city.database, city.problems, statistics.median(times),
                   "ms", note=f"{wakeups} wake-ups planned")]


def sweep(city: City) -> list[Result]:
    """One sweep of the ladder with what the city has due (1% of it); measured once, as it fires."""
    duban = city.duban
    with duban.db.reading() as session:
        due = session.scalar(select(func.count()).select_from(Problem).where(Problem.ladder_due_at <= clock.now()))
    began = time.perf_counter()
    fired = duban.sweep()
    took = ms(time.perf_counter() - began)
    return [Result("sweep, 1% due", city.database, city.problems, took, "ms",
                   target=SWEEP_MS if due >= 1000 else None, note=f"{due} due, {len(fired)} fired"),
            Result("sweep per firing", city.database, city.problems, took / max(len(fired), 1), "ms",
                   note=f"{len(fired)} fired")]


def import_ledger(city: City, rows: int, raw_start: float) -> list[Result]:
    """A ledger of `rows` good rows: the dry run, then the confirmed import (each row a problem
    with its process started), against raw SpiffWorkflow starting and saving as many."""
    duban = city.duban
    content = sheet(rows)
    with duban.db.reading() as session:
        admin = session.scalar(select(User.id).where(User.username == "admin"))
    began = time.perf_counter()
    report = duban.import_ledger(admin, content)
    dry = time.perf_counter() - began
    began = time.perf_counter()
    confirmed = duban.import_ledger(admin, content, confirm=True, filename="bench.xlsx", accept_gaps=True)
    took = time.perf_counter() - began
    raw = raw_start * rows / 1000
    assert len(confirmed["imported"]) == rows, {k: v for k, v in confirmed.items() if k != "imported"}
    return [Result(f"import {rows} rows, dry run", city.database, city.problems, dry, "s",
                   note=str(report.get("counts"))),
            Result(f"import {rows} rows, confirmed", city.database, city.problems, took, "s",
                   target=round(2 * raw, 1), ratio_to_raw=took / raw,
                   note=f"raw start+save of {rows}: {raw:.1f} s")]


def scaling(results: list[Result]) -> list[Result]:
    """Registering and completing at the largest size against the smallest (when 100× apart:
    ≤ 1.2×), and the sweep's cost per firing 10× more open problems apart (≤ 1.5×)."""
    found = []
    by = {(r.name, r.database, r.problems): r for r in results}
    sizes = sorted({r.problems for r in results if r.problems})  # the cluster's figures have none
    for database in sorted({r.database for r in results}):
        if len(sizes) < 2:
            break
        small, large = sizes[0], sizes[-1]
        for name in ("in-process register (median)", "in-process complete (median)"):
            a, b = by.get((name, database, small)), by.get((name, database, large))
            if a and b:
                found.append(Result(f"{name.split(' (')[0]} at {large} ÷ at {small}", database, large,
                                    b.value / a.value, "ratio", target=1.2 if large >= 100 * small else None))
        for size in sizes:
            a, b = by.get(("sweep per firing", database, size)), by.get(("sweep per firing", database, size * 10))
            if a and b:
                found.append(Result(f"sweep per firing at {size * 10} ÷ at {size}", database, size * 10,
                                    b.value / a.value, "ratio", target=1.5))
    return found
