"""Which process runs the scheduler: at most one at a time, another takes over when it dies,
freezes or loses the database.

Leadership is the lease of lease.py (a row with an expiry and a fencing number, by the
database's clock), on both databases; standbys try to take it every `retry` seconds, the
leader renews it while it waits for work. On PostgreSQL the leader also LISTENs for
`duban_schedule` on a connection of its own, so that it hears the moment a web worker on any
host commits an action that moved a due time, and notices a lost connection at once.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

import psycopg
from sqlalchemy.engine import Engine, make_url

from .lease import LEASE_SECONDS, Lease
from .signal import CHANNEL

log = logging.getLogger("duban.scheduler")


class LostLeadership(Exception):
    pass


class Leadership:
    """`acquire()` once; while it holds, `wait(timeout, stopping)` renews the lease when due
    and returns True when a schedule change was heard, False after a quiet `timeout`, and
    raises LostLeadership when the lease is lost or cannot be renewed. `lease` fences the
    leader's transactions (Database.fenced)."""

    def __init__(self, lease: Lease):
        self.lease = lease
        self.fenced_out = threading.Event()  # a fenced transaction found the lease gone

    def acquire(self) -> bool:
        self.fenced_out.clear()
        try:
            return self.lease.take()
        except Exception as error:  # noqa: BLE001 - the database is away: stand by, try again
            log.warning("cannot take the scheduler lease: %s", error)
            return False

    def wait(self, timeout: float, stopping: threading.Event) -> bool:
        heard = self._hear(timeout, stopping)
        self.keep()
        return heard

    def keep(self) -> None:
        """Renew the lease when due; LostLeadership when it is gone or cannot be renewed."""
        if self.fenced_out.is_set():
            raise LostLeadership("a fenced transaction found the lease gone")
        if not self.lease.due_for_renewal():
            return
        try:
            held = self.lease.renew()
        except Exception as error:  # noqa: BLE001 - cannot prove the lease: stop leading
            raise LostLeadership(f"the lease could not be renewed: {error}") from error
        if not held:
            raise LostLeadership("the lease expired or was taken by another scheduler")

    def _hear(self, timeout: float, stopping: threading.Event) -> bool:
        stopping.wait(timeout)  # nothing to hear: on SQLite this process's listeners are called directly
        return False

    def release(self) -> None:
        self.lease.give_up()


class PostgresLeadership(Leadership):
    def __init__(self, lease: Lease, database_url: str):
        super().__init__(lease)
        url = make_url(database_url).set(drivername="postgresql")
        self.dsn = url.render_as_string(hide_password=False)
        self.connection: psycopg.Connection | None = None

    def acquire(self) -> bool:
        if not super().acquire():
            return False
        try:
            connection = psycopg.connect(self.dsn, autocommit=True, application_name="duban-scheduler",
                                         keepalives=1, keepalives_idle=10, keepalives_interval=5,
                                         keepalives_count=3, connect_timeout=10)
            connection.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as error:
            log.warning("cannot listen for schedule changes: %s", error)
            self.lease.give_up()
            return False
        self.connection = connection
        return True

    def _hear(self, timeout: float, stopping: threading.Event) -> bool:
        try:
            for _ in self.connection.notifies(timeout=min(timeout, self.lease.seconds / 3), stop_after=1):
                return True
            return False
        except psycopg.Error as error:
            raise LostLeadership(str(error)) from error

    def release(self) -> None:
        try:
            if self.connection is not None:
                self.connection.close()
        finally:
            self.connection = None
            super().release()


def for_database(engine: Engine, seconds: float = LEASE_SECONDS) -> Leadership:
    lease = Lease(engine, seconds)
    if engine.dialect.name == "sqlite":
        return Leadership(lease)
    return PostgresLeadership(lease, engine.url.render_as_string(hide_password=False))


Factory = Callable[[], Leadership]
