"""Which process runs the scheduler: exactly one at a time, another takes over when it dies.

On PostgreSQL the leader holds a session-level advisory lock on a connection of its own; the
server releases it the moment that connection ends (the process died, or TCP keepalives gave
up on a dead host after about 25 s). Standbys try for the lock every `retry` seconds. The same
connection LISTENs for `duban_schedule`, so the leader hears the moment a web worker on any
host commits an action that moved a due time, and notices a lost connection at once.

On SQLite (one host by nature) the lock is an flock on a file beside the database.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Callable

import psycopg
from sqlalchemy.engine import make_url

from .signal import CHANNEL

log = logging.getLogger("duban.scheduler")
LOCK_KEY = 0x6475_6261_6E53  # "dubanS": the scheduler's advisory lock (the ledger's appends use "duban\0")


class Leadership:
    """`acquire()` once; while it holds, `wait(timeout, stopping)` returns True when a
    schedule change was heard, False after a quiet `timeout`, and raises LostLeadership when
    the lock can no longer be trusted."""

    def acquire(self) -> bool:
        raise NotImplementedError

    def wait(self, timeout: float, stopping: threading.Event) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


class LostLeadership(Exception):
    pass


class PostgresLeadership(Leadership):
    def __init__(self, database_url: str):
        url = make_url(database_url).set(drivername="postgresql")
        self.dsn = url.render_as_string(hide_password=False)
        self.connection: psycopg.Connection | None = None

    def acquire(self) -> bool:
        try:
            connection = psycopg.connect(self.dsn, autocommit=True, application_name="duban-scheduler",
                                         keepalives=1, keepalives_idle=10, keepalives_interval=5,
                                         keepalives_count=3, connect_timeout=10)
        except psycopg.OperationalError as error:
            log.warning("cannot reach the database for the scheduler lock: %s", error)
            return False
        held = connection.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]
        if not held:
            connection.close()
            return False
        connection.execute(f"LISTEN {CHANNEL}")
        self.connection = connection
        return True

    def wait(self, timeout: float, stopping: threading.Event) -> bool:
        try:
            for _ in self.connection.notifies(timeout=timeout, stop_after=1):
                return True
            self.connection.execute("SELECT 1")  # a quiet period still proves the connection
            return False
        except psycopg.Error as error:
            self.release()
            raise LostLeadership(str(error)) from error

    def release(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()  # ends the session: the advisory lock goes with it
            finally:
                self.connection = None


class FileLeadership(Leadership):
    def __init__(self, path: Path):
        self.path = path
        self.handle = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self.handle = handle
        return True

    def wait(self, timeout: float, stopping: threading.Event) -> bool:
        stopping.wait(timeout)  # nothing to hear: on SQLite this process's listeners are called directly
        return False

    def release(self) -> None:
        if self.handle is not None:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_UN)
                self.handle.close()
            finally:
                self.handle = None


def for_database(database_url: str, instance_path: Path) -> Leadership:
    if database_url.startswith("sqlite"):
        database = make_url(database_url).database or "memory"
        name = Path(database).name if database not in ("", ":memory:") else "memory"
        return FileLeadership(instance_path / f"{name}.scheduler.lock")
    return PostgresLeadership(database_url)


Factory = Callable[[], Leadership]
