"""Evidence files (佐证材料): stored once per content under instance/evidence, named by hash."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from sqlalchemy.orm import Session

from . import clock, ledger
from .errors import Invalid
from .ledger import Action
from .models import EvidenceFile, Problem, User

MAX_BYTES = 50 * 1024 * 1024


def path_for(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


def store(session: Session, root: Path, problem: Problem, filename: str, content_type: str, content: bytes,
          actor: User) -> EvidenceFile:
    if not content:
        raise Invalid("the file is empty", {"file": ["the file is empty"]})
    if len(content) > MAX_BYTES:
        raise Invalid("the file is too large", {"file": [f"at most {MAX_BYTES // (1024 * 1024)} MiB"]})
    name = re.sub(r"[\\/\x00-\x1f]", "_", os.path.basename(filename or "")).strip() or "evidence"
    digest = hashlib.sha256(content).hexdigest()
    target = path_for(root, digest)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
            handle.write(content)
        os.replace(handle.name, target)
    row = EvidenceFile(problem_id=problem.id, sha256=digest, filename=name[:255],
                       content_type=(content_type or "application/octet-stream")[:100], size=len(content),
                       uploaded_by_id=actor.id, uploaded_at=clock.now())
    session.add(row)
    session.flush()
    ledger.record(session, Action.EVIDENCE_UPLOADED, actor=actor, subject_type="evidence_file", subject_id=row.id,
                  problem_id=problem.id, payload={"filename": row.filename, "sha256": digest, "size": row.size})
    return row
