"""The scheduler's job store (APScheduler's SQLAlchemyJobStore table, declared here so that
the migrations create it and the schema is complete without a running scheduler)."""
from __future__ import annotations

from sqlalchemy import Column, Float, LargeBinary, Table, Unicode

from .base import Base

scheduler_jobs = Table(
    "apscheduler_jobs", Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
