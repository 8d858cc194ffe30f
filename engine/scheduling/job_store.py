"""The job store of the wake-ups (table apscheduler_jobs), fenced by the lease.

The store is shared: the plan a leader writes passes to the next. So a leader that froze
(SIGSTOP, a VM pause) must not touch it when it wakes: its APScheduler thread would read the
jobs due by then, which the new leader planned, and delete each one it ran (and a plan it was
making would delete the jobs it did not want), so the new leader would never run them.

  deleting  (the only write that can lose a wake-up) is made in one transaction with a check
            that the lease is still this leader's (`Lease.holds`, bounded as the leader's own
            transactions are): a stale leader's deletions are dropped, the job stays;
  reading   the jobs due, and the next moment, is for a leader whose lease this process renewed
            within its length (known without asking the database: a process that froze finds
            its last renewal too old when it wakes); the others get none, and look again in a
            second;
  adding    is refused (FencedOut) on the same knowledge, so a stale plan stops at once; a
            moved job (APScheduler moves only repeating ones, which this store does not hold)
            is left as it is.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

from .lease import FencedOut, Lease

log = logging.getLogger("duban.scheduler")
LOOK_AGAIN = timedelta(seconds=1)  # how soon a process that may not run wake-ups looks again


class FencedJobStore(SQLAlchemyJobStore):
    def __init__(self, lease: Lease, **options):
        super().__init__(**options)
        self.lease = lease
        self.fencing = lease.fencing  # the lease this leader's store works under
        self.fenced_out = False  # said once in the log

    def _fresh(self) -> bool:
        """Whether this process renewed the lease it leads by within the lease's length."""
        lease = self.lease
        fresh = (self.fencing is not None and lease.fencing == self.fencing
                 and time.monotonic() - lease.renewed < lease.seconds)
        if not fresh and not self.fenced_out:
            log.info("the scheduler lease is not known to be this process's: no wake-up runs here")
            self.fenced_out = True
        return fresh

    def _held(self, connection) -> bool:
        """The lease check at the start of a deleting transaction, bounded as the leader's own
        are (`Lease.begin`): one frozen while it holds the lease row's share lock is ended by
        the server, and never keeps a standby from taking the lease."""
        if self.fencing is None:
            return False
        self.lease.begin(connection)
        return self.lease.holds(connection, self.fencing)

    def get_due_jobs(self, now):
        return super().get_due_jobs(now) if self._fresh() else []

    def get_next_run_time(self):
        if self._fresh():
            return super().get_next_run_time()
        return datetime.now(timezone.utc) + LOOK_AGAIN  # neither spinning nor sleeping for good

    def add_job(self, job):
        if not self._fresh():
            raise FencedOut(f"wake-up {job.id} not planned: the scheduler lease is not known to be this process's")
        super().add_job(job)

    def update_job(self, job):
        if self._fresh():
            super().update_job(job)

    def remove_job(self, job_id):
        with self.engine.begin() as connection:
            if not self._held(connection):
                log.info("wake-up %s left in place: the scheduler lease is no longer this process's", job_id)
                return
            if connection.execute(self.jobs_t.delete().where(self.jobs_t.c.id == job_id)).rowcount == 0:
                raise JobLookupError(job_id)

    def remove_jobs(self, job_ids) -> None:
        """Several jobs in one transaction (those a plan no longer wants), under the same check
        as one: a plan that drops two hundred jobs takes one transaction, not two hundred."""
        job_ids = list(job_ids)
        if not job_ids:
            return
        with self.engine.begin() as connection:
            if not self._held(connection):
                log.info("%d wake-ups left in place: the scheduler lease is no longer this process's", len(job_ids))
                return
            connection.execute(self.jobs_t.delete().where(self.jobs_t.c.id.in_(job_ids)))

    def remove_all_jobs(self):
        with self.engine.begin() as connection:
            if not self._held(connection):
                raise FencedOut("the wake-ups were not cleared: the scheduler lease is no longer this process's")
            connection.execute(self.jobs_t.delete())
