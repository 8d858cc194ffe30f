"""Duban's actions, each one transaction: the one entry point the web app, the command line
and the scheduler call."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from . import accounts, clock, evidence, evidence_types, extensions, ledger, notifications, problems, tasks
from . import calendar_store, incidents, lights, repair, version_migration, sign_in as guarded_sign_in
from . import organization_admin as org_admin
from .calendar import WorkingCalendar
from .db import Database
from .errors import Conflict, DubanError, Forbidden, Invalid, NotFound, Unauthenticated
from .ledger import Action
from .incident_desk import IncidentDesk, Wakening
from .models import Escalation, EvidenceFile, HumanTask, IncidentStatus, Official, Post, Problem, ProcessDefinition, Role, TaskState, User
from .settings import BPMN_DIR, Settings
from .escalation import firing, rules
from .escalation import ladder as ladder_module
from .escalation.targets import resolve
from .scheduling import signal as scheduling_signal
from .workflow import purpose, versions
from .workflow.forms import evidence_keys
from .workflow.runtime import Runtime
from .workflow.sandbox import rehearsal

DEFAULT_PROCESS = "rectification"
# what a door wants back from an action, built inside its transaction: (session, id) -> answer
Answer = Callable[[Session, int], Any]
# the same for a calendar change: (session, the calendar as changed, what the change did) -> answer
CalendarAnswer = Callable[[Session, WorkingCalendar, dict], Any]


@dataclass(frozen=True)
class Firing:
    """One line of a sweep: a problem, a level, the people it reaches."""

    problem_code: str
    level: int
    rule_name: str
    due_at: datetime
    targets: list[dict]
    escalation_id: int | None = None

    @classmethod
    def of(cls, escalation: Escalation) -> "Firing":
        return cls(escalation.problem.code, escalation.level, escalation.rule_name, escalation.due_at,
                   escalation.targets, escalation.id)

    @classmethod
    def planned(cls, session, due, heads: dict | None = None) -> "Firing":
        problem = session.get(Problem, due.problem_id)
        return cls(problem.code, due.rule["level"], due.rule["name"], due.moment,
                   resolve(session, problem, due.rule["targets"], heads))

    def line(self) -> str:
        names = "、".join(f"{t['name']}（{t.get('title') or t['role']}）" for t in self.targets)
        return f"{self.problem_code}  L{self.level} {self.rule_name}  {names}"


# the shipped ladder processes set no problemStatus on purpose: the problem's own process does
SHIPPED_WARNINGS = "shipped with the release"
SHIPPED_NOTE = "随版本发布"   # the 版本说明 of a shipped diagram's version


class Duban:
    def __init__(self, settings: Settings, runtime: Runtime | None = None, **engine_options):
        """`engine_options` go to SQLAlchemy's create_engine (`duban serve` sizes the pool)."""
        self.settings = settings
        self.db = Database(settings.database_url, **engine_options)
        scheduling_signal.install(self.db)
        # each Duban holds its own calendar, kept in step with the database (see _calendar)
        self.runtime = runtime or Runtime(WorkingCalendar(), channels=settings.notifications,
                                          backoff=settings.incident_backoff, scripts=settings.scripts)
        self.incident_desk = IncidentDesk(self)
        self.repair_desk = repair.RepairDesk(self)
        self.migrations = version_migration.VersionMigration(self)
        self.tokens = accounts.Tokens(settings.secret_key, settings.token_max_age, self._may_use_token)

    # -- who is acting -------------------------------------------------------------------------

    @staticmethod
    def actor(session: Session, user_id: int | None) -> User | None:
        if user_id is None:
            return None
        user = session.get(User, user_id)
        if user is None or not user.active:
            raise Unauthenticated("this account no longer exists or is disabled")
        return user

    def _may_use_token(self, user_id: int, epoch: int) -> bool:
        with self.db.reading() as session:
            row = session.execute(select(User.active, User.token_epoch).where(User.id == user_id)).first()
            return row is not None and bool(row.active) and row.token_epoch == epoch

    def sign_in(self, username: str, password: str) -> tuple[User, str]:
        """The account and a fresh API token; a wrong or unknown name or password raises
        Unauthenticated, too many recent failures Locked (engine/sign_in.py). The failure is
        recorded (committed) before the refusal is raised."""
        for attempt in range(2):
            try:
                with self.db.transaction() as session:
                    user, refusal = guarded_sign_in.attempt(session, username, password, self.settings.sign_in)
                    if user is not None:
                        return user, self.tokens.issue(user)
                raise refusal
            except IntegrityError:  # two first failures of one name at once: count again
                if attempt:
                    raise Unauthenticated(guarded_sign_in.WRONG) from None
        raise AssertionError("unreachable")

    def sign_out(self, user_id: int) -> None:
        """End every page session of the account (API tokens stay valid)."""
        with self.db.transaction() as session:
            user = session.get(User, user_id)
            if user is not None:
                guarded_sign_in.end_sessions(user)

    def session_user(self, session: Session, user_id: int, stamp: dict) -> User:
        """The account of a page session, if the session is still good (engine/sign_in.py)."""
        user = self.actor(session, user_id)
        if not guarded_sign_in.session_current(user, stamp, self.settings.sign_in):
            raise Unauthenticated("the session has ended; sign in again")
        return user

    def deny(self, user_id: int | None, what: str, subject_type: str, subject_id, problem_id: int | None = None):
        """Record a refused action in its own transaction, then refuse it."""
        with self.db.transaction() as session:
            ledger.record(session, Action.PERMISSION_DENIED, actor=self.actor(session, user_id),
                          subject_type=subject_type, subject_id=subject_id, problem_id=problem_id,
                          payload={"action": what})
        raise Forbidden(f"you may not {what}")

    # -- process definitions -------------------------------------------------------------------

    def deploy(self, user_id: int | None, content: bytes, filename: str = "upload.bpmn",
               attachments: dict[str, bytes] | None = None, accepted: str | None = None,
               comment: str | None = None, draft: bool = False, shipped: bool = False):
        """Deploy a BPMN document (with the form files it names, if any) as a new published
        version, or as a draft (`draft`: stored, not started on). A published deployment's
        warnings refuse it too unless `accepted` is the deployer's comment accepting them; the
        comment (版本说明) and the acceptance are kept in the ledger. Returns the version and
        what was done (engine.workflow.versions.Outcome: created, replaced, unchanged)."""
        try:
            with self.db.transaction() as session:
                return self.runtime.deploy(session, content, self.actor(session, user_id), filename, attachments,
                                           accepted, comment, draft, shipped)
        except IntegrityError:
            raise Conflict("another version of this process was deployed at the same moment; try again") from None

    def deploy_shipped(self) -> list[tuple[ProcessDefinition, object]]:
        """The diagrams in bpmn/, deployed as a new version where no version has their content."""
        return [self.deploy(None, path.read_bytes(), path.name, accepted=SHIPPED_WARNINGS,
                            comment=SHIPPED_NOTE, shipped=True)
                for path in sorted(BPMN_DIR.glob("*.bpmn"))]

    def save_draft(self, user_id: int | None, content: bytes, filename: str = "upload.bpmn",
                   attachments: dict[str, bytes] | None = None, comment: str | None = None, replace: bool = True):
        """Save a document as its process's draft (环督办), kept *unfinished* while it has errors
        (no executable process, a condition to translate …) to be finished in the editor
        instead of being refused (engine/workflow/versions.py, save_draft). Returns the draft
        and the Outcome; DocumentError when the document cannot be read or names no process;
        Conflict when the process has another draft and not `replace` (an upload)."""
        try:
            with self.db.transaction() as session:
                actor = self.actor(session, user_id)
                if actor is not None and not actor.has_role(Role.ADMIN):
                    refused = True
                else:
                    refused = False
                    saved = self.runtime.save_draft(session, content, actor, filename, attachments, comment, replace)
        except IntegrityError:
            raise Conflict("another version of this process was saved at the same moment; try again") from None
        if refused:
            self.deny(user_id, "save a process draft", "process_definition", None)
        return saved

    def delete_draft(self, user_id: int | None, key: str, version: int) -> None:
        """Delete a draft of a process (环督办), finished or not; a published version stays
        (409). Written to the ledger."""
        with self.db.transaction() as session:
            actor = self.actor(session, user_id)
            refused = actor is not None and not actor.has_role(Role.ADMIN)
            if not refused:
                versions.delete_draft(session, key, version, actor)
        if refused:
            self.deny(user_id, f"delete version {version} of process {key}", "process_definition", f"{key}:{version}")

    def publish_definition(self, user_id: int | None, key: str, version: int, comment: str | None,
                           accept_warnings: bool = False, answer: Answer | None = None):
        """Publish a draft, or roll back to an older version by publishing it again (环督办):
        it becomes the version new problems start on. Checked again in full; the comment is
        required and goes into the ledger. Given `answer`, what `answer(session, id)` builds
        inside the transaction is returned instead of the version."""
        refused = object()
        try:
            with self.db.transaction() as session:
                actor = self.actor(session, user_id)
                if actor is not None and not actor.has_role(Role.ADMIN):
                    result = refused
                else:
                    definition = self.runtime.publish(session, key, version, actor, comment, accept_warnings)
                    result = answer(session, definition.id) if answer else definition
        except IntegrityError:
            raise Conflict("the process was changed by someone else at the same moment; try again") from None
        if result is refused:
            self.deny(user_id, f"publish version {version} of process {key}", "process_definition", f"{key}:{version}")
        return result

    def compare_definitions(self, key: str, older: int, newer: int):
        """What changed between two versions of a process (engine.workflow.version_diff)."""
        from .workflow import version_diff

        with self.db.reading() as session:
            found = {}
            for field, number in (("from", older), ("to", newer)):
                found[field] = versions.find(session, key, number)
                if found[field] is None:
                    raise NotFound(f"no version {number} of process {key!r}",
                                   {field: [f"process {key!r} has no version {number}"]})
            return version_diff.compare(found["from"].bpmn_xml, found["to"].bpmn_xml)

    def check_definition(self, content: bytes, filename: str = "upload.bpmn",
                         attachments: dict[str, bytes] | None = None):
        """Every finding about a BPMN document (engine.validation), nothing deployed."""
        return self.runtime.inspect(content, filename, attachments)

    # -- problems ------------------------------------------------------------------------------

    def register_problem(self, user_id: int | None, new: problems.NewProblem,
                         process_key: str = DEFAULT_PROCESS, answer: Answer | None = None):
        """The new problem's id; or, given `answer`, what `answer(session, problem_id)` builds
        inside the transaction (a door's response, complete before the commit)."""
        def rehearse(session):
            definition = self.runtime.current(session, process_key)
            if definition is not None and definition.purpose == purpose.PROBLEM:
                self.runtime.rehearse_start(definition)

        with self.scripts_first(rehearse), self.db.transaction() as session:
            self._calendar(session)
            actor = self.actor(session, user_id)
            definition = self.runtime.current(session, process_key)
            if definition is None:
                raise NotFound(f"no process {process_key!r} is deployed", {"process_key": ["not deployed"]})
            purpose.require_problem_process(definition)
            problem = problems.register(session, new, actor)
            self.runtime.start(session, definition, problem, actor)
            return answer(session, problem.id) if answer else problem.id

    # -- Excel ledgers (整改台账) ------------------------------------------------------------------

    def import_ledger(self, user_id: int | None, content: bytes, confirm: bool = False, skip_refused: bool = False,
                      filename: str = "", process_key: str = DEFAULT_PROCESS, progress=None, committed=None) -> dict:
        """Read an office's ledger (环督办 only). A dry run (the default) only reports, row by
        row, with the sheet's unfinished import run if it has one; `confirm` creates the
        regions, units and officials it names that Duban lacks and registers every good row,
        starting its process, in batches that each commit within
        DUBAN_IMPORT_BATCH_SECONDS, under an import run record that resumes where it stopped
        when the same sheet is confirmed again (engine/excel/batches.py). A confirmed import
        with refused rows imports nothing unless `skip_refused` is given; codes Duban already
        has are reported as duplicates and left alone. `progress(done, total)` is called
        after each row, `committed(run)` after each batch that committed."""
        import hashlib

        from .excel import batches, importing, runs, sheet

        if user_id is not None:
            with self.db.reading() as session:
                allowed = self.actor(session, user_id).has_role(Role.ADMIN)
            if not allowed:
                self.deny(user_id, "import a ledger", "problem", None)
        table = sheet.read(content, self.settings.imports)
        if confirm:
            return batches.ConfirmedImport(self, user_id, table, content, filename, skip_refused, process_key,
                                           progress, committed).run()
        digest = hashlib.sha256(content).hexdigest()
        with self.db.reading() as session:
            plan = importing.analyse(session, table, progress, sheet_sha256=digest)
            return plan.report(run=runs.describe(runs.unfinished(session, digest), clock.now()))

    def mark_stopped_imports(self) -> list[int]:
        """Mark the import runs whose process is gone as interrupted (at start-up); their ids."""
        from .excel import runs

        with self.db.reading() as session:
            if not runs.any_stopped(session, clock.now()):
                return []
        with self.db.transaction() as session:
            return [run.id for run in runs.mark_stopped(session, clock.now())]

    def export_ledger(self, user_id: int | None, wanted: problems.ProblemFilter | None = None,
                      progress=None) -> bytes:
        """The ledger as .xlsx, in the columns an import reads: the problems the caller may see
        (`user_id` None: all of them); `progress(done, total)` is called after each row."""
        from .excel import exporting

        with self.db.reading() as session:
            if user_id is None:
                statement = select(Problem)
            else:
                statement = problems.query(session, self.actor(session, user_id), wanted or problems.ProblemFilter())
            rows = session.scalars(statement.order_by(Problem.id).options(
                selectinload(Problem.cooperating_units), selectinload(Problem.sites),
                selectinload(Problem.region), selectinload(Problem.lead_unit),
                selectinload(Problem.responsible_official), selectinload(Problem.leading_official))).all()
            return exporting.write(rows, progress=progress)

    def upload_evidence(self, user_id: int, problem_id: int, filename: str, content_type: str,
                        content: bytes) -> EvidenceFile:
        with self.db.transaction() as session:
            actor = self.actor(session, user_id)
            problem = problems.get(session, problem_id)
            if problems.may_see(actor, problem):
                return evidence.store(session, self.settings.evidence_path, problem, filename, content_type,
                                      content, actor, evidence_types.load_policy(self.settings.evidence_types))
        self.deny(user_id, "add evidence to this problem", "problem", problem_id, problem_id)

    def upload_task_evidence(self, user_id: int, task_id: int, field: str, filename: str, content_type: str,
                             content: bytes) -> EvidenceFile:
        """A file for one of a ready task's file fields, kept as a draft of the task until its
        completion submits it; only for whoever may complete the task."""
        with self.db.transaction() as session:
            actor = self.actor(session, user_id)
            task = tasks.get(session, task_id)
            if tasks.may_complete(actor, task):
                if task.state != TaskState.READY:
                    raise Conflict(f"task {task.id} is already {task.state.value}")
                form = task.instance.definition.forms.get(task.element_id)
                if field not in evidence_keys(form):
                    raise Invalid("the form has no such file field", {"field": [f"no file field {field!r}"]})
                return evidence.store(session, self.settings.evidence_path, task.problem, filename, content_type,
                                      content, actor, evidence_types.load_policy(self.settings.evidence_types),
                                      task=task, field=field)
            problem_id = task.problem_id
        self.deny(user_id, f"add evidence to task {task_id}", "human_task", task_id, problem_id)

    def evidence_drafts(self, user_id: int, task_id: int) -> list[EvidenceFile]:
        """The drafts of a task, for whoever may complete it."""
        with self.db.reading() as session:
            task = tasks.get(session, task_id)
            if tasks.may_complete(self.actor(session, user_id), task):
                return evidence.drafts(session, task_id)
            problem_id = task.problem_id
        self.deny(user_id, f"see the drafts of task {task_id}", "human_task", task_id, problem_id)

    def delete_evidence(self, user_id: int, evidence_id: int) -> dict:
        """Delete a draft: by its uploader or whoever holds its task, until the task's completion
        submitted it (then Conflict). Its stored content goes too unless another file has it."""
        with self.db.transaction() as session:
            actor = self.actor(session, user_id)
            row = session.get(EvidenceFile, evidence_id)
            if row is None:
                raise NotFound(f"no evidence file {evidence_id}")
            task = session.get(HumanTask, row.task_id) if row.task_id else None
            allowed = row.uploaded_by_id == actor.id or (task is not None and tasks.may_complete(actor, task))
            if allowed:
                deleted = {"id": row.id, "task_id": row.task_id, "field": row.field, "filename": row.filename}
                sha256, problem_id = row.sha256, row.problem_id
                orphaned = evidence.delete_draft(session, row, actor)
            else:
                problem_id = row.problem_id
        if not allowed:
            self.deny(user_id, f"delete evidence {evidence_id}", "evidence_file", evidence_id, problem_id)
        if orphaned:
            with self.db.reading() as session:
                if not evidence.referenced(session, sha256):
                    evidence.path_for(self.settings.evidence_path, sha256).unlink(missing_ok=True)
        return deleted

    def evidence_path(self, row: EvidenceFile) -> Path:
        return evidence.path_for(self.settings.evidence_path, row.sha256)

    # -- tasks ---------------------------------------------------------------------------------

    def complete_task(self, user_id: int, task_id: int, data: dict, answer: Answer | None = None):
        """Complete a task. A step that fails after it leaves the completion standing and the
        process at an incident (see Runtime.complete), which is returned; given `answer`, what
        `answer(session, task_id)` builds inside the transaction is returned instead, so that a
        committed completion is answered with what it committed."""
        def rehearse(session):
            task = tasks.get(session, task_id)
            if tasks.may_complete(self.actor(session, user_id), task):
                self.runtime.rehearse_completion(task, data)

        try:
            with self.scripts_first(rehearse), self.db.transaction() as session:
                self._calendar(session)
                actor = self.actor(session, user_id)
                task = tasks.get(session, task_id)
                problem_id = task.problem_id
                if tasks.may_complete(actor, task):
                    incident = self.runtime.complete(session, task, actor, data)
                    if answer:
                        return answer(session, task_id)
                    return incidents.View.of(incident) if incident is not None else None
        except StaleDataError:
            raise Conflict(f"task {task_id} was completed by someone else at the same moment") from None
        self.deny(user_id, f"complete task {task_id}", "human_task", task_id, problem_id)

    # -- time ----------------------------------------------------------------------------------

    def wake_due(self) -> Wakening:
        """Fire every timer due by the engine's clock and retry the incidents due, one
        instance per transaction: [(instance id, timer names)], with `.incidents`."""
        return self.incident_desk.wake_due()

    # -- incidents (流程异常) ----------------------------------------------------------------------

    def incidents(self, user_id: int, status: IncidentStatus | None = None, page: int = 1,
                  per_page: int = 20) -> tuple[list[incidents.View], int]:
        """Incidents, newest first (admins and the discipline office)."""
        return self.incident_desk.listing(user_id, status, page, per_page)

    def incident(self, user_id: int, incident_id: int) -> incidents.View:
        return self.incident_desk.get(user_id, incident_id)

    def retry_incident(self, user_id: int, incident_id: int, reason: str | None = None) -> incidents.View:
        """Run an incident's failed step again now (admins), with the reason if one is given
        (kept in the ledger); 409 when it is resolved."""
        return self.incident_desk.retry(user_id, incident_id, reason)

    # -- repairing running work (流程修复, admins) ------------------------------------------------

    def move_token(self, user_id: int, instance_id: int | None, reason, to_element: str,
                   from_element: str | None = None, incident_id: int | None = None) -> repair.Repaired:
        """Move an instance's token to another element (redo or skip a step), with a reason."""
        return self.repair_desk.move(user_id, instance_id, reason, to_element, from_element, incident_id)

    def cancel_instance(self, user_id: int, instance_id: int | None, reason,
                        incident_id: int | None = None) -> repair.Repaired:
        """End an instance (终止流程); its problem stays, the reason in its timeline."""
        return self.repair_desk.cancel(user_id, instance_id, reason, incident_id)

    def migrate_instance(self, user_id: int, instance_id: int | None, reason, to_version, choices=None,
                         process: str | None = None, incident_id: int | None = None) -> repair.Repaired:
        """Put one instance on another version of its process."""
        return self.repair_desk.migrate(user_id, instance_id, reason, to_version, choices, process, incident_id)

    def incident_case(self, user_id: int, incident_id: int, target_version: int | None = None) -> dict:
        """An incident with what its repair needs (its page): version, diagram, data, elements
        (and those of `target_version`, to choose where a task without counterpart goes)."""
        with self.db.reading() as session:
            incident = incidents.get(session, incident_id)
            if self.actor(session, user_id).has_role(Role.ADMIN):
                return repair.incident_case(session, self.runtime, incident, target_version)
            problem_id = incident.problem_id
        self.deny(user_id, f"read incident {incident_id}", "incident", incident_id, problem_id)

    def migration_dry_run(self, user_id: int, key: str, version: int, to_version, page: int = 1,
                          per_page: int = 20) -> version_migration.DryRun:
        """What migrating the open instances of a version would change (nothing is changed)."""
        with self.db.reading() as session:
            if self.actor(session, user_id).has_role(Role.ADMIN):
                return version_migration.dry_run(session, self.runtime, key, version, to_version, page, per_page)
        self.deny(user_id, f"plan the migration of {key} version {version}", "process_definition", None)

    def migrate_version(self, user_id: int, key: str, version: int, to_version, reason, choices=None,
                        instance_choices=None, limit: int = 100):
        """Migrate up to `limit` open instances of a version, one transaction each."""
        with self.db.reading() as session:
            allowed = self.actor(session, user_id).has_role(Role.ADMIN)
        if not allowed:
            self.deny(user_id, f"migrate the instances of {key} version {version}", "process_definition", None)
        return self.migrations.run(user_id, key, version, to_version, reason, choices, instance_choices, limit)

    # -- the escalation ladder -----------------------------------------------------------------

    def escalation_rules(self) -> rules.Ladder:
        with self.db.transaction() as session:  # seeds version 1 on first use
            return rules.current(session)

    def replace_escalation_rules(self, user_id: int, data) -> rules.Ladder:
        with self.db.transaction() as session:
            actor = self.actor(session, user_id)
            if actor.has_role(Role.ADMIN):
                return rules.replace(session, data, actor)
        self.deny(user_id, "change the escalation rules", "escalation_rule_set", None)

    def sweep(self, dry_run: bool = False) -> list[Firing]:
        """Fire everything on the ladder due by the engine's clock, each firing once and in
        its own transaction; a dry run only lists it."""
        done: list[Firing] = []
        for _ in range(10):  # a firing can make a repeat trigger due (the second yellow card)
            now = clock.now()
            with self.db.transaction() as session:
                self._calendar(session)
                ladder = rules.current(session)
                due = firing.pending(session, ladder, self.runtime.calendar, now)
                if dry_run:
                    return [Firing.planned(session, d) for d in due]
            fired_now = 0
            for item in due:
                try:
                    with self.db.transaction() as session:
                        escalation = firing.fire(session, item, ladder, self.runtime, now)
                        done.append(Firing.of(escalation))
                        fired_now += 1
                except IntegrityError:
                    continue  # fired meanwhile by another sweep or scheduler
            if not fired_now:
                break
        return done

    def forecast(self, working_days: int) -> list[Firing]:
        self.current_calendar()
        now = clock.now()
        until = ladder_module.start_of(ladder_module.shift_working(
            self.runtime.calendar, now.astimezone(clock.SHANGHAI).date(), working_days + 1))
        with self.db.transaction() as session:
            dues = firing.forecast(session, rules.current(session), self.runtime.calendar, now, until)
            wanted = {due.problem_id for due in dues}
            loaded = []  # held: the session keeps only weak references to what it loaded
            if wanted:  # the problems with what their targets read, in a few queries instead of per line
                loaded = session.scalars(select(Problem).where(Problem.id.in_(wanted)).options(
                    selectinload(Problem.region), selectinload(Problem.lead_unit),
                    selectinload(Problem.industry_unit), selectinload(Problem.cooperating_units),
                    selectinload(Problem.responsible_official).selectinload(Official.posts).selectinload(Post.unit),
                    selectinload(Problem.leading_official).selectinload(Official.posts).selectinload(Post.unit))).all()
            heads: dict = {}
            lines = [Firing.planned(session, due, heads) for due in dues]
            del loaded
            return lines

    # -- extension requests (延期申请) ----------------------------------------------------------

    def request_extension(self, user_id: int, problem_id: int, new: extensions.NewRequest,
                          answer: Answer | None = None):
        with self.db.transaction() as session:
            actor = self.actor(session, user_id)
            problem = problems.get(session, problem_id)
            if extensions.may_request(actor, problem):
                request_id = extensions.file(session, problem, new, actor, self.settings.notifications).id
                return answer(session, request_id) if answer else request_id
        self.deny(user_id, f"request an extension of problem {problem_id}", "problem", problem_id, problem_id)

    def decide_extension(self, user_id: int, request_id: int, approve: bool, note: str | None = None,
                         approved_deadline=None, answer: Answer | None = None):
        """Approve or refuse an extension request (环督办); given `answer`, what
        `answer(session, request_id)` builds inside the transaction is returned."""
        with self.db.transaction() as session:
            actor = self.actor(session, user_id)
            request = extensions.get(session, request_id)
            problem_id = request.problem_id
            if extensions.may_decide(actor):
                extensions.decide(session, request, actor, approve, note, approved_deadline,
                                  self._calendar(session), self.runtime.light_rules, self.settings.notifications)
                return answer(session, request_id) if answer else None
        self.deny(user_id, f"decide extension request {request_id}", "extension_request", request_id, problem_id)

    # -- the working-day calendar (工作日) -------------------------------------------------------

    @contextmanager
    def scripts_first(self, rehearse: Callable[[Session], None]) -> Iterator[None]:
        """On SQLite, where a write transaction locks out every other writer, the scripts of
        the action inside this block run before it: `rehearse(session)` (a Runtime.rehearse_*
        call, on a session that only reads) meets them, and the action finds them answered
        (workflow/sandbox/rehearsal.py). A rehearsal that cannot run is the action's to meet."""
        if not self.db.is_sqlite:
            yield
            return
        with rehearsal.rehearsed():
            try:
                with self.db.reading() as session:
                    self.current_calendar(session)
                    rehearse(session)
            except DubanError:
                pass
            yield

    def _calendar(self, session: Session) -> WorkingCalendar:
        """The runtime's calendar, first brought in step with the database: the years of
        config/calendar.toml the database lacks are seeded (in this transaction), and the
        overrides are reloaded when their revision moved (another process changed them).
        Called at the start of every action that counts working days."""
        calendar_store.seed(session)
        calendar_store.sync(session, self.runtime.calendar)
        return self.runtime.calendar

    def current_calendar(self, session: Session | None = None) -> WorkingCalendar:
        """The calendar as the database has it now (for readers: one cheap query)."""
        if session is not None:
            calendar_store.sync(session, self.runtime.calendar)
            return self.runtime.calendar
        with self.db.reading() as reading:
            if not calendar_store.missing_seeds(reading):
                calendar_store.sync(reading, self.runtime.calendar)
                return self.runtime.calendar
        with self.db.transaction() as writing:
            return self._calendar(writing)

    def calendar_year(self, year: int) -> dict:
        calendar = self.current_calendar()
        with self.db.reading() as session:
            return calendar_store.year_view(session, calendar, year)

    def calendar_day(self, day) -> dict:
        calendar = self.current_calendar()
        with self.db.reading() as session:
            return calendar_store.day_view(session, calendar, day)

    def declare_calendar_year(self, user_id: int, year: int, body, answer: CalendarAnswer | None = None):
        """Enter a year's whole holiday arrangement (环督办): `body` is the list of its days
        (or {"days", "note"}); it replaces that year's overrides and the year is no longer
        provisional."""
        return self._change_calendar(user_id, f"declare the {year} calendar", str(year),
                                     lambda session, actor: calendar_store.declare_year(session, year, body, actor),
                                     answer)

    def withdraw_calendar_year(self, user_id: int, year: int, answer: CalendarAnswer | None = None):
        return self._change_calendar(user_id, f"withdraw the {year} calendar", str(year),
                                     lambda session, actor: calendar_store.withdraw_year(session, year, actor),
                                     answer)

    def set_calendar_day(self, user_id: int, day, data, answer: CalendarAnswer | None = None):
        return self._change_calendar(user_id, f"change the calendar on {day}", str(day),
                                     lambda session, actor: calendar_store.set_day(
                                         session, day, *calendar_store.validate_day_change(data), actor), answer)

    def remove_calendar_day(self, user_id: int, day, answer: CalendarAnswer | None = None):
        return self._change_calendar(user_id, f"change the calendar on {day}", str(day),
                                     lambda session, actor: calendar_store.remove_day(session, day, actor), answer)

    def _change_calendar(self, user_id: int, what: str, subject: str, change, answer: CalendarAnswer | None = None):
        """One calendar change in one transaction, with what was counted on the old calendar
        counted again: working-day due times of ready tasks, and every light. Other processes
        pick the change up at their next action; the scheduler plans again (told by the same
        commit). What it did, as plain data; given `answer`, what `answer(session, calendar,
        change)` builds inside the transaction."""
        try:
            with self.db.transaction() as session:
                self._calendar(session)
                actor = self.actor(session, user_id)
                if actor.has_role(Role.ADMIN):
                    done = change(session, actor)
                    fresh = calendar_store.build(session)
                    moved = self.runtime.recompute_working_dues(session, fresh, actor)
                    changed = lights.refresh(session, fresh, clock.now(), self.runtime.light_rules)
                    result = {"year": done.year, "declared": done.declared,
                              "days_changed": [d.isoformat() for d in done.moved],
                              "tasks_rescheduled": [task.id for task, _, _ in moved],
                              "lights_changed": len(changed)}
                    scheduling_signal.changed(session)
                    if answer:
                        result = answer(session, fresh, result)
                else:
                    result = None
        except IntegrityError:
            raise Conflict("the calendar was changed by someone else at the same moment; try again") from None
        if result is None:
            self.deny(user_id, what, "calendar_year", subject)
        self.runtime.calendar.adopt(fresh.arrangement)
        return result

    # -- traffic lights (红黄绿灯) ----------------------------------------------------------------

    def refresh_lights(self) -> int:
        """Give every light the colour it has by the engine's clock; how many changed."""
        with self.db.transaction() as session:
            calendar = self._calendar(session)
            return len(lights.refresh(session, calendar, clock.now(), self.runtime.light_rules))

    def next_light_change(self):
        """The next moment a light changes with time alone (None: none will)."""
        with self.db.reading() as session:
            return lights.next_change(session, self.current_calendar(session), clock.now(), self.runtime.light_rules)

    def schedule_changed(self) -> None:
        """Tell the scheduler to plan again (in this process at once, in others through
        PostgreSQL NOTIFY): due times, escalation moments or light changes may have moved.
        Writes to the tables that decide due times do this by themselves on commit."""
        with self.db.transaction() as session:
            scheduling_signal.changed(session)

    # -- notifications (通知) -------------------------------------------------------------------

    def deliver_notifications(self) -> notifications.Delivery:
        """Send the email and webhook notices due by the engine's clock (safe on several hosts)."""
        return notifications.deliver_pending(self.db, self.settings.notifications)

    def mark_notification_read(self, user_id: int, notification_id: int, answer: Answer | None = None):
        """Mark one of the caller's notices read; given `answer`, what `answer(session,
        notification_id)` builds inside the transaction is returned."""
        with self.db.transaction() as session:
            notifications.mark_read(session, self.actor(session, user_id), notification_id)
            return answer(session, notification_id) if answer else None

    def mark_all_notifications_read(self, user_id: int) -> int:
        """Mark every unread notice of the caller read; how many were."""
        with self.db.transaction() as session:
            return notifications.mark_all_read(session, self.actor(session, user_id))

    # -- the daily bulletin (一天一通报) ---------------------------------------------------------

    def make_bulletin(self, user_id: int | None, day=None, remake: bool = False):
        """Issue the bulletin of `day` (default: today, Beijing time) and return it with whether
        it was made now; a day already issued returns the stored bulletin unless `remake`.
        Administrators make and remake on demand; None is the scheduler or the command line."""
        from . import bulletin as bulletins

        day = bulletins.parse_day(day) if day is not None else clock.today()
        try:
            with self.db.transaction() as session:
                calendar = self._calendar(session)
                actor = self.actor(session, user_id)
                if actor is None or actor.has_role(Role.ADMIN):
                    record, made = bulletins.issue(session, day, calendar, actor, remake)
                    if made:
                        notifications.notify(session, users=bulletins.audience(session), kind="bulletin.issued",
                                             subject=f"督察整改工作通报第{record.number}期（{day.isoformat()}）已发布",
                                             body=f"{day.isoformat()}的督察整改工作通报已生成，请查阅。",
                                             payload={"day": day.isoformat(), "number": record.number},
                                             channels=self.settings.notifications)
                    return bulletins.Bulletin.from_record(record), made
        except IntegrityError:  # issued meanwhile by another process: the one stored stands
            with self.db.reading() as session:
                return bulletins.Bulletin.from_record(bulletins.get(session, day)), False
        self.deny(user_id, f"make the bulletin of {day.isoformat()}", "bulletin", day.isoformat())

    def bulletin(self, day, user_id: int | None = None):
        """The bulletin issued for `day` (readers: administrators, the discipline office, leaders)."""
        from . import bulletin as bulletins

        day = bulletins.parse_day(day)
        with self.db.reading() as session:
            if bulletins.may_read(self.actor(session, user_id)):
                return bulletins.Bulletin.from_record(bulletins.get(session, day))
        self.deny(user_id, f"read the bulletin of {day.isoformat()}", "bulletin", day.isoformat())

    def supervision_notice(self, escalation_id: int, user_id: int | None = None):
        """The 督办单 of an urging or a supervised case (engine/supervision_notice.py), for whoever
        may see its problem; NotFound for another rung."""
        from . import supervision_notice
        from .models import Escalation

        calendar = self.current_calendar()
        with self.db.reading() as session:
            escalation = session.get(Escalation, escalation_id)
            viewer = self.actor(session, user_id)
            if escalation is None or user_id is None or (viewer is not None
                                                         and problems.may_see(viewer, escalation.problem)):
                return supervision_notice.compose(session, escalation_id, calendar)
            problem_id = escalation.problem_id
        self.deny(user_id, f"read the supervision notice {escalation_id}", "escalation", escalation_id, problem_id)

    def bulletins(self, user_id: int | None = None) -> list:
        """Every bulletin issued, newest day first."""
        from . import bulletin as bulletins

        with self.db.reading() as session:
            if bulletins.may_read(self.actor(session, user_id)):
                return [bulletins.Bulletin.from_record(r) for r in bulletins.listing(session)]
        self.deny(user_id, "read the bulletins", "bulletin", None)

    def bulletin_due(self):
        """The scheduler's step: issue today's bulletin when today is a working day and its time
        (DUBAN_BULLETIN_TIME) has passed; the day's bulletin if made now, None otherwise."""
        from . import bulletin as bulletins

        with self.db.reading() as session:
            day = bulletins.due_day(session, self.current_calendar(session), clock.now(), bulletins.issue_time())
        if day is None:
            return None
        made, fresh = self.make_bulletin(None, day)
        return made if fresh else None

    # -- the organisation: regions, units, officials, posts, users (管理) -------------------------

    def _administer(self, user_id: int | None, what: str, subject_type: str, subject_id, change,
                    answer: Answer | None = None):
        """One change to the organisation by an administrator (None: the command line), in one
        transaction with its ledger entry; anyone else is refused and the refusal recorded.
        Given `answer`, what `answer(session, id)` builds inside the transaction is returned
        instead of the id the change returned."""
        refused = object()
        try:
            with self.db.transaction() as session:
                actor = self.actor(session, user_id)
                result = change(session, actor) if actor is None or actor.has_role(Role.ADMIN) else refused
                if answer and result is not refused:
                    session.flush()
                    result = answer(session, result)
        except IntegrityError:
            raise Conflict(f"someone else changed the same records at the same moment; {what} again") from None
        if result is refused:
            self.deny(user_id, what, subject_type, subject_id)
        return result

    def create_region(self, user_id: int | None, name, level, parent_id=None, answer: Answer | None = None):
        return self._administer(user_id, "create a region", "region", None, lambda session, actor: org_admin.create_region(
            session, actor, name, level, parent_id).id, answer)

    def rename_region(self, user_id: int | None, region_id: int, name, answer: Answer | None = None):
        return self._administer(user_id, f"rename region {region_id}", "region", region_id,
                                lambda session, actor: org_admin.rename_region(session, actor, region_id, name).id,
                                answer)

    def create_unit(self, user_id: int | None, name, kind, region_id, short_name=None,
                    answer: Answer | None = None):
        return self._administer(user_id, "create a unit", "unit", None, lambda session, actor: org_admin.create_unit(
            session, actor, name, kind, region_id, short_name).id, answer)

    def rename_unit(self, user_id: int | None, unit_id: int, name, short_name=None, answer: Answer | None = None):
        return self._administer(user_id, f"rename unit {unit_id}", "unit", unit_id,
                                lambda session, actor: org_admin.rename_unit(session, actor, unit_id, name, short_name).id,
                                answer)

    def create_official(self, user_id: int | None, name, party_member=False, gender=None, email=None,
                        mobile=None, answer: Answer | None = None):
        return self._administer(user_id, "create an official", "official", None,
                                lambda session, actor: org_admin.create_official(
                                    session, actor, name, party_member, gender, email, mobile).id, answer)

    def update_official(self, user_id: int | None, official_id: int, answer: Answer | None = None, **changes):
        return self._administer(user_id, f"change official {official_id}", "official", official_id,
                                lambda session, actor: org_admin.update_official(
                                    session, actor, official_id, **changes).id, answer)

    def add_post(self, user_id: int | None, official_id: int, unit_id, title, kind, is_head=False,
                 succeed=False, answer: Answer | None = None):
        """Give an official a post; with `succeed`, a head post replaces the unit's current
        head of its side (whose post ends in the same transaction)."""
        return self._administer(user_id, f"give official {official_id} a post", "official", official_id,
                                lambda session, actor: org_admin.add_post(
                                    session, actor, official_id, unit_id, title, kind, is_head, succeed).id, answer)

    def end_post(self, user_id: int | None, official_id: int, post_id: int, note=None) -> dict:
        """End a post unless the engine still relies on it (see engine/organization_admin.py)."""
        return self._administer(user_id, f"end post {post_id}", "post", post_id,
                                lambda session, actor: org_admin.end_post(session, actor, official_id, post_id, note))

    def create_user(self, user_id: int | None, username, display_name, password, roles, official_id=None,
                    answer: Answer | None = None):
        return self._administer(user_id, "create a user", "user", None, lambda session, actor: org_admin.create_user(
            session, actor, username, display_name, password, roles, official_id).id, answer)

    def update_user(self, user_id: int | None, target_id: int, answer: Answer | None = None, **changes):
        """Change a user's display name, roles, linked official, active state or password (the
        keywords given), all in one transaction."""
        return self._administer(user_id, f"change user {target_id}", "user", target_id,
                                lambda session, actor: org_admin.patch_user(session, actor, target_id, **changes).id,
                                answer)

    def reset_password(self, user_id: int | None, target_id: int, password) -> None:
        self._administer(user_id, f"reset the password of user {target_id}", "user", target_id,
                         lambda session, actor: org_admin.reset_password(session, actor, target_id, password))

    def set_user_active(self, user_id: int | None, target_id: int, active) -> None:
        self._administer(user_id, f"{'reactivate' if active else 'deactivate'} user {target_id}", "user", target_id,
                         lambda session, actor: org_admin.set_active(session, actor, target_id, active))

    # -- audit ---------------------------------------------------------------------------------

    def verify_ledger(self) -> ledger.Verification:
        with self.db.reading() as session:
            return ledger.verify(session)

