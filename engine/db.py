"""The database: one engine per process, one transaction per action."""
from __future__ import annotations

import os
import socket
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Iterator, Protocol

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


class Fence(Protocol):
    """What a fenced transaction asks at its start and just before it commits (the
    scheduler's lease, engine/scheduling/lease.py); `check` raises to refuse the commit."""

    def begin(self, session: Session) -> None: ...

    def check(self, session: Session) -> None: ...


_fence: ContextVar[Fence | None] = ContextVar("duban_fence", default=None)


def current_fence() -> Fence | None:
    """The fence this thread's transactions are under (`Database.fenced`), if any."""
    return _fence.get()


def application_name() -> str:
    """How this process's connections show in PostgreSQL's pg_stat_activity: `duban scheduler
    <host>:<pid>`, `duban serve`, `duban web` (under gunicorn), so that an operator sees (and can
    end) each part's connections, and a new leader its frozen predecessor's."""
    program = Path(sys.argv[0]).name if sys.argv else ""
    if program == "duban" and len(sys.argv) > 1:
        if sys.argv[1] == "scheduler":
            return scheduler_name(socket.gethostname(), os.getpid())
        return f"duban {sys.argv[1]}"[:63]
    if "gunicorn" in program:
        return "duban web"
    return "duban"


def scheduler_name(host: str, pid: int) -> str:
    """The application name of a `duban scheduler` process's connections (and its timer
    workers'): its host and process id, as the lease's holder names them."""
    return f"duban scheduler {host}:{pid}"[:63]


class Database:
    def __init__(self, url: str, **engine_options):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            engine_options.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        else:
            engine_options.setdefault("pool_pre_ping", True)
            engine_options["connect_args"] = {"application_name": application_name(),
                                              **engine_options.get("connect_args", {})}
        self.engine: Engine = create_engine(url, **engine_options)
        if self.is_sqlite:
            _tune_sqlite(self.engine)
        writer = self.engine.execution_options(duban_writer=True) if self.is_sqlite else self.engine
        self.chain_digest: str | None = None  # engine/chain_digest.py, read at the first chaining
        self._write_sessions = sessionmaker(writer, expire_on_commit=False, info={"database": self})
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False, info={"database": self})

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One action: everything written inside commits together, or nothing does."""
        session = self._write_sessions()
        fence = _fence.get()
        try:
            if fence is not None:
                fence.begin(session)
            yield session
            if fence is not None:
                fence.check(session)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @staticmethod
    @contextmanager
    def fenced(fence: Fence) -> Iterator[None]:
        """Every transaction this thread begins inside the block is fenced: it commits only if
        `fence.check` lets it, just before the commit."""
        token = _fence.set(fence)
        try:
            yield
        finally:
            _fence.reset(token)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A look without writing. Closing ends the transaction (nothing is committed) and
        leaves what was loaded readable after the block."""
        session = self._read_sessions()
        try:
            yield session
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _tune_sqlite(engine: Engine) -> None:
    """SQLite as an embedded server: WAL, enforced foreign keys, and write transactions
    that take the write lock when they begin, so that two actions never interleave."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        writer = conn.get_execution_options().get("duban_writer")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")
