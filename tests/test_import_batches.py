"""A long confirmed import shares the database: it commits in batches (each within
DUBAN_IMPORT_BATCH_SECONDS), other writers get in between them, a code registered by
someone else between batches is reported, and a run that really stops (its process killed
with SIGKILL in the middle of a batch) is marked interrupted and resumes with exactly the
rows it lacks. On both databases."""
from __future__ import annotations

import dataclasses
import io
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from bench.contention import another_writer
from engine import clock, problems
from engine.excel import runs
from engine.models import (DeadlineKind, ImportRun, ImportRunStatus, LedgerEntry, ProblemCategory, ProblemSource, Problem,
                           ProcessInstance, RegionLevel)
from engine.service import Duban

from .conftest import START

ROOT = Path(__file__).resolve().parents[1]
HEADER = ["序号", "问题编号", "问题来源/批次", "反馈问题", "问题类型", "所属区县/乡镇", "牵头单位", "具体责任人",
          "整改目标", "整改措施", "整改时限"]
BUDGET = 0.05


def sheet(rows: int) -> bytes:
    book = Workbook()
    ws = book.active
    ws.append(HEADER)
    for n in range(1, rows + 1):
        ws.append([n, f"PI-{n:03d}", "省级生态环境保护督察/2025年省级督察", f"第{n}号问题：河道沿岸垃圾堆放", "水",
                   "南岭县", "南岭县生态环境分局", f"责任人{n % 5}", "清理完毕", "清理并常态巡查", "2026年12月底前"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def small_batches(duban: Duban) -> Duban:
    duban.settings = dataclasses.replace(duban.settings,
                                         imports=dataclasses.replace(duban.settings.imports, batch_seconds=BUDGET))
    return duban


def imported_state(duban: Duban) -> tuple[list[str], dict[int, int]]:
    """The problems' codes, and how many process instances each problem has."""
    with duban.db.reading() as session:
        codes = list(session.scalars(select(Problem.code).order_by(Problem.code)))
        per_problem = dict(session.execute(select(ProcessInstance.problem_id, func.count())
                                           .group_by(ProcessInstance.problem_id)).all())
    return codes, per_problem


def the_run(duban: Duban, run_id: int) -> ImportRun:
    with duban.db.reading() as session:
        return session.get(ImportRun, run_id)


# -- other writers ------------------------------------------------------------------------------

def test_other_writers_wait_about_one_batch_not_the_whole_import(duban, org, settings):
    small_batches(duban)
    other = Duban(settings)  # another process's connections
    def write(n):
        other.create_region(None, f"测试镇{n}", RegionLevel.TOWNSHIP.value, org["county"])

    batches = []
    try:
        # paced like people's requests (the benchmark's writer does the same)
        with another_writer(write, pause=0.03) as waits:
            started = time.perf_counter()
            report = duban.import_ledger(org["user:admin"], sheet(60), confirm=True, filename="台账.xlsx",
                                         committed=batches.append)
            took = time.perf_counter() - started
    finally:
        other.db.dispose()
    assert len(report["imported"]) == 60 and report["run"]["status"] == "completed"
    assert len(batches) >= 5, batches  # the import really ran in many transactions
    assert len(waits) >= 10
    # a writer waits for at most the batch under way (its budget and one row) and SQLite's busy poll
    assert max(waits) < BUDGET + 0.45, (max(waits), took)
    assert max(waits) < took / 3
    with duban.db.reading() as session:
        assert duban.verify_ledger().intact
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "ledger.imported")).one()
        assert entry.payload["run"] == report["run"]["id"] and len(entry.payload["imported"]) == 60


def test_a_code_registered_between_batches_is_reported_and_the_rest_imported(duban, org):
    small_batches(duban)
    content = sheet(30)
    meanwhile = []

    def someone_registers(run):
        if not meanwhile:  # after the first batch committed, before the second began
            meanwhile.append(duban.register_problem(org["user:admin"], problems.NewProblem(
                code="PI-030", title="他人登记", description="他人登记", source=ProblemSource.PROVINCIAL,
                batch="2025年省级督察", category=ProblemCategory.WATER, region_id=org["county"],
                lead_unit_id=org["eco"], responsible_official_id=org["responsible"],
                deadline_kind=DeadlineKind.IMMEDIATE)))

    report = duban.import_ledger(org["user:admin"], content, confirm=True, committed=someone_registers)
    assert meanwhile and "PI-030" not in report["imported"] and len(report["imported"]) == 29
    last = report["rows"][-1]
    assert last["code"] == "PI-030" and last["status"] == "duplicate"
    assert [d["code"] for d in last["details"]] == ["registered_meanwhile"]
    assert report["counts"] == {"ok": 29, "refused": 0, "duplicate": 1}
    run = report["run"]
    assert (run["status"], run["rows_done"], run["total_rows"]) == ("completed", 29, 29)
    codes, per_problem = imported_state(duban)
    assert len(codes) == 30 == len(set(codes)) and set(per_problem.values()) == {1} and len(per_problem) == 30
    assert duban.verify_ledger().intact


# -- a run that stops ---------------------------------------------------------------------------

CHILD = """
import sys
from datetime import datetime
from pathlib import Path

from engine import clock
from engine.service import Duban
from engine.settings import ImportLimits, Settings

url, instance, path, at, admin = sys.argv[1:6]
clock.freeze(datetime.fromisoformat(at))
duban = Duban(Settings.from_env(database_url=url, instance_path=Path(instance), secret_key="test-secret",
                                imports=ImportLimits(batch_seconds=float(sys.argv[6]))))
committed = []

def said(run):
    committed.append(run)
    print("committed", run["id"], run["rows_done"], flush=True)

def progress(done, total):
    if committed and done > committed[-1]["rows_done"] + 1:  # inside a batch after the first one committed
        print("stalled", flush=True)
        sys.stdin.read()  # until killed

duban.import_ledger(int(admin), Path(path).read_bytes(), confirm=True, filename="台账.xlsx", progress=progress,
                    committed=said)
print("finished", flush=True)
"""


def import_and_kill(database_url: str, tmp_path: Path, content: bytes, admin: int) -> tuple[int, int]:
    """Run a confirmed import in a child process and SIGKILL it in the middle of a batch
    after at least one batch committed; the run's id and the rows committed."""
    script, path = tmp_path / "child_import.py", tmp_path / "台账.xlsx"
    script.write_text(CHILD, "utf-8")
    path.write_bytes(content)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, str(script), database_url, str(tmp_path / "child"), str(path),
                              START.isoformat(), str(admin), str(BUDGET)], cwd=ROOT, env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watchdog = threading.Timer(180, child.kill)
    watchdog.start()
    said = []
    try:
        for line in child.stdout:
            said.append(line.split())
            if said[-1] == ["stalled"]:
                os.kill(child.pid, signal.SIGKILL)
                break
        child.wait()
    finally:
        watchdog.cancel()
    assert said and said[-1] == ["stalled"], (said, child.stderr.read())
    assert child.returncode == -signal.SIGKILL
    last = [words for words in said if words[0] == "committed"][-1]
    return int(last[1]), int(last[2])


def test_a_killed_import_is_interrupted_and_resumes_exactly_the_missing_rows(duban, org, database_url, tmp_path):
    small_batches(duban)
    content = sheet(40)
    run_id, committed = import_and_kill(database_url, tmp_path, content, org["user:admin"])
    assert 0 < committed < 40

    left = the_run(duban, run_id)
    assert left.status == ImportRunStatus.RUNNING and left.rows_done == committed
    codes, per_problem = imported_state(duban)
    assert codes == sorted(left.imported) and len(codes) == committed  # the killed batch left nothing
    dry = duban.import_ledger(org["user:admin"], content)
    assert dry["run"]["id"] == run_id and dry["run"]["status"] == "interrupted"  # its process is gone

    assert duban.mark_stopped_imports() == [run_id]  # what start-up does
    assert duban.mark_stopped_imports() == []
    stopped = the_run(duban, run_id)
    assert stopped.status == ImportRunStatus.INTERRUPTED and "stopped after" in stopped.error

    report = duban.import_ledger(org["user:admin"], content, confirm=True, filename="台账.xlsx")
    by_code = {row["code"]: row for row in report["rows"]}
    earlier = [code for code in by_code if code in left.imported]
    assert len(earlier) == committed
    for code in earlier:
        assert by_code[code]["status"] == "duplicate"
        assert by_code[code]["details"][0]["code"] == "imported_by_run"
        assert by_code[code]["details"][0]["params"]["run"] == run_id
    assert sorted(report["imported"]) == sorted(set(by_code) - set(earlier))  # exactly the missing rows
    run = report["run"]
    assert (run["id"], run["status"], run["attempts"], run["rows_done"], run["total_rows"]) == (
        run_id, "completed", 2, 40, 40)
    codes, per_problem = imported_state(duban)
    assert len(codes) == 40 == len(set(codes)) and len(per_problem) == 40 and set(per_problem.values()) == {1}
    assert duban.verify_ledger().intact
    with duban.db.reading() as session:
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "ledger.imported")).one()
        assert entry.payload["run"] == run_id and sorted(entry.payload["imported"]) == codes

    from click.testing import CliRunner

    from web.cli import main

    audit = CliRunner().invoke(main, ["audit", "verify"], env={"DUBAN_DATABASE_URL": database_url,
                                                               "DUBAN_INSTANCE_PATH": str(tmp_path / "cli")})
    assert audit.exit_code == 0, audit.output


def test_a_failed_run_resumes_and_a_live_one_is_not_taken_over(duban, org):
    small_batches(duban)
    content = sheet(20)

    def fails(run):
        raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError):
        duban.import_ledger(org["user:admin"], content, confirm=True, committed=fails)
    with duban.db.reading() as session:
        run = session.scalars(select(ImportRun)).one()
        assert run.status == ImportRunStatus.FAILED and run.error == "RuntimeError: the disk is full"
        assert 0 < run.rows_done < 20 and session.scalar(select(func.count()).select_from(Problem)) == run.rows_done

    # the same sheet, running elsewhere and lately heard of: not taken over
    with duban.db.transaction() as session:
        live = session.get(ImportRun, run.id)
        live.status, live.host, live.pid, live.progressed_at = ImportRunStatus.RUNNING, "another-host", 1, clock.now()
    assert duban.mark_stopped_imports() == []
    from engine.errors import Conflict

    with pytest.raises(Conflict) as busy:
        duban.import_ledger(org["user:admin"], content, confirm=True)
    assert f"run #{run.id} is importing this sheet now" in busy.value.message
    # silent for longer than runs.STALE_AFTER: its host is taken to be gone
    clock.advance(runs.STALE_AFTER + timedelta(seconds=1))
    assert duban.mark_stopped_imports() == [run.id]
    report = duban.import_ledger(org["user:admin"], content, confirm=True)
    assert report["run"]["id"] == run.id and report["run"]["rows_done"] == 20 and report["run"]["attempts"] == 2
    codes, per_problem = imported_state(duban)
    assert len(codes) == 20 and set(per_problem.values()) == {1}
    assert duban.verify_ledger().intact


def _nullable_as_null(schema):
    """OpenAPI 3.0's `nullable` as JSON Schema's null type."""
    if isinstance(schema, dict):
        schema = {key: _nullable_as_null(value) for key, value in schema.items()}
        if schema.pop("nullable", False):
            schema["type"] = [schema["type"], "null"]
        return schema
    return [_nullable_as_null(item) for item in schema] if isinstance(schema, list) else schema


def test_the_api_answers_the_published_report_schema(api, duban):
    """The dry run, the confirmed import and the dry run after it, checked against the schema the
    OpenAPI document publishes (schemathesis's fuzzing rarely sends a real workbook)."""
    import jsonschema_rs  # comes with schemathesis

    from .test_excel import ledger_sheet

    document = api.client.get("/api/openapi.json").json
    schema = _nullable_as_null(document["paths"]["/api/ledger/import"]["post"]["responses"]["200"]["content"][
        "application/json"]["schema"])
    content, answers = ledger_sheet(), []  # one file: a sheet saved again is another file (another digest)
    for form in ({}, {"confirm": "true", "skip_refused": "true", "accept_gaps": "true"}, {}):
        response = api.post("/api/ledger/import", as_="admin", content_type="multipart/form-data",
                            data={"file": (io.BytesIO(content), "台账.xlsx"), **form})
        assert response.status_code == 200
        jsonschema_rs.validate(schema, response.json)
        answers.append(response.json)
    assert answers[0]["run"] is None and answers[1]["run"]["status"] == "completed"
    assert answers[2]["rows"][0]["details"][0]["code"] == "imported_by_run"
    assert [e["name"] for e in answers[0]["without_heads"] if e["new"]] == [
        "北山县", "青石镇人民政府", "南岭县自然资源局", "北山县水利局"]
    assert answers[1]["without_heads"] == answers[0]["without_heads"]


def test_the_batch_budget_comes_from_the_environment(monkeypatch):
    from engine.settings import ImportLimits

    assert ImportLimits.from_env().batch_seconds == 0.5
    monkeypatch.setenv("DUBAN_IMPORT_BATCH_SECONDS", "0.2")
    assert ImportLimits.from_env().batch_seconds == 0.2
    for bad in ("0", "-1", "soon", "61"):
        monkeypatch.setenv("DUBAN_IMPORT_BATCH_SECONDS", bad)
        with pytest.raises(ValueError, match="DUBAN_IMPORT_BATCH_SECONDS"):
            ImportLimits.from_env()


def test_a_plan_knows_when_the_organisation_changed_under_it(duban, org):
    """The sheet is judged before the first batch takes the write lock; the first batch judges it
    again if what it relied on changed meanwhile (a region renamed, a namesake of an official it
    would create, a unit it would create created)."""
    from engine.excel import importing, registering, sheet as sheets

    table = sheets.read(sheet(3), duban.settings.imports)
    with duban.db.reading() as session:
        plan = importing.analyse(session, table)
    assert set(plan.new_officials) == {"责任人1", "责任人2", "责任人3"}

    def valid() -> bool:
        with duban.db.reading() as session:
            return registering.still_valid(session, plan)

    assert valid()
    duban.create_region(None, "北山县", RegionLevel.COUNTY.value, org["city"])  # nothing the sheet names
    assert valid()
    namesake = duban.create_official(None, "责任人2")
    assert not valid()
    duban.update_official(None, namesake, name="责任人二")
    assert valid()
    duban.rename_region(None, org["county"], "南岭区")
    assert not valid()
