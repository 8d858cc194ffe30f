"""How fast the pages answer at a city's scale.

Builds a fresh database (SQLite in a temporary folder, or DUBAN_BENCH_DATABASE_URL, which it
empties), loads the demo city, registers copies of its problems until there are --problems
of them (each with its rectification process started), runs the escalation ladder over them,
then requests each page through the real app (Flask's test client, signed in) and reports
the median time, the number of SQL statements and the size of the answer per request against
the targets below.
Exit status 1 when a page misses its target.

    .venv/bin/python -m bench.pages [--problems 1000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.city import fresh_database
from bench.measures import Statements
from engine.demo import PASSWORD, load_demo
from engine.models import HumanTask, Problem, ProcessInstance, TaskState, User
from engine.problems import NewProblem
from engine.service import Duban
from engine.settings import Settings

# page → (who asks, the most milliseconds its median may take)
TARGETS = {
    "/ledger": ("admin", 400),
    "/ledger?light=red&sort=-deadline": ("admin", 400),
    "/ledger?q=污水": ("admin", 400),
    "/problems/{problem}": ("admin", 400),
    "/dashboard": ("jiwei", 800),
    "/accountability": ("jiwei", 500),
    "/tasks": ("{official}", 300),
    "/admin/officials": ("admin", 400),
    # the JSON API's longest lists, one page each (signed in with a bearer token)
    "/api/tasks?all=true": ("admin", 300),
    "/api/problems": ("admin", 300),
}


def build(database_url: str, instance: Path, problems: int) -> Duban:
    duban = Duban(Settings.from_env(database_url=database_url, instance_path=instance, secret_key="bench"))
    load_demo(duban)
    with duban.db.reading() as session:
        originals = session.scalars(select(Problem).order_by(Problem.id)).all()
        admin = session.scalar(select(User.id).where(User.username == "admin"))
        copies = [_copy(problem, n) for n in range(1, problems // max(len(originals), 1) + 1)
                  for problem in originals][: max(problems - len(originals), 0)]
    for new in copies:
        duban.register_problem(admin, new)
    duban.refresh_lights()
    duban.sweep()
    return duban


def _copy(problem: Problem, n: int) -> NewProblem:
    return NewProblem(
        code=f"{problem.code}-{n:03d}", title=problem.title, description=problem.description,
        source=problem.source, batch=problem.batch, category=problem.category, region_id=problem.region_id,
        lead_unit_id=problem.lead_unit_id, responsible_official_id=problem.responsible_official_id,
        leading_official_id=problem.leading_official_id, industry_unit_id=problem.industry_unit_id,
        cooperating_unit_ids=[u.id for u in problem.cooperating_units], target=problem.target,
        measures=problem.measures, deadline_kind=problem.deadline_kind, deadline=problem.deadline,
        sites=[s.name for s in problem.sites], milestones=[])


def measure(duban: Duban, repeat: int) -> list[tuple[str, str, float, int, int, int]]:
    from web import create_app

    app = create_app(duban=duban)
    app.config.update(TESTING=True)
    statements = Statements(duban.db.engine)
    with duban.db.reading() as session:
        problem = session.scalar(select(Problem.id).order_by(Problem.id))
        official = session.scalar(select(User.username).join(HumanTask, HumanTask.assignee_id == User.id)
                                  .where(HumanTask.state == TaskState.READY).group_by(User.username)
                                  .order_by(func.count().desc()).limit(1))
    clients = {}
    results = []
    for page, (who, limit) in TARGETS.items():
        who = who.format(official=official or "admin")
        path = page.format(problem=problem)
        if path.startswith("/api/"):
            client = app.test_client()
            token = client.post("/api/auth/token", json={"username": who, "password": PASSWORD}).json["token"]
            client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        elif who not in clients:
            client = app.test_client()
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))[1]
            response = client.post("/login", data={"username": who, "password": PASSWORD, "csrf_token": token})
            assert response.status_code == 302, (who, response.status_code)
            clients[who] = client
        else:
            client = clients[who]
        assert client.get(path).status_code == 200, path  # warm: templates compiled, specs cached
        times = []
        for _ in range(repeat):
            before = statements.count
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
            queries = statements.count - before
        results.append((path, who, statistics.median(times), queries, limit, len(response.data)))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = os.environ.get("DUBAN_BENCH_DATABASE_URL") or f"sqlite:///{folder}/bench.db"
        fresh_database(url)
        started = time.perf_counter()
        duban = build(url, Path(folder) / "instance", args.problems)
        with duban.db.reading() as session:
            counts = {name: session.scalar(select(func.count()).select_from(model))
                      for name, model in (("problems", Problem), ("instances", ProcessInstance),
                                          ("tasks", HumanTask))}
        print(f"database: {re.sub(r'//[^@]*@', '//', url.split('?')[0])}  built in {time.perf_counter() - started:.0f} s: "
              + ", ".join(f"{n} {name}" for name, n in counts.items()))
        results = measure(duban, args.repeat)
        duban.db.dispose()
    width = max(len(path) for path, *_ in results)
    missed = 0
    print(f"{'page':<{width}}  {'as':<12} {'median ms':>9} {'SQL':>5} {'KB':>6} {'target ms':>9}")
    for path, who, median, queries, limit, size in results:
        ok = median <= limit
        missed += not ok
        print(f"{path:<{width}}  {who:<12} {median:>9.0f} {queries:>5} {size / 1024:>6.0f} {limit:>9}  "
              f"{'ok' if ok else 'SLOW'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
