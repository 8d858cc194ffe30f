"""Excel ledgers (整改台账): importing, exporting and the import runs.

A part of the Duban facade (engine/service.py): each method one action, one transaction."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import clock, problems, security_log
from ..models import Problem, Role
from ..escalation import rules
from . import DEFAULT_PROCESS


class LedgerImports:
    def import_ledger(self, user_id: int | None, content: bytes, confirm: bool = False, skip_refused: bool = False,
                      filename: str = "", process_key: str = DEFAULT_PROCESS, progress=None, committed=None,
                      ladder_from=None, look_back: bool = False, accept_gaps: bool = False) -> dict:
        """Read an office's ledger (环督办 only). A dry run (the default) only reports, row by
        row, with the sheet's unfinished import run if it has one; `confirm` creates the
        regions, units and officials it names that Duban lacks and registers every good row,
        starting its process, in batches that each commit within
        DUBAN_IMPORT_BATCH_SECONDS, under an import run record that resumes where it stopped
        when the same sheet is confirmed again (engine/excel/batches.py). A confirmed import
        with refused rows imports nothing unless `skip_refused` is given; codes Duban already
        has are reported as duplicates and left alone. `progress(done, total)` is called
        after each row, `committed(run)` after each batch that committed. `ladder_from` is
        the office's choice for the overdue rows (engine/excel/ladder_entry.py): None for
        now, or a grace date (a date or "YYYY-MM-DD") from which the ladder counts; the
        report's `ladder` says what that choice fires. `look_back`: the rows closed in the
        ledger get their 回头看 due now (engine/excel/status.py) instead of no process.
        `without_heads` in the report lists the regions and units the rows leave without a
        Party or government head (engine/excel/vacant_heads.py); a confirmed import that would
        create any is refused (Invalid naming `accept_gaps`, nothing written) unless
        `accept_gaps` accepts them as organisation gaps."""
        import hashlib

        from ..excel import batches, importing, ladder_entry, runs, sheet, vacant_heads

        if user_id is not None:
            with self.db.reading() as session:
                allowed = self.actor(session, user_id).has_role(Role.ADMIN)
            if not allowed:
                self.deny(user_id, "import a ledger", "problem", None)
        grace = ladder_entry.grace_start(ladder_from, clock.today())
        table = sheet.read(content, self.settings.imports)
        with self.db.reading() as session:  # a dry run writes nothing, not even the first version of the rules
            ladder = rules.in_force(session)
        calendar = self.current_calendar()
        if confirm:
            importer = batches.ConfirmedImport(self, user_id, table, content, filename, skip_refused, process_key,
                                               progress, committed, ladder_from=grace, look_back=look_back,
                                               accept_gaps=accept_gaps, ladder=ladder, calendar=calendar)
            report = importer.run()
            return {**report, "ladder": ladder_entry.report(importer.plan, ladder, calendar, grace,
                                                            set(report["imported"])),
                    "without_heads": importer.without_heads}
        digest = hashlib.sha256(content).hexdigest()
        with self.db.reading() as session:
            plan = importing.analyse(session, table, progress, sheet_sha256=digest)
            report = plan.report(run=runs.describe(runs.unfinished(session, digest), clock.now()))
            entering = ladder_entry.report(plan, ladder, calendar, grace)
            vacant_heads.addressees(session, plan, ladder, entering)
            without_heads = vacant_heads.survey(session, plan, ladder, entering)
        return {**report, "ladder": entering, "without_heads": without_heads}

    def mark_stopped_imports(self) -> list[int]:
        """Mark the import runs whose process is gone as interrupted (at start-up); their ids."""
        from ..excel import runs

        with self.db.reading() as session:
            if not runs.any_stopped(session, clock.now()):
                return []
        with self.db.transaction() as session:
            return [run.id for run in runs.mark_stopped(session, clock.now())]

    def export_ledger(self, user_id: int | None, wanted: problems.ProblemFilter | None = None,
                      progress=None) -> bytes:
        """The ledger as .xlsx, in the columns an import reads: the problems the caller may see
        (`user_id` None: all of them); `progress(done, total)` is called after each row."""
        from ..excel import exporting

        self.current_lights()
        with self.db.reading() as session:
            if user_id is None:
                statement = select(Problem)
            else:
                statement = problems.query(session, self.actor(session, user_id), wanted or problems.ProblemFilter())
            rows = session.scalars(statement.order_by(Problem.id).options(
                selectinload(Problem.cooperating_units), selectinload(Problem.sites),
                selectinload(Problem.region), selectinload(Problem.lead_unit),
                selectinload(Problem.responsible_official), selectinload(Problem.leading_official))).all()
            made = exporting.write(rows, progress=progress)
        with self.db.transaction() as session:
            security_log.record(session, security_log.Kind.LEDGER_EXPORTED, actor=self.actor(session, user_id),
                                method=None if user_id is not None else "command line", object="ledger",
                                details={"rows": len(rows)})
        return made
