"""Duban's actions, each one transaction: the one entry point the web app, the command line
and the scheduler call."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from . import accounts, clock, extensions, ledger, metrics, notifications, paging, problems, tasks
from . import (file_store, incidents, lights, passwords, repair, sealed, second_factor, security_log, sessions,
               version_migration)
from . import sign_in as guarded_sign_in
from .calendar import WorkingCalendar
from .db import Database
from .errors import Conflict, Forbidden, Locked, NotFound, Unauthenticated
from .ledger import Action
from .security_log import Kind as SecurityKind
from .incident_desk import IncidentDesk, Wakening
from .models import Escalation, Problem, ProcessDefinition, Role, User, UserSession
from .settings import BPMN_DIR, Settings
from .escalation import due_moments, firing, gaps, rules
from .escalation import ladder as ladder_module
from .escalation.targets import resolve
from .scheduling import signal as scheduling_signal
from .workflow import purpose, versions
from .workflow.runtime import Runtime
from .workflow.serializer import has_scripts
from .areas import DEFAULT_PROCESS, Answer
from .areas.bulletin import BulletinActions
from .areas.calendar import CalendarActions
from .areas.evidence import EvidenceActions
from .areas.incidents import IncidentActions
from .areas.ledgers import LedgerImports
from .areas.organisation import OrganisationActions
from .areas.security import SecurityLogActions
from .areas.security_accounts import SecurityAccountActions
from .areas.sessions import PageSignIn, PasswordChangeNeeded, SessionActions, SessionLimitReached
from .areas.repairs import RepairActions
from .areas.directory import DirectoryActions
from . import directory as office_directory


@dataclass(frozen=True)
class Firing:
    """One line of a sweep: a problem, a level, the people it reaches."""

    problem_code: str
    level: int
    rule_name: str
    due_at: datetime
    targets: list[dict]
    escalation_id: int | None = None
    passed_over: list[dict] = field(default_factory=list)  # the rungs it enters the ladder in place of
    missing: list[dict] = field(default_factory=list)  # planned: the vacant head posts that will hold it (党政同责)

    @property
    def held(self) -> bool:
        return bool(self.missing)

    @classmethod
    def of(cls, escalation: Escalation) -> "Firing":
        return cls(escalation.problem.code, escalation.level, escalation.rule_name, escalation.due_at,
                   escalation.targets, escalation.id, [
                       {"level": p.level, "rule": p.rule_code, "name": p.rule_name, "due_at": p.due_at}
                       for p in escalation.passed_over])

    @classmethod
    def planned(cls, session, due, heads: dict | None = None) -> "Firing":
        """A firing the ladder will make; `missing` says, by the sweep's own rule, which head
        posts are vacant now so that it will be held as an organisation gap instead."""
        problem = session.get(Problem, due.problem_id)
        return cls(problem.code, due.rule["level"], due.rule["name"], due.moment,
                   resolve(session, problem, due.rule["targets"], heads), passed_over=[
                       {"level": p.rule["level"], "rule": p.rule["code"], "name": p.rule["name"], "due_at": p.moment}
                       for p in due.passed_over],
                   missing=gaps.missing_heads(session, problem, due.rule["targets"], heads))

    def line(self) -> str:
        names = "、".join(f"{t['name']}（{t.get('title') or t['role']}）" for t in self.targets)
        levels = ", ".join(f"L{passed['level']}" for passed in self.passed_over)
        passed = f"  (passed over: {levels})" if levels else ""
        held = f"  (held: {gaps.describe_missing(self.missing)})" if self.missing else ""
        return f"{self.problem_code}  L{self.level} {self.rule_name}  {names}{passed}{held}"


# the shipped ladder processes set no problemStatus on purpose: the problem's own process does
SHIPPED_WARNINGS = "shipped with the release"
FIRING_BATCH = 50  # firings of a sweep committed together, each in its own savepoint,
FIRING_BUDGET = 0.5  # ... for at most this many seconds of one transaction
MAX_SLICES = 500  # slices of problems to be worked out in one sweep at most (due_moments.WORK_OUT_SLICE)
SHIPPED_NOTE = "随版本发布"   # the 版本说明 of a shipped diagram's version


class Duban(LedgerImports, EvidenceActions, IncidentActions, RepairActions, CalendarActions, BulletinActions,
            OrganisationActions, SecurityLogActions, SecurityAccountActions, DirectoryActions, SessionActions):
    """Duban's actions, each one transaction. The areas' actions are in engine/areas/ (Excel
    ledgers, evidence, incidents, repairs, the calendar, the bulletin, the organisation); the
    rest (who is acting, process definitions, problems, tasks, the ladder, lights, notices,
    audit) are here."""

    def __init__(self, settings: Settings, runtime: Runtime | None = None, **engine_options):
        """`engine_options` go to SQLAlchemy's create_engine (`duban serve` sizes the pool)."""
        self.settings = settings
        self.db = Database(settings.database_url, **engine_options)
        self.files = file_store.open_store(settings.file_store, settings.files_root, self.db)
        scheduling_signal.install(self.db)
        # each Duban holds its own calendar, kept in step with the database (see _calendar)
        self.runtime = runtime or Runtime(WorkingCalendar(), channels=settings.notifications,
                                          backoff=settings.incident_backoff, scripts=settings.scripts)
        self.incident_desk = IncidentDesk(self)
        self.repair_desk = repair.RepairDesk(self)
        self.migrations = version_migration.VersionMigration(self)
        # second-factor secrets are sealed under the data key, kept outside the database (engine/sealed.py)
        self.sealer = sealed.Sealer(sealed.load_key(settings.instance_path))
        self.tokens = accounts.Tokens(settings.secret_key, settings.token_max_age, self._may_use_token)
        # the office's LDAP / AD (DUBAN_LDAP_CONFIG): a bad file stops the start here, naming the key
        self.directory = (office_directory.Directory(office_directory.load(settings.ldap_config))
                          if settings.ldap_config else None)

    # -- who is acting -------------------------------------------------------------------------

    @staticmethod
    def actor(session: Session, user_id: int | None) -> User | None:
        if user_id is None:
            return None
        user = session.get(User, user_id, options=[joinedload(User.role_rows)])  # one query with the roles
        if user is None or not user.active:
            raise Unauthenticated("this account no longer exists or is disabled")
        return user

    def _may_use_token(self, user_id: int, epoch: int) -> bool:
        with self.db.reading() as session:
            row = session.execute(select(User.active, User.token_epoch).where(User.id == user_id)).first()
            good = row is not None and bool(row.active) and row.token_epoch == epoch
        return good and self.directory_recheck(user_id)  # a directory account: does the directory still vouch?

    def sign_in(self, username: str, password: str, door: str = "api", code: str | None = None,
                agent: str | None = None, replaces: str | None = None) -> tuple[User, Any]:
        """The account and a fresh API token (door "api") or a new page session (door "page":
        a PageSignIn, engine/areas/sessions.py, with the session's id for the cookie, whether
        the password must be changed first and the previous sign-in for the 鉴别警示; `agent`,
        the browser, is kept with the session; `replaces`, the session this browser held, ends).

        A wrong or unknown name or password raises Unauthenticated, too many recent failures
        Locked (engine/sign_in.py); an account with a second factor (or one the policy
        requires) needs `code` too, else SecondFactorNeeded (engine/second_factor.py), a wrong
        code counting as a failed sign-in. Through the API an expired password, or one an
        administrator set, raises PasswordChangeNeeded (403); a page sign-in beyond the session
        policy's limit in its "refuse" mode raises SessionLimitReached (409). The failure is
        recorded (committed, with its security event) before the refusal is raised. With the office's
        directory configured, a name no local account has is the directory's
        (engine/areas/directory.py)."""
        if self.signs_in_with_directory(username):
            return self.directory_sign_in(username, password, door, code, agent, replaces)
        for attempt in range(2):
            try:
                with self.db.transaction() as session:
                    used: list[str] = []
                    user, refusal = guarded_sign_in.attempt(session, username, password, self.settings.sign_in,
                                                            self._second_factor_check(session, code, used))
                    method = "+".join(["password", *used])
                    if user is not None:
                        if door == "api":
                            due = passwords.due(user, self._policy(session))
                            if due is None:
                                security_log.record(session, SecurityKind.SIGN_IN, actor=user, method=method,
                                                    details={"door": door})
                                security_log.record(session, SecurityKind.TOKEN_ISSUED, actor=user, method=method)
                                return user, self.tokens.issue(user)
                            refusal = PasswordChangeNeeded(due)
                        else:
                            page = self._begin_page_session(session, user, agent, replaces)
                            if page is not None:
                                security_log.record(session, SecurityKind.SIGN_IN, actor=user, method=method,
                                                    details={"door": door})
                                return user, page
                            refusal = self._session_limit_refusal(session)
                    self._record_refused_sign_in(session, username, door, refusal)
                raise refusal
            except IntegrityError:  # two first failures of one name at once: count again
                if attempt:
                    raise Unauthenticated(guarded_sign_in.WRONG) from None
        raise AssertionError("unreachable")

    def _session_limit_refusal(self, session: Session) -> SessionLimitReached:
        limit = self._policy(session).max_sessions
        return SessionLimitReached(
            f"this account holds {limit} page session{'s' if limit != 1 else ''} already, the "
            "most the session policy allows: sign out of one (or end it from 我的会话) first",
            {"username": ["too many sessions"]})

    def _second_factor_check(self, session: Session, code: str | None, used: list[str]):
        """What `sign_in.attempt` calls after a right password: the second factor of an enrolled
        account (what was used is appended to `used`), the enrolment a required one lacks."""
        def second(user: User) -> None:
            if second_factor.enrolled(session, user):
                used.append(second_factor.verify(session, user, code, self.sealer))
            elif second_factor.policy(session).requires(user):
                raise second_factor.SecondFactorNeeded(
                    "this account must enrol a second factor (an authenticator app) before it signs "
                    "in: sign in once on the sign-in page to set it up", enrol=True, user_id=user.id)
        return second

    def _record_refused_sign_in(self, session: Session, username: str, door: str, refusal: Exception) -> None:
        name = security_log.typed_name(session, username)
        needed = isinstance(refusal, second_factor.SecondFactorNeeded)
        reason = ("locked" if isinstance(refusal, Locked) else "enrolment needed" if needed and refusal.enrol
                  else "second factor wrong" if needed and refusal.counts
                  else "second factor unreadable" if isinstance(refusal, second_factor.SecretUnreadable)
                  else "second factor needed" if needed
                  else refusal.code if isinstance(refusal, PasswordChangeNeeded)
                  else "session limit" if isinstance(refusal, SessionLimitReached)
                  else "wrong name or password")
        security_log.record(session, SecurityKind.SIGN_IN, subject=name, result=security_log.FAILURE,
                            method="password", details={"door": door, "reason": reason})
        if needed and refusal.counts:
            security_log.record(session, SecurityKind.SECOND_FACTOR_FAILED, subject=name,
                                result=security_log.FAILURE, method="totp", object=f"user:{name}")
        if getattr(refusal, "just_now", False):
            security_log.record(session, SecurityKind.LOCKED, subject=name, result=security_log.FAILURE,
                                method="password", object=f"user:{name}",
                                details={"minutes": self.settings.sign_in.lockout_minutes})

    # -- the second factor (engine/second_factor.py) ----------------------------------------------

    def begin_second_factor(self, user_id: int) -> second_factor.Enrolment:
        """A new authenticator secret for the account, waiting for its first code (the sign-in
        page's enrolment, after a right password)."""
        with self.db.transaction() as session:
            return second_factor.begin(session, self.actor(session, user_id), self.sealer)

    def confirm_second_factor(self, user_id: int, code: str, door: str = "page", agent: str | None = None
                              ) -> tuple[User, list[str], "PageSignIn"]:
        """The app's first code confirms the enrolment and completes the page sign-in that began
        it (its password was right): the account, the ten recovery codes, shown once, and the
        new page session. A wrong code raises SecondFactorNeeded and changes nothing; a sign-in
        beyond the session limit in the "refuse" mode, SessionLimitReached."""
        with self.db.transaction() as session:
            user = self.actor(session, user_id)
            codes = second_factor.confirm(session, user, code, self.sealer)
            page = self._begin_page_session(session, user, agent)
            if page is None:
                raise SessionLimitReached("this account holds as many page sessions as the session policy allows: "
                                          "sign out of one first", {"username": ["too many sessions"]})
            security_log.record(session, SecurityKind.SECOND_FACTOR_ENROLLED, actor=user, method="totp",
                                object=f"user:{user.username}")
            first = "ldap" if user.origin == "ldap" else "password"  # what checked the password
            security_log.record(session, SecurityKind.SIGN_IN, actor=user, method=f"{first}+totp",
                                details={"door": door})
            return user, codes, page

    def reset_second_factor(self, actor_id: int, user_id: int) -> None:
        """Remove an account's second factor (a lost phone; the security administrator only):
        it enrols again at its next sign-in; its page sessions and tokens end."""
        with self.db.transaction() as session:
            actor = self.actor(session, actor_id)
            if actor.has_role(Role.SECURITY_ADMIN):
                user = session.get(User, user_id)
                if user is None:
                    raise NotFound(f"no user {user_id}")
                second_factor.reset(session, user)
                guarded_sign_in.end_sessions(user, tokens=True, because="second_factor_reset", actor=actor)
                security_log.record(session, SecurityKind.SECOND_FACTOR_RESET, actor=actor,
                                    object=f"user:{user.username}")
                return
        self.deny(actor_id, f"reset the second factor of user {user_id}", "user", user_id)

    def unlock(self, actor_id: int, user_id: int) -> bool:
        """Lift an account's lockout (the security administrator only); whether it was locked."""
        with self.db.transaction() as session:
            actor = self.actor(session, actor_id)
            if actor is None or actor.has_role(Role.SECURITY_ADMIN):  # None: the command line
                user = session.get(User, user_id)
                if user is None:
                    raise NotFound(f"no user {user_id}")
                was_locked = guarded_sign_in.unlock(session, user)
                security_log.record(session, SecurityKind.UNLOCKED, actor=actor, object=f"user:{user.username}",
                                    method="command line" if actor is None else None,
                                    details={"was_locked": was_locked})
                return was_locked
        self.deny(actor_id, f"unlock user {user_id}", "user", user_id)

    def sign_out(self, user_id: int, row_id: int | None = None) -> None:
        """End the page session `row_id` (the page's sign-out), or, without one, every page
        session of the account (API tokens stay valid)."""
        with self.db.transaction() as session:
            user = session.get(User, user_id)
            if user is not None:
                if row_id is None:
                    guarded_sign_in.end_sessions(user, reason=sessions.SIGNED_OUT)
                else:
                    row = session.get(UserSession, row_id)
                    if row is not None and row.user_id == user.id:
                        sessions.end(row, sessions.SIGNED_OUT)
                security_log.record(session, SecurityKind.SIGN_OUT, actor=user)

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
                actor = self.actor(session, user_id)
                definition, outcome = self.runtime.deploy(session, content, actor, filename, attachments,
                                                          accepted, comment, draft, shipped)
                if outcome:
                    security_log.record(session, SecurityKind.PROCESS_DEPLOYED, actor=actor,
                                        method="shipped" if shipped else None,
                                        object=f"process:{definition.key} v{definition.version}",
                                        details={"outcome": outcome.value, "draft": bool(draft), "file": filename})
                return definition, outcome
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
            definition = self.runtime.current(session, process_key, to_start=True)
            if definition is not None and definition.purpose == purpose.PROBLEM:
                self.runtime.rehearse_start(definition)

        with self.scripts_first(rehearse), self.db.transaction() as session:
            self._calendar(session)
            actor = self.actor(session, user_id)
            definition = self.runtime.current(session, process_key, to_start=True)
            if definition is None:
                raise NotFound(f"no process {process_key!r} is deployed", {"process_key": ["not deployed"]})
            purpose.require_problem_process(definition)
            problem = problems.register(session, new, actor)
            self.runtime.start(session, definition, problem, actor)
            return answer(session, problem.id) if answer else problem.id

    # -- tasks ---------------------------------------------------------------------------------

    def complete_task(self, user_id: int, task_id: int, data: dict, answer: Answer | None = None):
        """Complete a task. A step that fails after it leaves the completion standing and the
        process at an incident (see Runtime.complete), which is returned; given `answer`, what
        `answer(session, task_id)` builds inside the transaction is returned instead, so that a
        committed completion is answered with what it committed."""
        def rehearse(session):
            task = tasks.for_completion(session, task_id, rehearsal=True)
            if has_scripts(task.instance.definition) and tasks.may_complete(self.actor(session, user_id), task):
                self.runtime.rehearse_completion(task, data)

        try:
            with self.scripts_first(rehearse), self.db.transaction() as session:
                self._calendar(session)
                actor = self.actor(session, user_id)
                task = tasks.for_completion(session, task_id)
                problem_id = task.problem_id
                allowed = tasks.may_complete(actor, task)
                if allowed:
                    incident = self.runtime.complete(session, task, actor, data)
                    result = (answer(session, task_id) if answer
                              else incidents.View.of(incident) if incident is not None else None)
        except StaleDataError:
            raise Conflict(f"task {task_id} was completed by someone else at the same moment") from None
        if allowed:  # committed
            metrics.task_completed()
            return result
        self.deny(user_id, f"complete task {task_id}", "human_task", task_id, problem_id)

    # -- time ----------------------------------------------------------------------------------

    def wake_due(self) -> Wakening:
        """Fire every timer due by the engine's clock and retry the incidents due, one
        instance per transaction: [(instance id, timer names)], with `.incidents`."""
        return self.incident_desk.wake_due()

    # -- the escalation ladder -----------------------------------------------------------------

    def escalation_rules(self) -> rules.Ladder:
        with self.db.transaction() as session:  # seeds version 1 on first use
            return rules.current(session)

    def replace_escalation_rules(self, user_id: int, data) -> rules.Ladder:
        with self.db.transaction() as session:
            actor = self.actor(session, user_id)
            if actor.has_role(Role.ADMIN):
                ladder = rules.replace(session, data, actor)
                security_log.record(session, SecurityKind.RULES_CHANGED, actor=actor, object="escalation rules",
                                    details={"version": getattr(ladder, "version", None)})
                return ladder
        self.deny(user_id, "change the escalation rules", "escalation_rule_set", None)

    def sweep(self, dry_run: bool = False) -> list[Firing]:
        """Fire everything on the ladder due by the engine's clock, each firing once and in
        its own transaction; a dry run only lists it. Only the problems whose next rung is due
        (or to be worked out, or held as a gap) are looked at; those to be worked out (all of
        them after a change of the rules) a slice a transaction, so that other writers
        get their turn in between. A firing that fails leaves its
        problem due, for the next sweep, and the others fire; the first failure is raised
        after them."""
        done: list[Firing] = []
        failure: BaseException | None = None
        passes = slices = 0
        while passes < 10:  # a firing can make a repeat trigger due (the second yellow card)
            now = clock.now()
            with self.db.transaction() as session:
                self._calendar(session)
                ladder = rules.current(session)
                due = firing.pending(session, ladder, self.runtime.calendar, now, record=not dry_run,
                                     work_out=due_moments.WORK_OUT_SLICE)
                if dry_run:
                    return [Firing.planned(session, d) for d in due]
                more = due_moments.any_to_work_out(session)
            fired_now = 0
            while due:
                batch = due[:FIRING_BATCH]
                try:
                    fired, failed, taken = self._fire_together(batch, ladder, now)
                except Exception:  # noqa: BLE001 - the batch's commit failed: one firing at a time
                    (fired, failed), taken = self._fire_one_by_one(batch, ladder, now), len(batch)
                due = due[taken:]
                done += fired
                metrics.escalations_fired(firing_.level for firing_ in fired)
                fired_now += len(fired)
                failure = failure or (failed[0] if failed else None)
            slices += 1
            if more and slices < MAX_SLICES:  # still some to work out: the next slice, in a transaction of its own
                continue
            if not fired_now:
                break
            passes += 1
        if failure is not None:
            raise failure
        return done

    def _fire_together(self, batch: list, ladder, now) -> tuple[list[Firing], list[BaseException], int]:
        """Fire the head of `batch` in one transaction, each firing in its own savepoint: one
        that fails or was fired meanwhile is rolled back alone (a failure leaves its problem due,
        for the next sweep) and the others commit together; the problems and what their targets
        and notices read are loaded for the batch at once. It stops taking firings once it has
        held the transaction FIRING_BUDGET seconds (on SQLite other writers wait meanwhile);
        what it fired, the failures, and how many of `batch` it took."""
        fired: list[Firing] = []
        failed: list[BaseException] = []
        taken, started = 0, time.monotonic()
        with self.db.transaction() as session:
            loaded = firing.load_for_firing(session, [item.problem_id for item in batch])  # held for the batch
            for item in batch:
                if taken and time.monotonic() - started > FIRING_BUDGET:
                    break
                taken += 1
                try:
                    with session.begin_nested():
                        escalation = firing.fire(session, item, ladder, self.runtime, now)
                except IntegrityError:
                    continue  # fired meanwhile by another sweep or scheduler
                except Exception as error:  # noqa: BLE001 - one failing firing stays one failure
                    failed.append(error)
                    due_moments.still_due(session, item.problem_id, item.moment)
                    continue
                if escalation is not None:  # None: held as an organisation gap (党政同责)
                    fired.append(Firing.of(escalation))
            del loaded
        return fired, failed, taken

    def _fire_one_by_one(self, batch: list, ladder, now) -> tuple[list[Firing], list[BaseException]]:
        """Fire `batch` one transaction a firing (when a batch could not commit together)."""
        fired: list[Firing] = []
        failed: list[BaseException] = []
        for item in batch:
            try:
                with self.db.transaction() as session:
                    escalation = firing.fire(session, item, ladder, self.runtime, now)
                    if escalation is not None:
                        fired.append(Firing.of(escalation))
            except IntegrityError:
                continue
            except Exception as error:  # noqa: BLE001 - one failing firing stays one failure
                failed.append(error)
                with self.db.transaction() as session:
                    due_moments.still_due(session, item.problem_id, item.moment)
        return fired, failed

    def forecast(self, working_days: int, limit: int | None = None, narrow=None) -> list[Firing]:
        """The firings the ladder will make within `working_days` (the first `limit` of them;
        `narrow`, Select -> Select, limits the problems to a scope such as a dashboard's)."""
        return self._forecast(working_days, limit=limit, narrow=narrow).items

    def forecast_page(self, working_days: int, page: int, per_page: int) -> paging.Paged:
        """One page of the forecast, soonest first (then by problem and level); only that
        page's firings have their targets worked out."""
        return self._forecast(working_days, (page, per_page))

    def _forecast(self, working_days: int, page: tuple[int, int] | None = None, limit: int | None = None,
                  narrow=None) -> paging.Paged:
        self.current_calendar()
        now = clock.now()
        until = ladder_module.start_of(ladder_module.shift_working(
            self.runtime.calendar, now.astimezone(clock.SHANGHAI).date(), working_days + 1))
        with self.db.transaction() as session:
            ladder = rules.current(session)
            if page is not None:
                number, size = page
                dues, total = firing.forecast_page(session, ladder, self.runtime.calendar, now, until,
                                                   (number - 1) * size, size)
            else:
                dues = firing.forecast(session, ladder, self.runtime.calendar, now, until, limit, narrow)
                total = len(dues)
            wanted = {due.problem_id for due in dues}
            loaded = firing.load_for_firing(session, wanted)  # held: the session keeps only weak references
            heads: dict = {}
            lines = [Firing.planned(session, due, heads) for due in dues]
            del loaded
            return paging.Paged(lines, total)

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

    # -- traffic lights (红黄绿灯) ----------------------------------------------------------------

    def refresh_lights(self) -> int:
        """Give every light the colour it has by the engine's clock; how many changed."""
        with self.db.transaction() as session:
            calendar = self._calendar(session)
            return len(lights.refresh(session, calendar, clock.now(), self.runtime.light_rules))

    def current_lights(self) -> int:
        """Bring up to date the lights that have changed by the engine's clock since they were
        stored (only those: an indexed look when none has), so that what is read next shows the
        light that holds now whether or not a scheduler ran; how many changed."""
        now = clock.now()
        with self.db.reading() as session:
            if not lights.stale(session, now):
                return 0
        with self.db.transaction() as session:
            return len(lights.catch_up(session, self._calendar(session), now, self.runtime.light_rules))

    def next_light_change(self):
        """The next moment a light changes with time alone (None: none will)."""
        with self.db.reading() as session:
            return lights.next_change(session, clock.now())

    def schedule_changed(self) -> None:
        """Tell the scheduler to plan again (in this process at once, in others through
        PostgreSQL NOTIFY): due times, escalation moments or light changes may have moved.
        Writes to the tables that decide due times do this by themselves on commit."""
        with self.db.transaction() as session:
            scheduling_signal.changed(session)

    # -- notifications (通知) -------------------------------------------------------------------

    def deliver_notifications(self) -> notifications.Delivery:
        """Send the email and webhook notices due by the engine's clock (safe on several hosts)."""
        delivery = notifications.deliver_pending(self.db, self.settings.notifications)
        metrics.sends(delivery)
        return delivery

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

    # -- audit ---------------------------------------------------------------------------------

    def verify_ledger(self) -> ledger.Verification:
        with self.db.reading() as session:
            return ledger.verify(session)

