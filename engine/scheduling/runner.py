"""The scheduler: APScheduler, with its SQLAlchemy job store in Duban's own database, run
by whichever process holds the leadership.

Two job stores:
  moments   (SQLAlchemy, table apscheduler_jobs) one date job per wake-up of `plan.upcoming`,
            so the plan survives a restart and passes to the next leader; fenced by the
            lease (job_store.py), so that a leader that froze cannot delete the next one's jobs;
  internal  (memory) the catch-up at start, the periodic sweep and the re-planning.
The catch-up at start and the periodic sweep run the whole cycle: fire the BPMN timers due
(and retry the incidents due; a running scheduler queues that on the timers' executor, so
that a backlog of timers does not hold up the ladder), fire the ladder, bring the traffic lights that changed up to
date, send the notices, issue the daily bulletin when its time has come, plan again. A
wake-up runs only its own stage (STAGE_OF), and BPMN timers and incident retries run on an
executor of their own, so that a timer never waits behind a ladder sweep, a bulletin or a plan;
what a stage commits asks for a plan, as any commit does. Each stage reads what is due through an
index, so a cycle costs what is due, not what is stored; the periodic sweep also works out
again a slice of the city (safety_net.py). Each stage is its own unit of failure: what one raises (a
script's SystemExit included) is logged, once while it keeps failing the same way, and the
others run; an instance that fails is an incident (engine/incidents.py), not a failed
stage. Each step is idempotent (a firing's key, a bulletin's day is
unique in the database), so a late, repeated or concurrent cycle fires nothing twice; the
periodic sweep catches whatever fell due while no scheduler ran. Two executor threads: the
timers' one, and one for everything else, each running one job at a time.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta, timezone

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED

from .. import clock, incidents
from ..escalation import rules
from . import leadership as leadership_module
from . import safety_net
from .job_store import LOOK_AGAIN, FencedJobStore
from .leadership import LostLeadership
from .lease import FencedOut
from .plan import DUE_TIMERS, HORIZON, Wakeup, upcoming

log = logging.getLogger("duban.scheduler")
JOB_TABLE = "apscheduler_jobs"
TIMERS = "timers"  # the executor of BPMN timers' and incident retries' wake-ups: they never wait for a cycle
# what a wake-up of each kind runs (its id's prefix): only its own stage; the periodic sweep and
# the catch-up at start run the whole cycle
STAGE_OF = {"timer": "timers", "incident": "timers", "ladder": "ladder", "gap": "ladder", "lights": "lights",
            "outbox": "outbox", "bulletin": "bulletin"}
# runs of one wake-up's job let in at a time (running or queued on its executor): all of them.
# APScheduler drops a run that comes due while its job's runs in flight are at this limit, and a
# dropped date job is gone: with one, a `timer:due` planned again while the backlog it stands for
# still fires (its job still counts while it asks for its plan) was dropped, and what fell due
# meanwhile waited for the next commit or sweep. Queued runs that a run begun after their moment
# has served return at once (Scheduler.on_wakeup), so a queue of them costs nothing.
QUEUED = 1_000_000
_running: "Scheduler | None" = None  # the leader in this process, for jobs read back from the store


class _Background(BackgroundScheduler):
    """APScheduler's background scheduler, whose loop survives what going through the jobs
    raises: a job it could not remove because a shutdown began meanwhile (the stopping
    scheduler looks for it among jobs not yet stored), or the database failing under the job
    store (a connection cut while it deleted a job it ran, or read the next moment): APScheduler
    lets that end its thread, and a leader that still renews its lease would run nothing again.
    The loop looks again a second later; a job left in the store runs again, and its stage
    finds it served (Scheduler.on_wakeup)."""

    def _process_jobs(self):
        try:
            return super()._process_jobs()
        except Exception as error:  # noqa: BLE001 - the loop must go on
            if self.state == STATE_STOPPED:
                return None
            log.warning("the scheduler could not go through its wake-ups (%s); it looks again in a second", error)
            return LOOK_AGAIN.total_seconds()


def fire_due(wakeup_id: str, due: float | None = None) -> None:
    """The job at a wake-up's moment (referenced by name in the job store); `due` is that
    moment as a wall-clock timestamp (jobs stored before it was passed have none)."""
    if _running is None:
        log.warning("wake-up %s came due with no scheduler running in this process", wakeup_id)
        return
    _running.on_wakeup(wakeup_id, due)


class Scheduler:
    def __init__(self, duban, *, sweep_every: float = 300.0, retry_every: float = 2.0,
                 listen_every: float = 1.0, horizon: timedelta = HORIZON, leadership=None,
                 safety_slice: int = safety_net.SLICE):
        from . import signal

        self.duban = duban
        signal.install(duban.db)
        self.sweep_every, self.retry_every, self.listen_every, self.horizon = (
            sweep_every, retry_every, listen_every, horizon)
        self.leadership = leadership or leadership_module.for_database(duban.db.engine,
                                                                       duban.settings.lease_seconds)
        self.stopping = threading.Event()
        self.leading = threading.Event()
        self.aps: _Background | None = None
        self.moments: FencedJobStore | None = None  # the store of the wake-ups' jobs, while leading
        self.cycles = 0
        self.safety_slice, self.safety_after = safety_slice, 0  # where the safety net's round stands
        self.last_results: dict = {}
        self.failing: dict[str, str] = {}  # stage -> its error, while it keeps failing (logged once)
        # one job at a time, and standing down waits for the one in flight (a job re-plans, so
        # it may call into APScheduler: never wait for it while holding APScheduler's locks)
        self._job_lock = threading.RLock()
        self._timer_lock = threading.Lock()  # the timers' executor: one wake-up of a timer at a time
        self.stage_began: dict[str, float] = {}  # wall-clock timestamp at which each stage last began
        self._request_lock = threading.Lock()
        self._plan_requested = False
        self._thread: threading.Thread | None = None
        self.cycle_began = 0.0  # wall-clock timestamp at which the last cycle began
        self._requested_at = self._plan_began = 0.0  # monotonic: the pending plan request, the last plan

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> "Scheduler":
        """Run in a background thread (beside the web server)."""
        self._thread = threading.Thread(target=self.run, name="duban-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """Stand by until this process holds the leadership, lead until it is lost or the
        scheduler is stopped; then stand by again."""
        while not self.stopping.is_set():
            if not self.leadership.acquire():
                self.stopping.wait(self.retry_every)
                continue
            log.info("this process runs the scheduler")
            try:
                self._lead()
            except LostLeadership as error:
                log.warning("scheduler leadership lost (%s); standing by", error)
            finally:
                self._stand_down()

    def _lead(self) -> None:
        global _running
        job_engine = self.duban.db.engine
        if self.duban.db.is_sqlite:  # the job store writes: take SQLite's write lock up front
            job_engine = job_engine.execution_options(duban_writer=True)
        self.moments = FencedJobStore(self.leadership.lease, engine=job_engine, tablename=JOB_TABLE)
        self.aps = _Background(
            jobstores={"moments": self.moments, "internal": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(1), TIMERS: ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=timezone.utc)
        _running = self
        self.aps.start()
        self.leading.set()
        self.duban.db.schedule_listeners.append(self.request_plan)
        self.aps.add_job(self.on_job, args=("start",), id="catch-up", jobstore="internal")
        self.aps.add_job(self.on_job, "interval", seconds=self.sweep_every, args=("sweep",), id="sweep",
                         jobstore="internal")
        while not self.stopping.is_set():
            if self.leadership.wait(self.listen_every, self.stopping):
                self.request_plan()

    def _stand_down(self) -> None:
        global _running
        self.leading.clear()  # jobs still queued now return at once
        if self.request_plan in self.duban.db.schedule_listeners:
            self.duban.db.schedule_listeners.remove(self.request_plan)
        if self.aps is not None and self.aps.running:
            # not shutdown(wait=True): it holds the job-store lock while it waits, and a job in
            # flight that re-plans needs that lock
            self.aps.shutdown(wait=False)
        with self._job_lock, self._timer_lock:  # the jobs in flight finish before another process may lead
            pass
        self.duban.incident_desk.dismiss_workers()
        if _running is self:
            _running = None
        self.aps = self.moments = None
        self.leadership.release()

    # -- work ----------------------------------------------------------------------------------

    def request_plan(self) -> None:
        """Plan again soon (a committed action moved a due time); requests made before that
        planning starts coalesce into it."""
        aps = self.aps
        if aps is None or not aps.running:
            return
        with self._request_lock:
            self._requested_at = time.monotonic()  # the latest request: a plan must begin after it
            if self._plan_requested:
                return
            self._plan_requested = True
        aps.add_job(self._plan_on_request, jobstore="internal")

    def _plan_on_request(self) -> None:
        with self._request_lock:
            self._plan_requested = False
            requested_at = self._requested_at
        # a plan that began after the request (a cycle's own) read every commit made before it
        if self.leading.is_set() and self._plan_began < requested_at:
            self._fenced(self.plan)

    def on_job(self, reason: str) -> None:
        """What every scheduled job runs, while this process leads."""
        if self.leading.is_set():
            self._fenced(lambda: self.cycle(reason))

    def _fenced(self, work) -> None:
        """Run a job's work with every transaction it commits fenced by the lease: a leader that
        lost its lease (frozen, cut off, slow) commits nothing, and stands down."""
        try:
            with self.duban.db.fenced(self.leadership.lease):
                work()
        except FencedOut as error:
            log.warning("scheduler fenced out, nothing committed: %s", error)
            self.leadership.fenced_out.set()
            self.leading.clear()

    def on_wakeup(self, wakeup_id: str, due: float | None) -> None:
        """A wake-up's job: its own stage only (a BPMN timer fires the due timers, on an
        executor of their own, never behind a ladder sweep or a bulletin), unless that stage
        began at or after the wake-up's moment (it read a clock past it, so it served what fell
        due then): wake-ups that fall due together while their stage runs are served by its
        next run, not by one run each. A kind without a stage of its own runs the cycle."""
        stage = STAGE_OF.get(wakeup_id.split(":", 1)[0])
        if stage is None:
            if due is not None and self.cycle_began >= due:
                return
            self.on_job(wakeup_id)
            return
        if due is not None and max(self.cycle_began, self.stage_began.get(stage, 0.0)) >= due:
            return
        lock = self._timer_lock if stage == "timers" else self._job_lock
        with lock:
            if self.leading.is_set():
                self._fenced(lambda: self._run_stage(stage, wakeup_id))
        self.request_plan()  # what the stage committed asked for one already; this covers a stage that failed

    def _steps(self) -> dict:
        """The cycle's stages, in the order a cycle runs them."""
        return {"timers": self.duban.wake_due, "ladder": self.duban.sweep, "lights": self.duban.current_lights,
                "outbox": self.duban.deliver_notifications, "bulletin": self.duban.bulletin_due}

    def _hand_timers_on(self):
        """A running scheduler's cycle does not fire the timers itself: it queues the timers'
        stage on their executor, in this process (no plan between), so that a backlog of timers
        (a new leader's catch-up, a sweep after a burst) never holds up the ladder behind it."""
        self.aps.add_job(self.on_wakeup, args=(DUE_TIMERS, None), jobstore="internal", executor=TIMERS)
        return []

    def _run_stage(self, stage: str, reason: str):
        self.stage_began[stage] = time.time()
        return self._stage(stage, reason, self._steps()[stage])

    def cycle(self, reason: str = "manual") -> dict:
        """Fire everything due by the engine's clock, then plan the next wake-ups."""
        with self._job_lock:
            self.cycle_began = time.time()
            results = {}
            if reason == "sweep":
                self._stage("safety net", reason, self._look_again)
                self._stage("security log", reason, lambda: self.duban.purge_security_log(daily=True))
            steps = self._steps()
            if self.aps is not None and self.aps.running:
                steps["timers"] = self._hand_timers_on
            for name, step in steps.items():
                results[name] = self._stage(name, reason, step)
            fired = results.get("ladder") or []
            if fired or results.get("timers"):
                log.info("cycle for %s: %d timer(s), %d escalation(s)", reason, len(results.get("timers") or []),
                         len(fired))
            self.cycles += 1
            self.last_results = results
            self._stage("plan", reason, self.plan)
        return results

    def _look_again(self) -> int:
        self.safety_after = safety_net.look_again(self.duban.db, self.safety_after, self.safety_slice)
        return self.safety_after

    def _stage(self, name: str, reason: str, step):
        """Run one stage of the cycle; what it raises is logged (once while it fails the same
        way) and the cycle goes on. Only a real shutdown ends the cycle."""
        try:
            result = step()
        except BaseException as error:  # noqa: BLE001 - a script's SystemExit must not end the cycle
            if isinstance(error, FencedOut) or not incidents.contained(error):
                raise
            said = f"{type(error).__name__}: {error}"
            if self.failing.get(name) != said:
                log.error("scheduler stage %s failed (cycle for %s)", name, reason, exc_info=error)
            else:
                log.debug("scheduler stage %s failed again: %s", name, said)
            self.failing[name] = said
            return None
        if self.failing.pop(name, None) is not None:
            log.info("scheduler stage %s works again", name)
        return result

    def wakeups(self) -> list[Wakeup]:
        with self.duban.db.transaction() as session:  # the rules and the calendar seed themselves on first use
            calendar = self.duban.current_calendar(session)
            return upcoming(session, rules.current(session), calendar, clock.now(), self.horizon)

    def plan(self) -> list[Wakeup]:
        """Make the job store hold exactly one date job per upcoming wake-up."""
        with self._job_lock:
            return self._plan()

    def _plan(self) -> list[Wakeup]:
        self._plan_began = time.monotonic()
        aps = self.aps
        wanted = {w.id: w for w in self.wakeups()}
        if aps is None or not aps.running:
            return list(wanted.values())
        existing = {job.id: job for job in aps.get_jobs(jobstore="moments")}
        self.moments.remove_jobs(existing.keys() - wanted.keys())  # one transaction for them all
        # on a stopped clock (tests, demonstrations) the wall time of a moment drifts: a job
        # within half a second of its place stays where it is; on a running one, a job within
        # a millisecond (the job store keeps a moment as a float, which may round it by a
        # microsecond: it is not written again, nor run twice, at each plan)
        slack = timedelta(milliseconds=500) if clock.is_frozen() else timedelta(milliseconds=1)
        due = clock.wall_time(clock.now()) + slack
        for wakeup in wanted.values():
            job = existing.get(wakeup.id)
            run_at = clock.wall_time(wakeup.moment)
            if job is not None and (abs(job.next_run_time - run_at) <= slack
                                    or (job.next_run_time <= due and run_at <= due)):
                continue  # in place, or due and about to run: written again, it would only be skipped
            self._put(aps, wakeup.id, wakeup.what, run_at)
        return list(wanted.values())

    def _put(self, aps, wakeup_id: str, what: str, run_at) -> None:
        """The job of one wake-up at its wall-clock moment, on the timers' executor or the other."""
        executor = TIMERS if STAGE_OF.get(wakeup_id.split(":", 1)[0]) == "timers" else "default"
        aps.add_job(f"{__name__}:fire_due", "date", run_date=run_at, args=(wakeup_id, run_at.timestamp()),
                    id=wakeup_id, name=what, jobstore="moments", replace_existing=True, executor=executor,
                    max_instances=QUEUED)
