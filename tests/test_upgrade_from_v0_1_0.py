"""A database made by release 0.1.0 upgrades and its work goes on.

`tests/fixtures/v0.1.0/` holds what `duban db upgrade && duban demo` made with the code tagged
`v0.1.0` (commit 77fbe45), on SQLite (the database file) and on PostgreSQL (`pg_dump --inserts`), each with its
evidence files, and the moment it was made (`made_at`). Here that database is upgraded with
`duban db upgrade` as an office would, and then: the ledger's chain holds, every stored
SpiffWorkflow state loads in this release, every stored evidence file reads back, and every open
problem is driven to 销号 (closed) through the engine, its timers (monthly reports, public
notice) firing on the engine's clock on the way, without an incident.
"""
from __future__ import annotations

import gzip
import hashlib
import tarfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text

from engine import clock, tasks
from engine.models import EvidenceFile, HumanTask, Incident, Problem, ProblemStatus, ProcessInstance, TaskState, User
from engine.service import Duban
from engine.settings import Settings
from web.cli import main

from .conftest import PG_URL, own_database

FIXTURE = Path(__file__).parent / "fixtures" / "v0.1.0"
MADE_AT = datetime.fromisoformat(FIXTURE.joinpath("made_at").read_text().strip().replace("Z", "+00:00"))


def _load_postgresql(dump: Path) -> str:
    """A database of its own beside this worker's (the others' tables stay as they are), with the dump in it."""
    url = own_database(PG_URL, "v010")
    engine = create_engine(url)
    try:
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                cursor.execute(gzip.decompress(dump.read_bytes()).decode("utf-8"))
            raw.commit()
        finally:
            raw.close()
        with engine.begin() as connection:  # the dump emptied the search path of its session only
            connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    return url


@pytest.fixture
def old_database(backend, tmp_path):
    """(database URL, instance folder) of the 0.1.0 city, not upgraded yet."""
    here = FIXTURE / backend
    instance = tmp_path / "instance"
    instance.mkdir()
    with tarfile.open(here / "evidence.tar.gz") as archive:
        archive.extractall(instance, filter="data")
    if backend == "sqlite":
        path = tmp_path / "duban.db"
        path.write_bytes(gzip.decompress((here / "duban.db.gz").read_bytes()))
        return f"sqlite:///{path}", instance
    return _load_postgresql(here / "duban.sql.gz"), instance


DATA = {
    "Task_sign": lambda today: {"acknowledged": True},
    "Task_review_plan": lambda today: {"decision": "approve"},
    "Task_monthly_report": lambda today: {"progress": "按计划推进", "percent": 60, "on_schedule": "yes"},
    "Task_industry_certify": lambda today: {"decision": "certify"},
    "Task_site_inspection": lambda today: {"decision": "pass", "checked_on": str(today)},
    "Task_notice_result": lambda today: {"objection": "none"},
}


def _doer(duban: Duban, task_id: int) -> int:
    """An active user who may complete the task (its assignee, one of its unit, one of its role)."""
    with duban.db.reading() as session:
        task = session.get(HumanTask, task_id)
        for user in session.scalars(select(User).where(User.active.is_(True)).order_by(User.id)):
            if tasks.may_complete(user, task):
                return user.id
    raise AssertionError(f"nobody may complete task {task_id} ({task.element_id})")


def _complete(duban: Duban, task: HumanTask) -> None:
    user_id = _doer(duban, task.id)
    today = clock.local_now().date()
    if task.element_id == "Task_submit_plan":  # the deadline the problem has (a later one is an extension)
        with duban.db.reading() as session:
            deadline = session.get(Problem, task.problem_id).deadline
        data = {"target": "出水稳定达到一级A标准", "measures": "提标改造，新增深度处理单元", "deadline_kind": "by_date",
                "deadline": str(deadline or today + timedelta(days=90))}
    elif task.element_id == "Task_rectify":
        evidence = duban.upload_evidence(user_id, task.problem_id, "整改报告.pdf", "application/pdf", b"%PDF-1.4 done")
        data = {"summary": "整改完成", "evidence": [evidence.id]}
    else:
        assert task.element_id in DATA, f"no data for {task.element_id}"
        data = DATA[task.element_id](today)
    incident = duban.complete_task(user_id, task.id, data)
    assert incident is None, (task.element_id, incident)


def test_a_v0_1_0_database_upgrades_and_its_open_problems_close(old_database, tmp_path):
    url, instance = old_database
    env = {"DUBAN_DATABASE_URL": url, "DUBAN_INSTANCE_PATH": str(instance)}
    upgraded = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    verified = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert verified.exit_code == 0, verified.output

    clock.freeze(MADE_AT + timedelta(minutes=5))
    duban = Duban(Settings.from_env(database_url=url, instance_path=instance, secret_key="upgrade-test"))
    try:
        with duban.db.reading() as session:
            for instance_row in session.scalars(select(ProcessInstance)):  # every stored state loads
                assert duban.runtime.load(instance_row).spec.name, instance_row.id
            for row in session.scalars(select(EvidenceFile)):  # every stored file reads back
                assert hashlib.sha256(duban.evidence_path(row).read_bytes()).hexdigest() == row.sha256, row.id
            open_codes = set(session.scalars(select(Problem.code).where(Problem.status != ProblemStatus.CLOSED)))
        assert len(open_codes) == 17, open_codes

        for _ in range(60):  # a step a day (or the timers of the next month) until every problem is closed
            with duban.db.reading() as session:
                ready = session.scalars(select(HumanTask).where(HumanTask.state == TaskState.READY)
                                        .order_by(HumanTask.id)).all()
                left = session.scalar(select(Problem.id).where(Problem.status != ProblemStatus.CLOSED).limit(1))
            if left is None:
                break
            for task in ready:
                _complete(duban, task)
            if not ready:
                clock.advance(timedelta(days=10))
                duban.wake_due()
        with duban.db.reading() as session:
            statuses = {code: status.value for code, status in session.execute(select(Problem.code, Problem.status))}
            incidents = session.scalars(select(Incident)).all()
        assert all(statuses[code] == "closed" for code in open_codes), statuses
        assert incidents == []
        assert duban.verify_ledger().intact
    finally:
        duban.db.dispose()
        clock.release()
