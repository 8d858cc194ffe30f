"""Import runs (导入记录): who runs a confirmed import, how far it got, and what became of it.

A run belongs to the process that runs it, named by host and process id. A run left
`running` by a process that is gone is marked interrupted: at start-up (the web app and the
scheduler call `mark_stopped`) and when the same sheet is confirmed again. On this host a
run's process is gone when its process id no longer exists; a run of another host (several
app hosts on PostgreSQL) is taken as gone only when it has committed no batch for
STALE_AFTER, far longer than any batch takes, so that one host never marks a live import
of another as interrupted.
"""
from __future__ import annotations

import os
import socket
import threading
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict
from ..models import ImportRun, ImportRunStatus, User

STALE_AFTER = timedelta(minutes=10)
UNFINISHED = (ImportRunStatus.RUNNING, ImportRunStatus.INTERRUPTED, ImportRunStatus.FAILED)

_active: set[int] = set()       # the runs this process is running now
_active_lock = threading.Lock()


def owner() -> tuple[str, int]:
    return socket.gethostname()[:255], os.getpid()


def activate(run_id: int) -> None:
    with _active_lock:
        _active.add(run_id)


def release(run_id: int) -> None:
    with _active_lock:
        _active.discard(run_id)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stopped(run: ImportRun, now: datetime) -> bool:
    """Whether a run marked running has lost its process (see the module's notes)."""
    if run.status != ImportRunStatus.RUNNING:
        return False
    if now - run.progressed_at > STALE_AFTER:
        return True
    host, pid = owner()
    if run.host != host:
        return False
    if run.pid == pid:
        with _active_lock:
            return run.id not in _active
    return not _alive(run.pid)


def interrupt(run: ImportRun, now: datetime) -> None:
    run.status = ImportRunStatus.INTERRUPTED
    run.error = (f"the process running it ({run.host}, process {run.pid}) stopped after {run.rows_done} of "
                 f"{run.total_rows} rows")
    run.finished_at = now


def mark_stopped(session: Session, now: datetime) -> list[ImportRun]:
    """Mark every run whose process is gone as interrupted; the runs marked."""
    marked = [run for run in session.scalars(select(ImportRun).where(ImportRun.status == ImportRunStatus.RUNNING)
                                             .with_for_update()) if stopped(run, now)]
    for run in marked:
        interrupt(run, now)
    return marked


def any_stopped(session: Session, now: datetime) -> bool:
    return any(stopped(run, now) for run in session.scalars(
        select(ImportRun).where(ImportRun.status == ImportRunStatus.RUNNING)))


def unfinished(session: Session, sheet_sha256: str) -> ImportRun | None:
    """The latest run of this sheet that did not complete, if any."""
    return session.scalars(select(ImportRun).where(ImportRun.sheet_sha256 == sheet_sha256,
                                                   ImportRun.status.in_(UNFINISHED))
                           .order_by(ImportRun.id.desc()).limit(1)).first()


def claim(session: Session, sheet_sha256: str, filename: str, actor: User | None, skip_refused: bool,
          now: datetime) -> ImportRun:
    """The run a confirmed import of this sheet goes on with: the sheet's interrupted or
    failed run, resumed; or a new one. A run of the sheet that is still going is a Conflict."""
    run = session.scalars(select(ImportRun).where(ImportRun.sheet_sha256 == sheet_sha256,
                                                  ImportRun.status.in_(UNFINISHED))
                          .order_by(ImportRun.id.desc()).limit(1).with_for_update()).first()
    host, pid = owner()
    if run is not None and run.status == ImportRunStatus.RUNNING and not stopped(run, now):
        raise Conflict(f"import run #{run.id} is importing this sheet now ({run.rows_done} of {run.total_rows} rows "
                       "done); wait for it to finish", {"run": [f"run #{run.id} is running"]})
    if run is None:
        run = ImportRun(sheet_sha256=sheet_sha256, started_at=now, imported=[], rows_done=0, attempts=1,
                        total_rows=0, started_by=actor)
        session.add(run)
    else:
        run.attempts += 1
    run.filename, run.skip_refused = (filename or "")[:255], skip_refused
    run.status, run.error, run.finished_at = ImportRunStatus.RUNNING, None, None
    run.host, run.pid, run.progressed_at = host, pid, now
    session.flush()
    return run


def describe(run: ImportRun | None, now: datetime) -> dict | None:
    """A run as the doors show it; a run whose process is gone shows as interrupted."""
    if run is None:
        return None
    status = ImportRunStatus.INTERRUPTED if stopped(run, now) else run.status
    return {"id": run.id, "status": str(status), "filename": run.filename, "sheet_sha256": run.sheet_sha256,
            "started_by": run.started_by.username if run.started_by else None,
            "started_at": run.started_at.isoformat(), "progressed_at": run.progressed_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "total_rows": run.total_rows, "rows_done": run.rows_done, "imported": list(run.imported or []),
            "attempts": run.attempts, "error": run.error}
