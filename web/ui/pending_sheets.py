"""Ledger sheets waiting between their dry run and the office's confirmation (待确认的导入).

The sheet a dry run reported on is the sheet that gets imported: it is kept on the server, in
the instance folder, under a random token that belongs to the user who uploaded it, until
it is imported or expires. Asking for the file again at confirmation would let another file
(or another version of it) be imported than the one whose report the office read.

Each sheet is two files under `<instance>/pending-imports/`: `<token>.xlsx`, the bytes as
uploaded, and `<token>.json`, who uploaded what and when, and once imported the result.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from engine import clock

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
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def keep(self, user_id: int, filename: str, content: bytes) -> PendingSheet:
        """Store an uploaded sheet for its uploader; sweeps the expired ones first."""
        self.sweep()
        self.folder.mkdir(parents=True, exist_ok=True)
        now = clock.now()
        sheet = PendingSheet(token=secrets.token_urlsafe(24), user_id=user_id, filename=filename, size=len(content),
                             sha256=hashlib.sha256(content).hexdigest(), uploaded_at=now.isoformat(),
                             expires_at=(now + KEPT_FOR).isoformat())
        self._write(self._content(sheet.token), content)
        self._save(sheet)
        return sheet

    def find(self, token: str, user_id: int) -> PendingSheet | None:
        """The user's sheet under `token`; None when unknown, expired or someone else's."""
        if not _TOKEN.match(token or ""):
            return None
        try:
            sheet = PendingSheet(**json.loads(self._meta(token).read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        if sheet.user_id != user_id or datetime.fromisoformat(sheet.expires_at) <= clock.now():
            return None
        return sheet

    def content(self, sheet: PendingSheet) -> bytes | None:
        try:
            content = self._content(sheet.token).read_bytes()
        except OSError:
            return None
        return content if hashlib.sha256(content).hexdigest() == sheet.sha256 else None

    def imported(self, sheet: PendingSheet, result: dict) -> None:
        """Record the import's result and drop the sheet itself: it cannot be imported twice."""
        sheet.result = result
        self._save(sheet)
        self._content(sheet.token).unlink(missing_ok=True)

    def sweep(self) -> None:
        if not self.folder.is_dir():
            return
        now = clock.now()
        for meta in self.folder.glob("*.json"):
            try:
                expires = datetime.fromisoformat(json.loads(meta.read_text("utf-8"))["expires_at"])
            except (OSError, ValueError, KeyError, TypeError):
                expires = now
            if expires <= now:
                self._content(meta.stem).unlink(missing_ok=True)
                meta.unlink(missing_ok=True)

    def _content(self, token: str) -> Path:
        return self.folder / f"{token}.xlsx"

    def _meta(self, token: str) -> Path:
        return self.folder / f"{token}.json"

    def _save(self, sheet: PendingSheet) -> None:
        self._write(self._meta(sheet.token), json.dumps(asdict(sheet), ensure_ascii=False).encode("utf-8"))

    @staticmethod
    def _write(path: Path, content: bytes) -> None:
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(content)
        os.replace(partial, path)
