"""Ledger sheets waiting between their dry run and the office's confirmation (待确认的导入).

The sheet a dry run reported on is the sheet that gets imported: it is kept on the server, in
the instance folder, under a random token that belongs to the user who uploaded it, until
it is imported or expires. Asking for the file again at confirmation would let another file
(or another version of it) be imported than the one whose report the office read.

Each sheet is two files in the file store's area `pending-imports` (engine/file_store.py, so
that the confirmation may reach another app host than the upload): `<token>.xlsx`, the
bytes as uploaded, and `<token>.json`, who uploaded what and when, and once imported the result.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from engine import clock
from engine.file_store import PENDING_IMPORTS, FileStore

KEPT_FOR = timedelta(hours=2)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{24,64}$")


@dataclass
class PendingSheet:
    token: str
    user_id: int
    filename: str
    size: int
    sha256: str
    uploaded_at: str               # ISO 8601, UTC
    expires_at: str
    result: dict | None = None     # the import's report once confirmed

    @property
    def imported(self) -> bool:
        return self.result is not None

    @property
    def uploaded(self) -> datetime:
        return datetime.fromisoformat(self.uploaded_at)

    @property
    def expires(self) -> datetime:
        return datetime.fromisoformat(self.expires_at)


class PendingSheets:
    def __init__(self, files: FileStore):
        self.files = files

    def keep(self, user_id: int, filename: str, content: bytes) -> PendingSheet:
        """Store an uploaded sheet for its uploader; sweeps the expired ones first."""
        self.sweep()
        now = clock.now()
        sheet = PendingSheet(token=secrets.token_urlsafe(24), user_id=user_id, filename=filename, size=len(content),
                             sha256=hashlib.sha256(content).hexdigest(), uploaded_at=now.isoformat(),
                             expires_at=(now + KEPT_FOR).isoformat())
        self.files.put(PENDING_IMPORTS, self._content(sheet.token), content)
        self._save(sheet)
        return sheet

    def find(self, token: str, user_id: int) -> PendingSheet | None:
        """The user's sheet under `token`; None when unknown, expired or someone else's."""
        if not _TOKEN.match(token or ""):
            return None
        sheet = self._load(token)
        if sheet is None or sheet.user_id != user_id or datetime.fromisoformat(sheet.expires_at) <= clock.now():
            return None
        return sheet

    def content(self, sheet: PendingSheet) -> bytes | None:
        content = self.files.read(PENDING_IMPORTS, self._content(sheet.token))
        if content is None:
            return None
        return content if hashlib.sha256(content).hexdigest() == sheet.sha256 else None

    def imported(self, sheet: PendingSheet, result: dict) -> None:
        """Record the import's result and drop the sheet itself: it cannot be imported twice."""
        sheet.result = result
        self._save(sheet)
        self.files.delete(PENDING_IMPORTS, self._content(sheet.token))

    def sweep(self) -> None:
        now = clock.now()
        for name in list(self.files.names(PENDING_IMPORTS)):
            if not name.endswith(".json"):
                continue
            token = name[:-len(".json")]
            sheet = self._load(token)
            if sheet is None or sheet.expires <= now:
                self.files.delete(PENDING_IMPORTS, self._content(token))
                self.files.delete(PENDING_IMPORTS, name)

    def _load(self, token: str) -> PendingSheet | None:
        raw = self.files.read(PENDING_IMPORTS, f"{token}.json")
        if raw is None:
            return None
        try:
            return PendingSheet(**json.loads(raw.decode("utf-8")))
        except (ValueError, TypeError):
            return None

    @staticmethod
    def _content(token: str) -> str:
        return f"{token}.xlsx"

    def _save(self, sheet: PendingSheet) -> None:
        self.files.put(PENDING_IMPORTS, f"{sheet.token}.json",
                       json.dumps(asdict(sheet), ensure_ascii=False).encode("utf-8"))
