"""Duban's actions, each one transaction: the one entry point the web app, the command line
and the scheduler call."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import accounts, clock, evidence, ledger, problems, tasks
from .db import Database
from .errors import Conflict, Forbidden, NotFound, Unauthenticated
from .ledger import Action
from .models import EvidenceFile, ProcessDefinition, ProcessInstance, User
from .settings import BPMN_DIR, Settings
from .workflow.runtime import Runtime

DEFAULT_PROCESS = "rectification"


class Duban:
    def __init__(self, settings: Settings, runtime: Runtime | None = None):
        self.settings = settings
        self.db = Database(settings.database_url)
        self.runtime = runtime or Runtime()
        self.tokens = accounts.Tokens(settings.secret_key, settings.token_max_age)

    # -- who is acting -------------------------------------------------------------------------

    @staticmethod
    def actor(session: Session, user_id: int | None) -> User | None:
        if user_id is None:
            return None
        user = session.get(User, user_id)
        if user is None or not user.active:
            raise Unauthenticated("this account no longer exists or is disabled")
        return user

    def sign_in(self, username: str, password: str) -> tuple[User, str]:
        with self.db.reading() as session:
            user = accounts.authenticate(session, username, password)
            return user, self.tokens.issue(user)

    def deny(self, user_id: int | None, what: str, subject_type: str, subject_id, problem_id: int | None = None):
        """Record a refused action in its own transaction, then refuse it."""
        with self.db.transaction() as session:
            ledger.record(session, Action.PERMISSION_DENIED, actor=self.actor(session, user_id),
                          subject_type=subject_type, subject_id=subject_id, problem_id=problem_id,
                          payload={"action": what})
        raise Forbidden(f"you may not {what}")

    # -- process definitions -------------------------------------------------------------------

    def deploy(self, user_id: int | None, content: bytes, filename: str = "upload.bpmn",
               attachments: dict[str, bytes] | None = None) -> tuple[ProcessDefinition, bool]:
        """Deploy a BPMN document (with the form files it names, if any)."""
        try:
            with self.db.transaction() as session:
                return self.runtime.deploy(session, content, self.actor(session, user_id), filename, attachments)
        except IntegrityError:
            raise Conflict("another version of this process was deployed at the same moment; try again") from None

    def deploy_shipped(self) -> list[tuple[ProcessDefinition, bool]]:
        """The diagrams in bpmn/, deployed as a new version where they changed."""
        return [self.deploy(None, path.read_bytes(), path.name) for path in sorted(BPMN_DIR.glob("*.bpmn"))]

    # -- problems ------------------------------------------------------------------------------

    def register_problem(self, user_id: int | None, new: problems.NewProblem,
                         process_key: str = DEFAULT_PROCESS) -> int:
        with self.db.transaction() as session:
            actor = self.actor(session, user_id)
            definition = self.runtime.latest(session, process_key)
            if definition is None:
                raise NotFound(f"no process {process_key!r} is deployed", {"process_key": ["not deployed"]})
            problem = problems.register(session, new, actor)
            self.runtime.start(session, definition, problem, actor)
            return problem.id

    def upload_evidence(self, user_id: int, problem_id: int, filename: str, content_type: str,
                        content: bytes) -> EvidenceFile:
        with self.db.transaction() as session:
            actor = self.actor(session, user_id)
            problem = problems.get(session, problem_id)
            if problems.may_see(actor, problem):
                return evidence.store(session, self.settings.evidence_path, problem, filename, content_type,
                                      content, actor)
        self.deny(user_id, "add evidence to this problem", "problem", problem_id, problem_id)

    def evidence_path(self, row: EvidenceFile) -> Path:
        return evidence.path_for(self.settings.evidence_path, row.sha256)

    # -- tasks ---------------------------------------------------------------------------------

    def complete_task(self, user_id: int, task_id: int, data: dict) -> None:
        try:
            with self.db.transaction() as session:
                actor = self.actor(session, user_id)
                task = tasks.get(session, task_id)
                problem_id = task.problem_id
                if tasks.may_complete(actor, task):
                    self.runtime.complete(session, task, actor, data)
                    return
        except StaleDataError:
            raise Conflict(f"task {task_id} was completed by someone else at the same moment") from None
        self.deny(user_id, f"complete task {task_id}", "human_task", task_id, problem_id)

    # -- time ----------------------------------------------------------------------------------

    def wake_due(self) -> list[tuple[int, list[str]]]:
        """Fire every timer due by the engine's clock, one instance per transaction."""
        with self.db.reading() as session:
            due = self.runtime.due_instances(session, clock.now())
        fired = []
        for instance_id in due:
            try:
                with self.db.transaction() as session:
                    instance = session.get(ProcessInstance, instance_id)
                    if instance.next_wakeup_at is None or instance.next_wakeup_at > clock.now():
                        continue  # another process woke it first
                    fired.append((instance_id, self.runtime.wake(session, instance)))
            except StaleDataError:
                continue
        return fired

    # -- audit ---------------------------------------------------------------------------------

    def verify_ledger(self) -> ledger.Verification:
        with self.db.reading() as session:
            return ledger.verify(session)

