"""How many SQL statements, and how long, one task completion and one problem registration take
in the engine (no HTTP), with the demo city loaded and `--problems` problems stored in all.

    .venv/bin/python -m bench.lean_actions --problems 500            # SQLite, a fresh file
    .venv/bin/python -m bench.lean_actions --problems 500 --url postgresql+psycopg://…   # emptied first!
    add --show to print every statement of the measured actions, --profile to profile them.

The actions measured: registering one more problem (its process starts: the sign task is
assigned), completing that problem's sign task (签收) and then its plan (整改方案); and registering
through the API (POST /api/problems, its answer built in the same transaction)."""
from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, event, select, text

from engine import clock, migrate
from engine.demo import load_demo
from engine.models import Base, HumanTask, Problem, TaskState
from engine.problems import NewProblem
from engine.service import Duban
from engine.settings import Settings

PLAN = {"target": "出水稳定达到一级A标准", "measures": "提标改造，新增深度处理单元", "deadline_kind": "by_date",
        "deadline": None}


class Statements:
    def __init__(self, engine):
        self.lines: list[str] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, _params, _context, _many):
        if self.on:
            self.lines.append(" ".join(statement.split()))

    @contextmanager
    def counting(self):
        self.lines, self.on = [], True
        try:
            yield self
        finally:
            self.on = False


def _empty(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def build(url: str, problems: int, instance: Path) -> Duban:
    migrate.upgrade(url)
    duban = Duban(Settings.from_env(database_url=url, instance_path=instance, secret_key="bench"))
    load_demo(duban)
    with duban.db.reading() as session:
        template = session.scalars(select(Problem).order_by(Problem.id).limit(1)).one()
        count = session.scalar(select(Problem.id).order_by(Problem.id.desc()).limit(1))
        base = _new(template, "BENCH-0")
    for n in range(count, problems):
        duban.register_problem(None, replace(base, code=f"BENCH-{n:05d}"))
    return duban


def _new(problem: Problem, code: str) -> NewProblem:
    return NewProblem(code=code, title=problem.title, description=problem.description, source=problem.source,
                      batch=problem.batch, category=problem.category, region_id=problem.region_id,
                      lead_unit_id=problem.lead_unit_id, responsible_official_id=problem.responsible_official_id,
                      leading_official_id=problem.leading_official_id, industry_unit_id=problem.industry_unit_id,
                      cooperating_unit_ids=[u.id for u in problem.cooperating_units],
                      deadline=clock.today() + timedelta(days=90), sites=["厂区"])


def _ready(duban: Duban, problem_id: int) -> HumanTask:
    with duban.db.reading() as session:
        return session.scalars(select(HumanTask).where(HumanTask.problem_id == problem_id,
                                                       HumanTask.state == TaskState.READY)).one()


def _performer(duban: Duban, task: HumanTask) -> int:
    from engine.demo import _performer
    with duban.db.reading() as session:
        return _performer(session, session.get(HumanTask, task.id))


def measure(duban: Duban, rounds: int, show: bool, profile: bool) -> dict[str, tuple[int, float]]:
    counter = Statements(duban.db.engine)
    with duban.db.reading() as session:
        template = session.scalars(select(Problem).order_by(Problem.id).limit(1)).one()
        base = _new(template, "x")
    results: dict[str, list] = {"register": [], "complete sign": [], "complete plan": []}
    shown = set()
    profiler = cProfile.Profile() if profile else None
    for round_ in range(rounds):
        steps = []
        code = f"LEAN-{time.time_ns()}-{round_}"

        def register():
            steps.append(duban.register_problem(None, replace(base, code=code)))

        def sign():
            task = _ready(duban, steps[0])
            user = _performer(duban, task)
            return lambda: duban.complete_task(user, task.id, {"acknowledged": True})

        def plan():
            task = _ready(duban, steps[0])
            user = _performer(duban, task)
            data = dict(PLAN, deadline=(clock.today() + timedelta(days=80)).isoformat())
            return lambda: duban.complete_task(user, task.id, data)

        for name, prepare in (("register", lambda: register), ("complete sign", sign), ("complete plan", plan)):
            action = prepare()
            if profiler:
                profiler.enable()
            with counter.counting():
                began = time.perf_counter()
                action()
                took = time.perf_counter() - began
            if profiler:
                profiler.disable()
            results[name].append((len(counter.lines), took))
            if show and name not in shown:
                shown.add(name)
                print(f"--- {name}: {len(counter.lines)} statements")
                for line in counter.lines:
                    print("   ", line[:220])
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    results["register (API)"] = _through_the_api(duban, counter, base, rounds, show)
    return {name: (rows[-1][0], statistics.median(t for _, t in rows)) for name, rows in results.items()}


def _through_the_api(duban: Duban, counter: Statements, base: NewProblem, rounds: int, show: bool) -> list:
    """POST /api/problems as the demo's 环督办 account, answer included (sign-in not counted)."""
    from engine.demo import PASSWORD
    from web import create_app

    client = create_app(duban=duban).test_client()
    token = client.post("/api/auth/token", json={"username": "admin", "password": PASSWORD}).json["token"]
    body = {"title": base.title, "description": base.description, "source": base.source.value,
            "batch": base.batch, "category": base.category.value, "region_id": base.region_id,
            "lead_unit_id": base.lead_unit_id, "responsible_official_id": base.responsible_official_id,
            "leading_official_id": base.leading_official_id, "industry_unit_id": base.industry_unit_id,
            "cooperating_unit_ids": base.cooperating_unit_ids, "deadline_kind": "by_date",
            "deadline": base.deadline.isoformat(), "sites": base.sites}
    rows = []
    for round_ in range(rounds):
        with counter.counting():
            began = time.perf_counter()
            response = client.post("/api/problems", json=dict(body, code=f"API-{time.time_ns()}-{round_}"),
                                   headers={"Authorization": f"Bearer {token}"})
            took = time.perf_counter() - began
        assert response.status_code == 201, response.json
        rows.append((len(counter.lines), took))
    if show:
        print(f"--- register (API): {len(counter.lines)} statements")
        for line in counter.lines:
            print("   ", line[:220])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=20)
    parser.add_argument("--url", help="a PostgreSQL database to empty and use (default: a fresh SQLite file)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--show", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite:///{folder}/bench.db"
        if args.url:
            _empty(args.url)
        duban = build(url, args.problems, Path(folder) / "instance")
        clock.release()
        results = measure(duban, args.rounds, args.show, args.profile)
        backend = "postgresql" if args.url else "sqlite"
        for name, (statements, seconds) in results.items():
            print(f"{backend:<10} {args.problems:>5} problems  {name:<15} {statements:>3} statements  "
                  f"{seconds * 1000:7.1f} ms (median of {args.rounds})")
        duban.db.dispose()


if __name__ == "__main__":
    main()
