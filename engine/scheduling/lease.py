"""Leadership as a lease in the database, with a fencing number.

One row (`scheduler_lease`, named 'scheduler') says which process leads and until when, by
the database's clock (one clock for every host, whatever theirs say). A scheduler takes the
lease once it has expired (or was given up), and every taking raises the fencing number; the
leader renews it every third of its length. A leader that stops renewing (killed, frozen by
SIGSTOP or a VM pause, cut from the database) loses it when it expires, and a standby takes
it at its next try.

Losing the lease is not enough: a leader frozen in the middle of a cycle wakes up still
believing it leads. So every transaction the leader's cycle commits is fenced (`begin`,
`check`, run by `Database.transaction` while `Database.fenced` holds): just before it commits,
it reads the lease row and commits only if the lease is still this process's, with the
fencing number it took, and not expired; otherwise it raises FencedOut and rolls back. On
PostgreSQL the check takes a share lock on the row (a taking waits for the commit it
guards) and every fenced transaction, like every taking, renewal and giving up of the lease,
bounds its idle time (`idle_in_transaction_session_timeout`, the lease's length, at least
three seconds), so that a leader frozen inside a transaction, holding row locks, the check's
lock or the lease row it was renewing, is cut off by the server rather than blocking the
standby that takes over (whose taking waits for the row a second at most, and tries again).
A session the idle bound does not end (frozen with a statement still running) the taking
standby ends itself, once the lease has expired (`_end_stale_holders`). On SQLite a write
transaction holds the database, so the check inside it is atomic with the commit.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid

from sqlalchemy import and_, literal_column, or_, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..models import scheduler_lease

log = logging.getLogger("duban.scheduler")
NAME = "scheduler"
LEASE_SECONDS = 10.0
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout that ran out
TAKING_WAITS_MS = 1000  # how long a standby's taking waits for the lease row's lock
IDLE_AT_LEAST = 3.0  # seconds: the idle bound of a short lease's transactions, never below this
# A short lease (seconds, as tests use) would otherwise end a transaction of a loaded machine
# that merely paused between two statements.


class FencedOut(BaseException):
    """This process no longer holds the lease it leads by: what it was about to commit is
    rolled back. A BaseException, so that no `except Exception` on the way (one failing
    firing, one failing instance) takes it for a failure of the work itself."""


def database_now(dialect: str):
    """The database's clock, in seconds since the epoch, as an SQL expression."""
    if dialect == "sqlite":
        return literal_column("((julianday('now') - 2440587.5) * 86400.0)")
    return literal_column("CAST(extract(epoch from clock_timestamp()) AS double precision)")


class Lease:
    def __init__(self, engine: Engine, seconds: float = LEASE_SECONDS, holder: str | None = None):
        self.engine = engine
        self.seconds = float(seconds)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.fencing: int | None = None
        self.renewed = 0.0  # monotonic moment of the last taking or renewal
        self._now = database_now(engine.dialect.name)
        self._postgres = engine.dialect.name == "postgresql"
        writer = engine.execution_options(duban_writer=True) if engine.dialect.name == "sqlite" else engine
        self._writer = writer

    # -- taking, renewing, giving up ---------------------------------------------------------------

    def take(self) -> bool:
        """Take the lease if nobody holds it (expired or given up); True when this process now leads."""
        table = scheduler_lease
        statement = (update(table)
                     .where(table.c.name == NAME, or_(table.c.expires_at <= self._now, table.c.holder.is_(None)))
                     .values(holder=self.holder, fencing=table.c.fencing + 1,
                             expires_at=self._now + self.seconds, taken_at=self._now)
                     .returning(table.c.fencing))
        try:
            with self._writer.begin() as connection:
                self.begin(connection, waiting=True)
                connection.execute(self._row_if_missing())
                previous = connection.execute(select(table.c.holder).where(table.c.name == NAME)).scalar()
                fencing = connection.execute(statement).scalar()
        except OperationalError as error:
            if self._postgres and getattr(error.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                self._end_stale_holders()
            raise
        if fencing is None:
            return False
        self.fencing, self.renewed = int(fencing), time.monotonic()
        log.info("scheduler lease taken by %s (fencing %d, %g s)", self.holder, self.fencing, self.seconds)
        if self._postgres and previous and previous != self.holder:
            self._end_sessions_of(previous)
        return True

    def _end_sessions_of(self, holder: str) -> None:
        """The lease was taken from `holder` (it expired: the process died, froze or lost the
        database). A `duban scheduler` that froze may have left sessions that no idle bound
        ends (a statement still running, a result its process does not read), holding locks the
        new leader's work waits for (the ledger's, a problem's rows). End every session of that
        process, found by its application name; each is logged with what it was doing."""
        from ..db import scheduler_name

        host, _, rest = holder.partition(":")
        pid = rest.partition(":")[0]
        if not pid.isdigit() or (host, int(pid)) == (socket.gethostname(), os.getpid()):
            return
        sessions = text(
            "SELECT pid, state, wait_event_type, wait_event, round(extract(epoch from clock_timestamp() - xact_start)::numeric, 1) AS open_for, left(query, 160) AS query"
            " FROM pg_stat_activity"
            " WHERE application_name = :name AND pid <> pg_backend_pid()")
        try:
            with self.engine.connect() as connection:
                _end(connection, connection.execute(sessions, {"name": scheduler_name(host, int(pid))}).all(),
                     f"of the previous scheduler {holder}")
                connection.commit()
        except Exception as error:  # noqa: BLE001 - its sessions end with it, or with their idle bound
            log.warning("could not end the sessions of the previous scheduler %s: %s", holder, error)

    def _end_stale_holders(self) -> None:
        """The lease has expired (the taking waited for its row, so the row matched) and yet a
        session keeps the row locked past the taking's wait: the old holder's, frozen in a way
        the idle bound does not end (a statement still waiting, a result it does not read).
        End those sessions: what they hold is the row of a lease they no longer hold, which no
        fenced commit of theirs would get past. Each is logged with what it was doing."""
        table = scheduler_lease
        expired = select(table.c.name).where(table.c.name == NAME,
                                              or_(table.c.holder.is_(None), table.c.expires_at <= self._now))
        holding = text(
            "SELECT a.pid, a.application_name, a.state, a.wait_event_type, a.wait_event,"
            " round(extract(epoch from clock_timestamp() - a.xact_start)::numeric, 1) AS open_for,"
            " left(a.query, 160) AS query"
            " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.relation = CAST('scheduler_lease' AS regclass) AND l.granted"
            " AND l.mode IN ('RowShareLock', 'RowExclusiveLock') AND l.pid <> pg_backend_pid()"
            " AND a.xact_start < clock_timestamp() - make_interval(secs => :waited)")
        try:
            with self.engine.begin() as connection:
                if connection.execute(expired).first() is None:
                    return  # taken meanwhile: the lock was a live taking's
                rows = connection.execute(holding, {"waited": TAKING_WAITS_MS / 1000}).all()
                _end(connection, rows, "holding the expired scheduler lease's row", named=True)
        except Exception as error:  # noqa: BLE001 - the next try looks again
            log.warning("could not look for the sessions holding the expired scheduler lease: %s", error)

    def _row_if_missing(self):
        """The lease's row, nobody holding it, unless it is there (the migration makes it; a
        table emptied by hand loses it)."""
        if self._postgres:
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(scheduler_lease).values(name=NAME, holder=None, fencing=0, expires_at=0.0).on_conflict_do_nothing()

    def due_for_renewal(self) -> bool:
        return self.fencing is not None and time.monotonic() - self.renewed >= self.seconds / 3

    def renew(self) -> bool:
        """Extend the lease by its length; False when it is no longer this process's (expired,
        taken by another, fencing number moved)."""
        if self.fencing is None:
            return False
        table = scheduler_lease
        began = time.monotonic()
        statement = (update(table).where(self._mine(table)).values(expires_at=self._now + self.seconds)
                     .returning(table.c.fencing))
        with self._writer.begin() as connection:
            held = self._renewing(connection, statement)
        if held:
            self.renewed = began
        else:
            self.fencing = None
        return held

    def _renewing(self, connection: Connection, statement) -> bool:
        """The renewal inside its transaction: bounded as the leader's others are, so that a
        leader frozen between its renewal and the commit (the row locked) is ended by the
        server after the lease's length instead of keeping every standby waiting on the row."""
        self.begin(connection)
        return connection.execute(statement).scalar() is not None

    def give_up(self) -> None:
        """End the lease now (a clean stop): a standby takes it at its next try."""
        if self.fencing is None:
            return
        table = scheduler_lease
        try:
            with self._writer.begin() as connection:
                self.begin(connection)
                connection.execute(update(table).where(table.c.name == NAME, table.c.holder == self.holder,
                                                       table.c.fencing == self.fencing)
                                   .values(holder=None, expires_at=self._now))
        except Exception as error:  # noqa: BLE001 - it expires by itself
            log.warning("could not give up the scheduler lease (it expires by itself): %s", error)
        finally:
            self.fencing = None

    # -- fencing: inside the leader's own transactions -------------------------------------------

    def begin(self, session: Session | Connection, waiting: bool = False) -> None:
        """At the start of a fenced transaction, and of every one that writes the lease row
        (PostgreSQL): the server ends this session if it stays idle inside the transaction for
        longer than the lease (its holder froze). `waiting`: a standby's taking waits for the
        row's lock a second at most, and tries again at its next turn."""
        if self._postgres:
            idle = int(max(self.seconds, IDLE_AT_LEAST) * 1000)
            session.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {idle}"))
            if waiting:
                session.execute(text(f"SET LOCAL lock_timeout = {TAKING_WAITS_MS}"))

    def check(self, session: Session) -> None:
        """Just before a fenced transaction commits: raise FencedOut unless the lease is still
        this process's, with the fencing number it took, and not expired."""
        fencing = self.fencing
        if fencing is None:
            raise FencedOut("this process does not hold the scheduler lease")
        if not self.holds(session, fencing):
            raise FencedOut(f"the scheduler lease (fencing {fencing}) is no longer held by {self.holder}")

    def holds(self, connection, fencing: int) -> bool:
        """Inside the caller's transaction: whether the lease is still this process's with
        `fencing` and not expired; on PostgreSQL the row is share-locked until that transaction
        ends, so that no taking commits in between."""
        statement = select(scheduler_lease.c.fencing).where(self._mine(scheduler_lease, fencing))
        if self._postgres:
            statement = statement.with_for_update(read=True)
        return connection.execute(statement).scalar() is not None

    def _mine(self, table, fencing: int | None = None):
        return and_(table.c.name == NAME, table.c.holder == self.holder,
                    table.c.fencing == (self.fencing if fencing is None else fencing),
                    table.c.expires_at > self._now)

    def state(self) -> dict:
        return standing(self.engine)


def _end(connection: Connection, sessions, whose: str, named: bool = False) -> None:
    """End these sessions (rows of pg_stat_activity: pid, state, wait_event_type, wait_event,
    open_for, query, and application_name when `named`), each logged with what it was doing."""
    for row in sessions:
        ended = connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": row.pid}).scalar()
        log.warning("session %s %s (%s%s, waiting on %s/%s, in its transaction for %s s, last statement: %s): %s",
                    row.pid, whose, f"{row.application_name}, " if named else "", row.state, row.wait_event_type,
                    row.wait_event, row.open_for, row.query, "ended" if ended else "could not be ended")


def standing(engine: Engine) -> dict:
    """The lease as the database holds it, for operators (`/api/ready`) and tests: `holder`
    (None: nobody leads), `fencing`, and `expires_in` seconds (negative: expired)."""
    table = scheduler_lease
    now = database_now(engine.dialect.name)
    with engine.connect() as connection:
        row = connection.execute(select(table, now.label("now")).where(table.c.name == NAME)).first()
    if row is None:
        return {"holder": None, "fencing": 0, "expires_in": 0.0}
    return {"holder": row.holder, "fencing": row.fencing, "expires_in": round(row.expires_at - row.now, 3)}
