"""Diagrams held to be finished in the modeler: an upload that cannot be deployed yet (a file
from Camunda Modeler with no executable process, conditions to translate …) is kept, as
UTF-8, under a random name in the instance folder, so that 在编辑器中打开 opens it instead of
the administrator losing it to the refusal.

Bounded: one diagram at most MAX_BYTES, at most MAX_HELD kept (the oldest go first), each
for KEEP (by the engine's clock); expired ones are removed whenever another is held."""
from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from .. import clock

MAX_BYTES = 10 * 1024 * 1024
MAX_HELD = 200
KEEP = timedelta(days=7)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")


@dataclass
class HeldDiagram:
    token: str
    xml: str
    filename: str
    held_at: datetime
    held_by: int | None


class HeldDiagrams:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def hold(self, xml: str, filename: str, user_id: int | None) -> str:
        """Keep `xml` (already decoded) and return its random token."""
        data = xml.encode("utf-8")
        if len(data) > MAX_BYTES:
            raise ValueError(f"a held diagram is at most {MAX_BYTES // 1024 // 1024} MiB")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._prune()
        token = secrets.token_urlsafe(24)
        (self.directory / f"{token}.bpmn").write_bytes(data)
        (self.directory / f"{token}.json").write_text(json.dumps({
            "filename": filename[:200], "held_at": clock.now().isoformat(), "held_by": user_id}))
        return token

    def get(self, token: str) -> HeldDiagram | None:
        """The diagram held under `token`, or None (unknown, malformed or expired)."""
        if not _TOKEN.match(token or ""):
            return None
        body, meta = self.directory / f"{token}.bpmn", self.directory / f"{token}.json"
        try:
            info = json.loads(meta.read_text())
            held_at = datetime.fromisoformat(info["held_at"])
            if clock.now() - held_at > KEEP:
                return None
            return HeldDiagram(token, body.read_text(encoding="utf-8"), info.get("filename") or "upload.bpmn",
                               held_at, info.get("held_by"))
        except (OSError, ValueError, KeyError):
            return None

    def _prune(self) -> None:
        """Remove the expired, and the oldest beyond MAX_HELD - 1."""
        held = []
        for meta in self.directory.glob("*.json"):
            try:
                held_at = datetime.fromisoformat(json.loads(meta.read_text())["held_at"])
            except (OSError, ValueError, KeyError):
                held_at = None
            held.append((held_at, meta))
        now = clock.now()
        held.sort(key=lambda pair: (pair[0] is not None, pair[0] or now))
        keep = MAX_HELD - 1
        for index, (held_at, meta) in enumerate(held):
            if held_at is None or now - held_at > KEEP or index < len(held) - keep:
                meta.unlink(missing_ok=True)
                meta.with_suffix(".bpmn").unlink(missing_ok=True)
