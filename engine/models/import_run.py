"""An import run (导入记录): one confirmed import of a ledger sheet, committed batch by batch.

The run is written in the same transaction as each batch of rows it registers, so what it
says it imported is exactly what is in the database. A run that stopped (the process died,
the database failed) stays as it was left, interrupted or failed, until the same sheet is
confirmed again and the run resumes (engine/excel/runs.py)."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, str_enum
from .organization import User

ERROR_LENGTH = 2000


class ImportRunStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"   # its process stopped without a word (killed, host down)
    FAILED = "failed"             # an error stopped it; `error` says which


class ImportRun(Base):
    __tablename__ = "import_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))  # None: the command line
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    progressed_at: Mapped[datetime] = mapped_column(UTCDateTime)    # the last batch committed
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    filename: Mapped[str] = mapped_column(String(255), default="")
    sheet_sha256: Mapped[str] = mapped_column(String(64), index=True)
    skip_refused: Mapped[bool] = mapped_column(Boolean, default=False)
    total_rows: Mapped[int] = mapped_column(Integer)                 # rows the run registers, all attempts together
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[list] = mapped_column(JSON, default=list)       # the codes registered, in sheet order
    attempts: Mapped[int] = mapped_column(Integer, default=1)        # 1 + the times it was resumed
    status: Mapped[ImportRunStatus] = mapped_column(str_enum(ImportRunStatus, 16), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(255))                   # who runs it: host name and process id
    pid: Mapped[int] = mapped_column(Integer)

    started_by: Mapped[User | None] = relationship()
