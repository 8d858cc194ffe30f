"""A city of N open problems on a fresh database, built fast and honestly.

1. The demo city is loaded (organisation, 20 problems with their histories) and swept once,
   so that what the demo has overdue has fired.
2. `SEEDS` problems are registered one by one through `Duban.register_problem` (the real path:
   problem, sites, cooperating units, rectification instance started by SpiffWorkflow, its first
   task assigned, notice, ledger entries), each with its own deadline from the spread below;
   their traffic lights and their next rung of the ladder (`ladder_due_at`) are worked out by
   the engine.
3. Every seed is replicated in bulk (SQLAlchemy Core executemany) until there are N problems:
   the problem row with a new id and code, its sites and cooperating units, its stored rungs of
   the ladder (their keys naming the copy), its process
   instance with the engine's serialized workflow state (every SpiffWorkflow task id replaced by
   a fresh one), its ready task, its in-app notice and its three ledger entries (registered,
   instance started, task assigned), appended to the hash chain with their hashes worked out
   again, so that `ledger.verify` holds. A copy has its seed's deadline, so its lights, its
   task's due moment and its ladder moment are the seed's, exactly as the engine set them.

The spread of deadlines (per 100 seeds): 1 falls within 3 working days (its 提醒预警 is due:
the sweep fires it, so 1% of the city is due), 9 within 4-5 working days (yellow, due soon),
5 are 长期坚持 (no deadline), the rest 10 to 400 days ahead. Red problems are the demo's only:
an overdue problem has its rungs due, and copying fired escalations is not done here.

    city = build(url, folder, 100_000)   # url: sqlite:///… or postgresql+psycopg://…
"""
from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import create_engine, func, insert, select, text

from engine import clock, ledger, migrate
from engine.demo import load_demo
from engine.escalation import due_moments, firing, rules
from engine.models import (DeadlineKind, HumanTask, LadderRung, LedgerEntry, Notification, Problem, ProcessInstance,
                           Site, User, problem_cooperating_unit)
from engine.problems import NewProblem
from engine.service import Duban
from engine.settings import Settings

SEEDS = 300
CHUNK = 5000
UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
COPIED_ACTIONS = ("problem.registered", "instance.started", "task.assigned")


@dataclass
class City:
    duban: Duban
    url: str
    problems: int
    seeds: list[int] = field(default_factory=list)  # the problems registered through the engine
    built_in: float = 0.0

    @property
    def database(self) -> str:
        return "postgresql" if self.url.startswith("postgresql") else "sqlite"


def fresh_database(url: str) -> None:
    """Empty the database (PostgreSQL: the public schema) and create the schema."""
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    migrate.upgrade(url)


def build(url: str, folder: Path, problems: int, seeds: int = SEEDS, log=print, fresh: bool = True) -> City:
    """`fresh`: empty the database and create the schema first (else it is migrated and empty)."""
    started = time.perf_counter()
    if fresh:
        fresh_database(url)
    duban = Duban(Settings.from_env(database_url=url, instance_path=folder / "instance", secret_key="bench"))
    load_demo(duban)
    duban.refresh_lights()
    duban.sweep()
    with duban.db.reading() as session:
        demo = session.scalar(select(func.count()).select_from(Problem))
    city = City(duban, url, problems)
    city.seeds = register_seeds(duban, min(seeds, max(problems - demo, 0)))
    log(f"  {demo} demo problems and {len(city.seeds)} registered through the engine "
        f"in {time.perf_counter() - started:.1f} s")
    copies = max(problems - demo - len(city.seeds), 0)
    if copies and city.seeds:
        replicate(duban, city.seeds, copies)
    city.built_in = time.perf_counter() - started
    log(f"  {problems} problems built in {city.built_in:.1f} s")
    return city


def seed_deadline(index: int, calendar, today):
    """(kind, deadline) of the index-th seed, by the spread in the module's notes."""
    slot = index % 100
    if slot == 0:
        return DeadlineKind.BY_DATE, calendar.shift(today, 2)  # its reminder is due now
    if slot < 10:
        return DeadlineKind.BY_DATE, calendar.shift(today, 4 + slot % 2)
    if slot >= 95:
        return DeadlineKind.LONG_TERM, None
    return DeadlineKind.BY_DATE, today + timedelta(days=10 + (slot * 37 + index) % 390)


def register_seeds(duban: Duban, count: int) -> list[int]:
    """Register `count` problems through the engine, modelled on the demo's, and work out their
    lights and ladder moments; their ids."""
    with duban.db.reading() as session:
        templates = session.scalars(select(Problem).order_by(Problem.id)).all()
        for template in templates:  # loaded before the session closes
            _ = template.cooperating_units, template.sites
        admin = session.scalar(select(User.id).where(User.username == "admin"))
    duban.current_calendar()
    calendar, today = duban.runtime.calendar, clock.today()
    ids = []
    for index in range(count):
        template = templates[index % len(templates)]
        kind, deadline = seed_deadline(index, calendar, today)
        ids.append(duban.register_problem(admin, NewProblem(
            code=f"{template.code}-S{index:04d}", title=template.title, description=template.description,
            source=template.source, batch=template.batch, category=template.category,
            region_id=template.region_id, lead_unit_id=template.lead_unit_id,
            responsible_official_id=template.responsible_official_id,
            leading_official_id=template.leading_official_id, industry_unit_id=template.industry_unit_id,
            cooperating_unit_ids=[u.id for u in template.cooperating_units], target=template.target,
            measures=template.measures, deadline_kind=kind, deadline=deadline,
            sites=[s.name for s in template.sites])))
    duban.refresh_lights()
    work_out_ladder(duban, ids)
    return ids


def work_out_ladder(duban: Duban, problem_ids: list[int]) -> None:
    """Store each problem's next rung (as the scheduler's plan does): a due one at its moment."""
    now = clock.now()
    with duban.db.transaction() as session:
        found = firing.survey(session, problem_ids, rules.current(session), duban.runtime.calendar, now)
        moments = dict(found.later)
        for due in found.due:
            moments[due.problem_id] = min(due.moment, moments.get(due.problem_id) or due.moment)
        due_moments.store(session, moments, found.rungs)


def replicate(duban: Duban, seeds: list[int], copies: int) -> None:
    """Add `copies` problems, each a copy of a seed (round robin), rows written in bulk."""
    engine = duban.db.engine
    tables = {name: model.__table__ for name, model in (
        ("problem", Problem), ("site", Site), ("process_instance", ProcessInstance),
        ("human_task", HumanTask), ("notification", Notification), ("ledger_entry", LedgerEntry))}
    tables["problem_cooperating_unit"] = problem_cooperating_unit
    tables["ladder_rung"] = LadderRung.__table__
    with engine.connect() as connection:
        def rows(table, column):
            return [dict(r) for r in connection.execute(
                select(table).where(column.in_(seeds)).order_by(*table.primary_key.columns)).mappings()]

        seed_rows = {
            "problem": rows(tables["problem"], tables["problem"].c.id),
            "site": rows(tables["site"], tables["site"].c.problem_id),
            "problem_cooperating_unit": rows(problem_cooperating_unit, problem_cooperating_unit.c.problem_id),
            "ladder_rung": rows(tables["ladder_rung"], tables["ladder_rung"].c.problem_id),
            "process_instance": rows(tables["process_instance"], tables["process_instance"].c.problem_id),
            "human_task": rows(tables["human_task"], tables["human_task"].c.problem_id),
            "notification": rows(tables["notification"], tables["notification"].c.problem_id),
            "ledger_entry": [r for r in rows(tables["ledger_entry"], tables["ledger_entry"].c.problem_id)
                             if r["action"] in COPIED_ACTIONS],
        }
        next_id = {name: (connection.scalar(select(func.max(table.c.id))) or 0) + 1
                   for name, table in tables.items() if name not in ("problem_cooperating_unit", "ladder_rung")}
        last_hash = connection.scalar(select(tables["ledger_entry"].c.hash)
                                      .order_by(tables["ledger_entry"].c.id.desc()).limit(1)) or ledger.GENESIS
    by_problem = {name: {} for name in seed_rows}
    for name, found in seed_rows.items():
        for row in found:
            by_problem[name].setdefault(row["id"] if name == "problem" else row["problem_id"], []).append(row)
    states = {row["id"]: json.dumps(row["state"]) for row in seed_rows["process_instance"]}

    pending = {name: [] for name in seed_rows}
    order = ["problem", "site", "problem_cooperating_unit", "ladder_rung", "process_instance", "human_task",
             "notification", "ledger_entry"]

    def flush(force: bool = False) -> None:
        if not force and len(pending["problem"]) < CHUNK:
            return
        with engine.begin() as connection:
            for name in order:
                if pending[name]:
                    connection.execute(insert(tables[name]), pending[name])
                    pending[name] = []

    for number in range(copies):
        seed = seeds[number % len(seeds)]
        problem = dict(by_problem["problem"][seed][0])
        old_code = problem["code"]
        new_code = f"{old_code.rsplit('-S', 1)[0]}-C{number:06d}"
        problem_id = next_id["problem"]
        next_id["problem"] += 1
        problem.update(id=problem_id, code=new_code)
        pending["problem"].append(problem)
        for site in by_problem["site"].get(seed, []):
            pending["site"].append({**site, "id": next_id["site"], "problem_id": problem_id})
            next_id["site"] += 1
        for link in by_problem["problem_cooperating_unit"].get(seed, []):
            pending["problem_cooperating_unit"].append({**link, "problem_id": problem_id})
        for rung in by_problem["ladder_rung"].get(seed, []):  # the key names its problem: p<id>:…
            pending["ladder_rung"].append({**rung, "problem_id": problem_id,
                                           "key": f"p{problem_id}:{rung['key'].split(':', 1)[1]}"})
        fresh: dict[str, str] = {}

        def new_uuid(match) -> str:
            return fresh.setdefault(match[0], str(uuid.uuid4()))

        instance_ids, task_ids = {}, {}
        for instance in by_problem["process_instance"].get(seed, []):
            instance_ids[instance["id"]] = next_id["process_instance"]
            state = json.loads(UUID_PATTERN.sub(new_uuid, states[instance["id"]]))
            pending["process_instance"].append({**instance, "id": next_id["process_instance"],
                                                "problem_id": problem_id, "state": state})
            next_id["process_instance"] += 1
        for task in by_problem["human_task"].get(seed, []):
            task_ids[task["id"]] = next_id["human_task"]
            pending["human_task"].append({
                **task, "id": next_id["human_task"], "problem_id": problem_id,
                "instance_id": instance_ids[task["instance_id"]],
                "spiff_task_id": fresh.get(task["spiff_task_id"]) or str(uuid.uuid4())})
            next_id["human_task"] += 1
        for notice in by_problem["notification"].get(seed, []):
            payload = dict(notice["payload"] or {})
            if "task_id" in payload:
                payload["task_id"] = task_ids.get(payload["task_id"], payload["task_id"])
            if "instance_id" in payload:
                payload["instance_id"] = instance_ids.get(payload["instance_id"], payload["instance_id"])
            payload = json.loads(json.dumps(payload, ensure_ascii=False).replace(old_code, new_code))
            pending["notification"].append({
                **notice, "id": next_id["notification"], "problem_id": problem_id, "payload": payload,
                "subject": notice["subject"].replace(old_code, new_code),
                "body": notice["body"].replace(old_code, new_code)})
            next_id["notification"] += 1
        subjects = {"problem": {seed: problem_id}, "process_instance": instance_ids, "human_task": task_ids}
        for entry in by_problem["ledger_entry"].get(seed, []):
            subject = entry["subject_id"]
            mapping = subjects.get(entry["subject_type"], {})
            if subject is not None and int(subject) in mapping:
                subject = str(mapping[int(subject)])
            payload = dict(entry["payload"])
            if "code" in payload:
                payload["code"] = new_code
            copy = {**entry, "id": next_id["ledger_entry"], "problem_id": problem_id, "subject_id": subject,
                    "payload": payload, "prev_hash": last_hash}
            copy["hash"] = last_hash = ledger.entry_hash(SimpleNamespace(**copy))
            pending["ledger_entry"].append(copy)
            next_id["ledger_entry"] += 1
        flush()
    flush(force=True)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            for name in next_id:
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                        f"(SELECT max(id) FROM {name}))"))
            connection.execute(text("ANALYZE"))
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
