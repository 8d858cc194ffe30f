"""The audit ledger (留痕): append-only, each entry chained to the one before by its hash."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class LedgerEntry(Base):
    __tablename__ = "ledger_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_name: Mapped[str] = mapped_column(String(60), index=True)  # the action log filters by it
    action: Mapped[str] = mapped_column(String(40), index=True)
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(60))
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problem.id"), index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)  # engine/request_id.py
    # unique: two entries can never claim the same predecessor, so the chain cannot fork
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64))


# the digest that chains the ledger and the security log (engine/chain_digest.py): one row, "digest"
chain_setting = Table(
    "chain_setting", Base.metadata,
    Column("name", String(40), primary_key=True),
    Column("value", String(40), nullable=False),
)
