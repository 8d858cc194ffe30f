"""A confirmed import, batch by batch (导入台账, 分批提交).

The sheet is judged first under a read transaction, which takes no write lock. Each batch is
then one write transaction that registers whole rows (the problem, its process, its ledger
entries and notices) and commits once it has run for the time budget
(`DUBAN_IMPORT_BATCH_SECONDS`, 0.5 s): on SQLite, whose write lock a transaction holds from
its first statement (BEGIN IMMEDIATE), other writers wait at most about one batch; on
PostgreSQL the ledger's append lock is released as often. The first batch checks that the
organisation the sheet was judged against still stands (or judges it again), creates the
regions, units and officials the sheet names and the import run record; every batch
updates the run in the same transaction as its rows, so the run's progress is exactly what
is in the database; the last one completes the run and writes the LEDGER_IMPORTED entry.

Between batches anyone may register a code the sheet also has: each batch looks its codes
up again inside its transaction, and such a row is reported as registered meanwhile.

If the process dies, the run stays `running` until it is found stopped (engine/excel/runs.py)
and marked interrupted; an error marks it failed. Confirming the same sheet again resumes
it: the codes it registered are reported as imported by that run, the rest are imported.
"""
from __future__ import annotations

import hashlib
import logging
import time
from typing import Callable

from sqlalchemy.exc import IntegrityError

from .. import clock, ledger
from ..errors import Conflict, Invalid, NotFound
from ..ledger import Action
from ..models import ImportRun, ImportRunStatus, ProcessDefinition
from ..text import normal_code
from ..workflow import purpose
from . import importing, ladder_entry, registering, runs, vacant_heads
from .sheet import Table

log = logging.getLogger("duban.imports")
LOOKUP = 200        # codes looked up again at once, at the start of a batch
# SQLite hands its write lock to no one in particular: a waiting writer's busy handler polls,
# every 100 ms at most once it has waited a while, and would miss the instant between one
# batch's COMMIT and the next BEGIN IMMEDIATE. The import stands aside this long between
# batches so that every waiting writer gets its turn. (PostgreSQL queues lock waiters.)
STAND_ASIDE = 0.12
RETRIES = 3         # a batch that meets a code registered at the same instant is run again


class ImportStopped(Conflict):
    """The run stopped after some of its batches had committed: those rows stay imported,
    and confirming the same sheet again imports the rest."""


class ConfirmedImport:
    def __init__(self, duban, user_id: int | None, table: Table, content: bytes, filename: str, skip_refused: bool,
                 process_key: str, progress: Callable[[int, int], None] | None = None,
                 committed: Callable[[dict], None] | None = None, ladder_from=None, look_back: bool = False,
                 accept_gaps: bool = False, ladder=None, calendar=None):
        """`progress(done, total)` after each row registered; `committed(run)` after each
        batch has committed, with the run as `runs.describe` shows it. `ladder_from`: the
        start of the grace date from which the ladder counts for every row (None: from the
        moment each row is registered; engine/excel/ladder_entry.py). `accept_gaps`: the
        office accepts the regions and units the import creates without heads as
        organisation gaps (engine/excel/vacant_heads.py; without it such an import is
        refused); `ladder` and `calendar` say which rows the ladder would hold for them."""
        self.duban, self.user_id, self.table = duban, user_id, table
        self.sha256 = hashlib.sha256(content).hexdigest()
        self.filename, self.skip_refused, self.process_key = filename, skip_refused, process_key
        self.progress, self.committed = progress, committed
        self.ladder_from = ladder_from
        self.look_back = look_back          # closed rows get their 回头看 due now
        self.accept_gaps, self.ladder, self.calendar = accept_gaps, ladder, calendar
        self.without_heads: list[dict] = []  # the regions and units left without heads (vacant_heads.survey)
        self.plan = None                    # the plan the import went by, once it has run
        self.budget = duban.settings.imports.batch_seconds
        self.imported_now: list[str] = []   # the codes this call registered, in committed batches

    def run(self) -> dict:
        db = self.duban.db
        with db.reading() as session:
            plan = self.plan = importing.analyse(session, self.table, sheet_sha256=self.sha256)
            self._refuse(plan)
            self._survey(session, plan)
        pending = list(plan.problems)
        try:
            with db.transaction() as session:
                self.duban._calendar(session)
                actor = self.duban.actor(session, self.user_id)
                definition = self.duban.runtime.current(session, self.process_key)
                if definition is None:
                    raise NotFound(f"no process {self.process_key!r} is deployed",
                                   {"process_key": ["not deployed"]})
                purpose.require_problem_process(definition)
                if not registering.still_valid(session, plan):
                    plan = self.plan = importing.analyse(session, self.table, sheet_sha256=self.sha256)
                    self._refuse(plan)
                    self._survey(session, plan)
                    pending = list(plan.problems)
                now = clock.now()
                run = runs.claim(session, self.sha256, self.filename, actor, self.skip_refused, now)
                run.total_rows = len(run.imported or []) + len(pending)
                named = registering.create_named(session, plan)
                taken, codes = self._batch(session, run, plan, pending, named, actor, definition)
                answer = self._answer(session, plan, run, actor, codes) if taken == len(pending) else None
                described = runs.describe(run, now)
        except IntegrityError:
            raise Conflict("some of these problems, units or officials were registered by someone else at the same "
                           "moment; run the import again") from None
        run_id, definition_id = run.id, definition.id
        del pending[:taken]
        self.imported_now += codes
        if answer is not None:
            return answer
        runs.activate(run_id)
        try:
            self._said(described)
            while pending:
                if self.duban.db.is_sqlite:
                    time.sleep(STAND_ASIDE)
                taken, codes, answer, described = self._next_batch(run_id, definition_id, plan, pending, named)
                del pending[:taken]
                self.imported_now += codes
                self._said(described)
            return answer
        except IntegrityError as error:
            self._stop(run_id, ImportRunStatus.FAILED, error)
            raise ImportStopped(f"import run #{run_id} stopped after {described['rows_done']} of "
                                f"{described['total_rows']} rows: some of these problems were registered by someone else at the same moment; "
                                "confirm the same sheet again to import the rest",
                                {"run": [f"run #{run_id} failed"]}) from None
        except Exception as error:
            self._stop(run_id, ImportRunStatus.FAILED, error)
            raise
        except BaseException as error:  # the process is being stopped
            self._stop(run_id, ImportRunStatus.INTERRUPTED, error)
            raise
        finally:
            runs.release(run_id)

    # -- one batch ---------------------------------------------------------------------------

    def _next_batch(self, run_id: int, definition_id: int, plan, pending, named):
        for attempt in range(RETRIES):
            try:
                with self.duban.db.transaction() as session:
                    self.duban._calendar(session)
                    actor = self.duban.actor(session, self.user_id)
                    definition = session.get(ProcessDefinition, definition_id)
                    run = session.get(ImportRun, run_id, with_for_update=True)
                    if run.status != ImportRunStatus.RUNNING:
                        raise Conflict(f"import run #{run_id} was marked {run.status} while it ran",
                                       {"run": [f"run #{run_id} is {run.status}"]})
                    taken, codes = self._batch(session, run, plan, pending, named, actor, definition)
                    answer = self._answer(session, plan, run, actor, codes) if taken == len(pending) else None
                    described = runs.describe(run, clock.now())
                return taken, codes, answer, described
            except IntegrityError:
                if attempt == RETRIES - 1:
                    raise
                log.info("import run #%s: a code was registered at the same moment; the batch runs again", run_id)
        raise AssertionError("unreachable")

    def _batch(self, session, run: ImportRun, plan, pending, named, actor, definition) -> tuple[int, list[str]]:
        """Register whole rows from the head of `pending` until the budget is spent, and
        update the run; how many rows of `pending` this batch took and the codes it
        registered (the caller drops them from `pending` once the transaction committed)."""
        started = time.monotonic()
        held = named.hold(session)  # noqa: F841 - kept for the batch
        taken, codes = 0, []
        while taken < len(pending):
            window = pending[taken:taken + LOOKUP]
            registered = registering.registered_codes(session, window)
            for item in window:
                taken += 1
                if normal_code(item.code) in registered:
                    plan.registered_meanwhile(item)
                    run.total_rows -= 1
                else:
                    problem = registering.register(session, item, named, actor, self.ladder_from)
                    missing = registering.bring_to_state(session, self.duban.runtime, definition, problem, item,
                                                         actor, self.look_back)
                    if missing:
                        plan.started_at_first_step(item, definition, missing)
                    codes.append(problem.code)
                    if self.progress:
                        self.progress(len(self.imported_now) + len(codes), len(plan.problems))
                if time.monotonic() - started >= self.budget:
                    break
            else:
                continue
            break
        run.imported = [*(run.imported or []), *codes]
        run.rows_done = len(run.imported)
        run.progressed_at = clock.now()
        return taken, codes

    def _answer(self, session, plan, run: ImportRun, actor, codes: list[str]) -> dict:
        """The last batch: the run completes, and the import is written to the ledger as one
        entry naming every code the run registered (all its attempts)."""
        now = clock.now()
        run.status, run.finished_at = ImportRunStatus.COMPLETED, now
        report = plan.report(confirmed=True, imported=[*self.imported_now, *codes], run=runs.describe(run, now))
        ledger.record(session, Action.LEDGER_IMPORTED, actor=actor, subject_type="ledger_sheet",
                      subject_id=self.filename or None, payload={
                          "filename": self.filename, "sheet": plan.sheet, "imported": list(run.imported),
                          "ladder_from": self.ladder_from.isoformat() if self.ladder_from else None,
                          "counts": report["counts"], "states": report["states"], "run": run.id, "attempts": run.attempts,
                          "refused_rows": [r.row for r in plan.refused],
                          "new_regions": [r["name"] for r in report["new_regions"]],
                          "new_units": [u["name"] for u in report["new_units"]],
                          "new_officials": [o["name"] for o in report["new_officials"]],
                          "accept_gaps": self.accept_gaps,
                          "accepted_gaps": vacant_heads.accepted(self.without_heads)})
        return report

    # -- around the batches ------------------------------------------------------------------

    def _refuse(self, plan) -> None:
        if plan.refused and not self.skip_refused:
            raise Invalid(f"{len(plan.refused)} row(s) refused; nothing was imported (fix them, or import "
                          "the others with skip_refused)",
                          {f"row {r.row}": [reason.message for reason in r.reasons] for r in plan.refused})

    def _survey(self, session, plan) -> None:
        """Which regions and units the rows leave without heads; a refusal naming
        `accept_gaps` if the import would create any and the office has not accepted them."""
        if self.ladder is None:
            entering = {"rows": []}
        else:
            entering = ladder_entry.report(plan, self.ladder, self.calendar, self.ladder_from)
        self.without_heads = vacant_heads.survey(session, plan, self.ladder, entering)
        if not self.accept_gaps:
            vacant_heads.refuse_unaccepted(self.without_heads)

    def _said(self, described: dict) -> None:
        if self.committed:
            self.committed(described)

    def _stop(self, run_id: int, status: ImportRunStatus, error: BaseException) -> ImportRun | None:
        """Record why the run stopped, in a transaction of its own (if the database lets us)."""
        try:
            with self.duban.db.transaction() as session:
                run = session.get(ImportRun, run_id, with_for_update=True)
                if run.status == ImportRunStatus.RUNNING:
                    run.status, run.finished_at = status, clock.now()
                    run.error = f"{type(error).__name__}: {error}"[:2000]
                return run
        except Exception:
            log.exception("import run #%s stopped (%s) and could not be marked so", run_id, status)
            return None
