"""Worker processes that fire a backlog of due timers beside the leading scheduler (PostgreSQL).

A burst of timers due at one instant (deadlines set to one midnight, a migration that gave many
instances the same moment) is fired in batches (engine/incident_desk.py). One process fires
about two hundred a second alone, far fewer when the web hosts share its cores. So a long
backlog is shared: the scheduler's process goes on firing the queue's head itself (where the
timers falling due meanwhile are put) and hands the batches behind it to these workers, each a process of its own with its own connections, each batch in
transactions fenced by the leader's lease (its holder and fencing number, checked in every
commit as the leader's own transactions are): a leader that lost its lease has its workers
commit nothing either. The batches take turns only at the ledger's chain, whose lock is held
for the entries' insert and the commit.

The workers start at the first backlog long enough to pay for their start, live while the
process leads, and end with it: a worker whose parent died ends itself. They run at a lower CPU
priority: an idle core is theirs, a busy one the web's and the leader's. A worker that dies leaves its batch uncommitted
(its timers stay due) and the scheduler's process fires the rest of the backlog alone.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor

from . import clock, metrics
from .db import application_name

log = logging.getLogger("duban.scheduler")

_duban = None  # in a worker: its own Duban, made once
NICENESS = 5  # the workers' lower CPU priority (os.nice)


def _start(settings, parent: int, name: str) -> None:
    """A worker's start: logging as the scheduler's, its own Duban, and an end of its own when
    the scheduler's process is gone (a killed parent leaves no worker behind)."""
    global _duban
    from . import logs
    from .service import Duban

    logs.configure()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the scheduler's to handle: it ends them
    # a core the host leaves idle is theirs; a busy one goes first to the web requests and to the
    # leader's own thread, which fires the timers falling due now and the ladder's rungs
    os.nice(NICENESS)
    metrics.LATENESS_KEPT = []
    _duban = Duban(settings, connect_args={"application_name": name})  # shown, and ended, as the leader's

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(0)
            threading.Event().wait(1.0)

    threading.Thread(target=watch, name="duban-timer-worker-watch", daemon=True).start()


def _fire(batch: list[int], holder: str, fencing: int, seconds: float, moment) -> tuple:
    """In a worker: fire the head of `batch` under the leader's lease, on the leader's clock.
    (how many it took, [(instance id, timers fired)], incidents, the timers' lateness)."""
    from .scheduling.lease import Lease

    clock.follow(moment)
    lease = Lease(_duban.db.engine, seconds, holder=holder)
    lease.fencing = fencing
    with _duban.db.fenced(lease):
        taken, fired, opened = _duban.incident_desk.fire_batch(batch)
    lateness, metrics.LATENESS_KEPT[:] = list(metrics.LATENESS_KEPT), []
    return taken, fired, opened, lateness


class TimerWorkers:
    def __init__(self, settings, size: int):
        self.size = size
        self._pool = ProcessPoolExecutor(max_workers=size, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start, initargs=(settings, os.getpid(), application_name()))
        log.info("%d timer workers started for a backlog", size)

    def fire(self, batch: list[int], lease) -> Future:
        return self._pool.submit(_fire, batch, lease.holder, lease.fencing, lease.seconds, clock.reading())

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
