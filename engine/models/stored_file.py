"""Files kept in the database (DUBAN_FILE_STORE=database, engine/file_store.py): evidence by
its hash and ledger sheets waiting for confirmation, reachable from every host that reaches
the database."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class StoredFile(Base):
    __tablename__ = "stored_file"

    area: Mapped[str] = mapped_column(String(40), primary_key=True)  # "evidence", "pending-imports"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)  # the hash, or a token and suffix
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)
