"""The scheduler's job store (APScheduler's SQLAlchemyJobStore table, declared here so that
the migrations create it and the schema is complete without a running scheduler), and its
leadership lease (engine/scheduling/lease.py)."""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, LargeBinary, String, Table, Unicode

from .base import Base

scheduler_jobs = Table(
    "apscheduler_jobs", Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)

scheduler_lease = Table(
    "scheduler_lease", Base.metadata,
    Column("name", String(40), primary_key=True),
    Column("holder", String(200), nullable=True),  # host:pid:random of the process leading, None: nobody
    Column("fencing", BigInteger, nullable=False),  # raised by every taking
    Column("expires_at", Float, nullable=False),  # seconds since the epoch, by the database's clock
    Column("taken_at", Float, nullable=True),
)
