"""The actions on incidents (流程异常), each in its own transaction; `Duban` delegates to them.

Waking the due timers handles one instance per transaction on SQLite, and on PostgreSQL a
small batch of instances per transaction, each in a savepoint; retrying the due incidents one
per transaction. A failure of one becomes its incident (engine/incidents.py) and the others
go on; a failure of the database itself is no instance's: no incident, the next wake-up tries
again. When even
the step's own bookkeeping fails (an error outside SpiffWorkflow's engine steps, a state
that does not load), that transaction is rolled back whole and a separate one records the
incident against the state as it was before the step, with the instance no longer due: its
retry runs the step again.
"""
from __future__ import annotations

import logging
import time

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as SQLTimeoutError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from . import clock, incidents, metrics
from .errors import Conflict, Forbidden, NotFound, Unauthenticated
from .models import Incident, IncidentStatus, InstanceStatus, Problem, ProcessInstance, Role

log = logging.getLogger("duban.incidents")


WAKE_BATCH = 20  # instances a transaction fires on PostgreSQL
WAKE_BUDGET = 0.25  # seconds a batch holds its transaction before it commits what it has
LOOK_AGAIN = 0.25  # seconds between looks for timers fallen due while a backlog is fired
SHARED_FROM = 2  # batches: a longer backlog is shared with the timer workers, once they run
STARTED_FROM = 10  # batches: a backlog this long starts them (a second of firing or more here)


def database_fault(error: BaseException) -> bool:
    """The database failed (a connection cut, a server restarting, no connection to be had),
    not the instance: no incident; the step runs again at the next wake-up."""
    return isinstance(error, (OperationalError, InterfaceError, PendingRollbackError, SQLTimeoutError)) or (
        isinstance(error, DBAPIError) and error.connection_invalidated)


def _still_due(instance: ProcessInstance | None) -> bool:
    return (instance is not None and instance.status in (InstanceStatus.RUNNING, InstanceStatus.ERROR)
            and instance.next_wakeup_at is not None and instance.next_wakeup_at <= clock.now())


class Wakening(list):
    """What `wake_due` did: a list of (instance id, names of the timers fired) per instance
    woken, and in `incidents` the incidents opened or failed again on the way."""

    def __init__(self):
        super().__init__()
        self.incidents: list[incidents.View] = []
        self.by_workers = 0  # how many of them the timer workers woke


class DueQueue:
    """The instances to wake, oldest due first. While a backlog is fired (a burst of deadlines
    at midnight, a leader's take-over), the timers that fall due meanwhile are put ahead of it
    every LOOK_AGAIN seconds: the steady timers keep time and the backlog drains behind them.
    At most as many are put ahead as the backlog held, so that one wake-up ends even when timers
    fall due faster than they fire (the rest are the next wake-up's)."""

    def __init__(self, duban, now, ids: list[int]):
        self.duban, self.looked_until, self.ids = duban, now, list(ids)
        self.looked, self.room = time.monotonic(), len(self.ids)
        self.handed: set[int] = set()  # in a timer worker's hands: not put ahead again

    def head(self, count: int) -> list[int]:
        if time.monotonic() - self.looked >= LOOK_AGAIN and self.ids and self.room > 0:
            self._look_again()
        return self.ids[:count]

    def drop(self, count: int) -> None:
        del self.ids[:count]

    def take(self, count: int, behind: int = 0) -> list[int]:
        """`count` from behind the first `behind` (left for this process), handed to a worker:
        out of the queue until they come back (`done`)."""
        batch = self.head(behind + count)[behind:]
        del self.ids[behind:behind + len(batch)]
        self.handed.update(batch)
        return batch

    def done(self, batch: list[int]) -> None:
        self.handed.difference_update(batch)

    def put_back(self, ids: list[int]) -> None:
        """What a worker did not fire goes back to the head, in its order."""
        queued = set(self.ids)
        self.ids[:0] = [instance_id for instance_id in ids if instance_id not in queued]

    def __len__(self) -> int:
        return len(self.ids)

    def __bool__(self) -> bool:
        return bool(self.ids)

    def _look_again(self) -> None:
        now = clock.now()
        with self.duban.db.reading() as session:
            fresh = self.duban.runtime.due_instances(session, now, since=self.looked_until)
        fresh = [instance_id for instance_id in fresh if instance_id not in self.handed][:self.room]
        if fresh:
            ahead = set(fresh)
            self.ids = fresh + [instance_id for instance_id in self.ids if instance_id not in ahead]
            self.room -= len(fresh)
        self.looked_until, self.looked = now, time.monotonic()


class IncidentDesk:
    def __init__(self, duban):
        self.duban = duban
        self.workers = None  # the timer workers, once a backlog needed them (engine/timer_workers.py)

    # -- the scheduler's step -------------------------------------------------------------------

    def wake_due(self) -> Wakening:
        """Fire every timer due by the engine's clock and retry every incident whose retry is
        due, one instance per transaction; a failing instance becomes an incident and the
        others go on."""
        now = clock.now()
        with self.duban.db.reading() as session:
            due_instances = self.duban.runtime.due_instances(session, now)
            due_incidents = incidents.due(session, now)
        woken = Wakening()
        queue = DueQueue(self.duban, now, due_instances)
        if self.duban.db.is_sqlite:  # one writer at a time anyway: each instance its own transaction
            while queue:
                [instance_id] = queue.head(1)
                queue.drop(1)
                fired, incident = self._wake(instance_id)
                if fired is not None:
                    woken.append(fired)
                if incident is not None:
                    woken.incidents.append(incident)
        else:
            workers = self._workers(len(due_instances))
            if workers is not None:
                self._fire_shared(queue, woken, workers)
            while queue:
                batch = queue.head(WAKE_BATCH)
                taken, fired, opened = self.fire_batch(batch)
                queue.drop(taken)
                woken += fired
                woken.incidents += opened
        for incident_id in due_incidents:
            try:
                _retried, now_open = self._retry(None, incident_id, scheduled=True)
            except (Conflict, NotFound):
                continue  # retried or changed by another process meanwhile
            if now_open is not None:
                woken.incidents.append(now_open)
        return woken

    def fire_batch(self, batch: list[int]) -> tuple[int, list, list]:
        """Fire the timers of the head of `batch` (PostgreSQL): in one transaction, or one
        instance per transaction when that one could not commit; the instances whose step's
        bookkeeping failed become incidents after it. (how many it took, [(instance id, timers
        fired)], incidents opened)."""
        try:
            taken, fired, opened, failed = self._wake_together(batch)
        except BaseException as error:  # noqa: BLE001 - the batch could not commit: one by one
            if not incidents.contained(error) or database_fault(error):
                raise
            taken, fired, opened, failed = len(batch), [], [], []
            for instance_id in batch:
                one, incident = self._wake(instance_id)
                fired += [one] if one is not None else []
                opened += [incident] if incident is not None else []
        for instance_id, error in failed:  # after the batch's commit: it held the ledger's lock
            incident = self._after_rollback(instance_id, error, None)
            if incident is not None:
                opened.append(incident)
        return taken, fired, opened

    # -- a backlog shared with the timer workers (engine/timer_workers.py) ----------------------

    def _workers(self, due: int):
        """The timer workers, for a backlog longer than SHARED_FROM batches (STARTED_FROM when
        they are not running yet) fired by the leading scheduler (its lease fences their
        transactions); None: this process fires it alone."""
        from .db import current_fence
        from .timer_workers import TimerWorkers

        size = self.duban.settings.timer_workers
        lease = current_fence()
        if size <= 0 or due <= SHARED_FROM * WAKE_BATCH or getattr(lease, "fencing", None) is None:
            return None
        if self.workers is None:
            if due <= STARTED_FROM * WAKE_BATCH:
                return None  # starting them (a second or two of a core each) would cost more than it saves
            try:
                self.workers = TimerWorkers(self.duban.settings, size)
            except Exception:  # noqa: BLE001 - no processes to be had: this one fires alone
                log.exception("the timer workers could not start")
                return None
        return self.workers

    def dismiss_workers(self) -> None:
        """The workers end (the scheduler stops leading, or stops)."""
        workers, self.workers = self.workers, None
        if workers is not None:
            workers.close()

    def _fire_shared(self, queue: "DueQueue", woken: Wakening, workers) -> None:
        """Fire the backlog here and in the workers at once. This process fires the queue's
        head, batch after batch, so that the timers put ahead of the backlog are fired here
        next; each worker is handed a batch from behind that head, and the next one to hold
        waiting, as it finishes one. The part of a batch a worker did not take (its time budget
        ran out) goes back to the head. A worker that died leaves its batch, and the rest of the
        backlog, to this process; what a worker raised (the lease lost, the database away) is
        raised here once every batch handed out has come back."""
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        from .db import current_fence

        lease = current_fence()
        handed: dict = {}
        raised: BaseException | None = None
        broken = False
        while (queue and raised is None and not broken) or handed:
            while not broken and raised is None and len(handed) < 2 * workers.size and len(queue) > WAKE_BATCH:
                batch = queue.take(WAKE_BATCH, behind=WAKE_BATCH)
                try:
                    handed[workers.fire(batch, lease)] = batch
                except BrokenProcessPool:
                    log.error("the timer workers are gone: this process fires the backlog")
                    broken = True
                    queue.done(batch)
                    queue.put_back(batch)
            if queue and raised is None and not broken:
                batch = queue.head(WAKE_BATCH)
                try:
                    taken, fired, opened = self.fire_batch(batch)
                except BaseException as error:  # noqa: BLE001 - raised once the workers' batches are back
                    raised = error
                else:
                    queue.drop(taken)
                    woken += fired
                    woken.incidents += opened
            elif handed:
                wait(list(handed), return_when=FIRST_COMPLETED)
            for future in [future for future in handed if future.done()]:
                batch = handed.pop(future)
                queue.done(batch)
                try:
                    taken, fired, opened, lateness = future.result()
                except BrokenProcessPool:
                    if not broken:
                        log.error("a timer worker died: this process fires the rest of the backlog")
                    broken = True
                    queue.put_back(batch)
                    continue
                except BaseException as error:  # noqa: BLE001 - the first one is raised at the end
                    raised = raised or error
                    continue
                queue.put_back(batch[taken:])
                woken += fired
                woken.by_workers += len(fired)
                woken.incidents += opened
                for late in lateness:
                    metrics.TIMER_LATENESS.observe(late)
        if broken:
            self.dismiss_workers()  # the caller fires what is left
        if raised is not None:
            raise raised
        log.info("a backlog of timers shared: %d instances woken, %d of them by the timer workers",
                 len(woken), woken.by_workers)

    def _wake_together(self, batch: list[int]):
        """Fire the timers of the head of `batch` in one transaction, each instance in a
        savepoint of its own (PostgreSQL): one whose step's bookkeeping fails is rolled back
        alone and handed back to become an incident after the commit; one another process woke
        meanwhile is skipped (its version moved: StaleDataError). Stops taking instances once it
        has held the transaction WAKE_BUDGET seconds. The instances, their problems (with
        milestones, for the lights) and their tasks are read for the batch at once.
        (how many it took, [(instance id, timers fired)], incidents opened, [(instance id, error)])."""
        duban = self.duban
        fired, opened, failed, dues = [], [], [], []
        taken, started = 0, time.monotonic()
        with duban.db.transaction() as session:
            duban._calendar(session)
            loaded = list(session.scalars(  # held for the batch: the session keeps only weak references
                select(ProcessInstance).where(ProcessInstance.id.in_(batch))
                .options(selectinload(ProcessInstance.problem).selectinload(Problem.milestones),
                         selectinload(ProcessInstance.tasks))))
            for instance_id in batch:
                if taken and time.monotonic() - started > WAKE_BUDGET:
                    break
                taken += 1
                try:
                    with session.begin_nested():
                        instance = session.get(ProcessInstance, instance_id)
                        if not _still_due(instance):
                            continue  # another process woke it first
                        due = instance.next_wakeup_at
                        names, incident = duban.runtime.wake(session, instance)
                except StaleDataError:
                    continue
                except BaseException as error:  # noqa: BLE001 - contained: see incidents.contained
                    if not incidents.contained(error) or database_fault(error):
                        raise
                    failed.append((instance_id, error))
                    continue
                fired.append((instance_id, names))
                if incident is not None:
                    opened.append(incidents.View.of(incident))
                if names:
                    dues.append(due)
            del loaded
        for due in dues:  # committed
            metrics.timer_fired(due)
        return taken, fired, opened, failed

    def _wake(self, instance_id: int):
        duban = self.duban

        def rehearse(session):
            instance = session.get(ProcessInstance, instance_id)
            if instance is not None:
                duban.runtime.rehearse_wake(instance)

        try:
            with duban.scripts_first(rehearse), duban.db.transaction() as session:
                duban._calendar(session)
                instance = session.get(ProcessInstance, instance_id)
                if not _still_due(instance):
                    return None, None  # another process woke it first
                due = instance.next_wakeup_at
                names, incident = duban.runtime.wake(session, instance)
                woken = (instance_id, names), incidents.View.of(incident) if incident is not None else None
            if names:  # committed: a timer fired (not only an incident retried)
                metrics.timer_fired(due)
            return woken
        except StaleDataError:
            return None, None
        except BaseException as error:  # noqa: BLE001 - contained: see incidents.contained
            if not incidents.contained(error) or database_fault(error):
                raise  # the database, not the instance, failed: the next wake-up tries again
            return None, self._after_rollback(instance_id, error, None)

    # -- retrying -------------------------------------------------------------------------------

    def retry(self, user_id: int, incident_id: int, reason: str | None = None) -> incidents.View:
        """Run an incident's failed step again now (admins): the incident, resolved or with one
        more attempt and the new error. 409 when it is already resolved."""
        duban = self.duban
        with duban.db.reading() as session:
            allowed = duban.actor(session, user_id).has_role(Role.ADMIN)
            incident = incidents.get(session, incident_id)
            problem_id = incident.problem_id
        if not allowed:
            duban.deny(user_id, f"retry incident {incident_id}", "incident", incident_id, problem_id)
        return self._retry(user_id, incident_id, reason=reason)[0]

    def _retry(self, user_id: int | None, incident_id: int, scheduled: bool = False, reason: str | None = None):
        """(the incident retried, the incident open for its instance afterwards or None)."""
        duban = self.duban
        with duban.db.reading() as session:
            instance_id = incidents.get(session, incident_id).instance_id
        def rehearse(session):
            incident = session.get(Incident, incident_id)
            if incident is not None and incident.status == IncidentStatus.OPEN:
                duban.runtime.rehearse_retry(incident)

        try:
            with duban.scripts_first(rehearse), duban.db.transaction() as session:
                duban._calendar(session)
                actor = duban.actor(session, user_id)
                incident = session.get(Incident, incident_id)
                if incident.status != IncidentStatus.OPEN:
                    raise Conflict(f"incident {incident_id} is already resolved")
                if scheduled and (incident.next_retry_at is None or incident.next_retry_at > clock.now()):
                    raise Conflict(f"incident {incident_id} was retried meanwhile")
                now_open = duban.runtime.retry(session, incident, actor, reason)
                session.flush()
                return (incidents.View.of(incident),
                        incidents.View.of(now_open) if now_open is not None else None)
        except StaleDataError:
            raise Conflict(f"the process of incident {incident_id} changed at the same moment; retry again") from None
        except (Conflict, Forbidden, NotFound, Unauthenticated):
            raise  # about the request, not the instance
        except BaseException as error:  # noqa: BLE001 - contained: see incidents.contained
            if not incidents.contained(error):
                raise
            view = self._after_rollback(instance_id, error, user_id, incident_id)
            return view, view

    # -- when the step's own transaction failed --------------------------------------------------

    def _after_rollback(self, instance_id: int, error: BaseException, user_id: int | None,
                        incident_id: int | None = None) -> incidents.View | None:
        """The step's transaction was rolled back: the incident recorded in a transaction of
        its own (a new one, or one more attempt on `incident_id`), the instance no longer due."""
        duban = self.duban
        failure = incidents.Failure.of(error)
        log.error("instance %s could not be stepped: %s: %s", instance_id, failure.error_type, failure.message,
                  exc_info=error)
        try:
            with duban.db.transaction() as session:
                actor = duban.actor(session, user_id)
                instance = session.get(ProcessInstance, instance_id)
                instance.next_wakeup_at = None  # its retry, not its timers, runs the step again
                if incident_id is not None:
                    incident = incidents.failed_again(session, session.get(Incident, incident_id), failure, actor,
                                                      duban.runtime.backoff)
                else:
                    incident = incidents.record(session, instance, failure, actor, duban.runtime.backoff,
                                                duban.runtime.channels)
                return incidents.View.of(incident)
        except Exception:  # noqa: BLE001 - the database itself failed: the next cycle tries again
            log.exception("the incident of instance %s could not be recorded", instance_id)
            return None

    # -- reading --------------------------------------------------------------------------------

    def listing(self, user_id: int, status: IncidentStatus | None, page: int, per_page: int):
        duban = self.duban
        with duban.db.reading() as session:
            if duban.actor(session, user_id).reads_everything:
                return incidents.page(session, status, page, per_page)
        duban.deny(user_id, "read the incidents", "incident", None)

    def get(self, user_id: int, incident_id: int) -> incidents.View:
        duban = self.duban
        with duban.db.reading() as session:
            incident = incidents.get(session, incident_id)
            if duban.actor(session, user_id).reads_everything:
                return incidents.View.of(incident)
            problem_id = incident.problem_id
        duban.deny(user_id, f"read incident {incident_id}", "incident", incident_id, problem_id)
