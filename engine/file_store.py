"""Where Duban keeps files: evidence (佐证材料, named by its SHA-256) and ledger sheets waiting
for the office's confirmation. One interface, two places, chosen by `DUBAN_FILE_STORE`:

- `directory` (the default): files under `DUBAN_FILES_PATH` (the instance folder when unset),
  evidence as `evidence/<first two hex digits>/<sha256>`. For several app hosts this must be a
  directory every host mounts (NFS, CephFS): a file stored through one host is then read
  through any other.
- `database`: files in the `stored_file` table of the database every host already reaches;
  nothing else to share, and a backup of the database holds them.

Areas and names are the store's keys: an area is one of AREAS, a name is a hash or a token
with its suffix, never a path. Writes are atomic (a reader sees the whole file or none);
`put` given the caller's session writes inside its transaction (the database store), so that
the file and the row naming it commit together."""
from __future__ import annotations

import io
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import clock
from .errors import Invalid
from .models import StoredFile

EVIDENCE = "evidence"
PENDING_IMPORTS = "pending-imports"
AREAS = (EVIDENCE, PENDING_IMPORTS)
KINDS = ("directory", "database")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")


def check_key(area: str, name: str) -> None:
    if area not in AREAS:
        raise ValueError(f"no file area {area!r}")
    if not _NAME.match(name) or name.startswith("."):
        raise ValueError(f"not a stored file's name: {name!r}")


class FileStore(ABC):
    kind: str

    @abstractmethod
    def put(self, area: str, name: str, content: bytes, session: Session | None = None,
            keep_existing: bool = False) -> None:
        """Store `content` under the name, replacing what was there unless `keep_existing`."""

    @abstractmethod
    def open(self, area: str, name: str) -> BinaryIO | None:
        """The file to read (the caller closes it), None when there is none."""

    @abstractmethod
    def exists(self, area: str, name: str) -> bool: ...

    @abstractmethod
    def delete(self, area: str, name: str) -> None:
        """Remove the file; nothing happens when there is none."""

    @abstractmethod
    def names(self, area: str) -> Iterator[str]:
        """Every name stored in the area."""

    def read(self, area: str, name: str) -> bytes | None:
        handle = self.open(area, name)
        if handle is None:
            return None
        with handle:
            return handle.read()

    def path(self, area: str, name: str) -> Path | None:
        """The file's path on this host's disk, where it has one (served without a copy)."""
        return None


class DirectoryStore(FileStore):
    kind = "directory"

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, area: str, name: str) -> Path:
        check_key(area, name)
        if area == EVIDENCE:
            return self.root / area / name[:2] / name
        return self.root / area / name

    def path(self, area: str, name: str) -> Path | None:
        return self._path(area, name)

    def put(self, area, name, content, session=None, keep_existing=False) -> None:
        target = self._path(area, name)
        if keep_existing and target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".part-", delete=False) as handle:
            handle.write(content)
        os.replace(handle.name, target)

    def open(self, area, name) -> BinaryIO | None:
        try:
            return open(self._path(area, name), "rb")
        except (FileNotFoundError, NotADirectoryError):
            return None

    def exists(self, area, name) -> bool:
        return self._path(area, name).is_file()

    def delete(self, area, name) -> None:
        self._path(area, name).unlink(missing_ok=True)

    def names(self, area) -> Iterator[str]:
        folder = self.root / area
        if not folder.is_dir():
            return
        found = folder.rglob("*") if area == EVIDENCE else folder.iterdir()
        for path in found:
            if path.is_file() and _NAME.match(path.name) and not path.name.startswith("."):
                yield path.name


class DatabaseStore(FileStore):
    kind = "database"

    def __init__(self, db):
        self.db = db  # engine.db.Database

    def put(self, area, name, content, session=None, keep_existing=False) -> None:
        check_key(area, name)
        if session is None:
            with self.db.transaction() as own:
                self._put(own, area, name, content, keep_existing)
        else:
            self._put(session, area, name, content, keep_existing)

    @staticmethod
    def _put(session: Session, area: str, name: str, content: bytes, keep_existing: bool) -> None:
        if session.bind.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        values = {"area": area, "name": name, "content": content, "size": len(content), "stored_at": clock.now()}
        statement = insert(StoredFile).values(**values)
        if keep_existing:  # two uploads of the same evidence at once: the second finds the first
            statement = statement.on_conflict_do_nothing(index_elements=["area", "name"])
        else:
            statement = statement.on_conflict_do_update(
                index_elements=["area", "name"],
                set_={"content": values["content"], "size": values["size"], "stored_at": values["stored_at"]})
        session.execute(statement)

    def open(self, area, name) -> BinaryIO | None:
        check_key(area, name)
        with self.db.reading() as session:
            content = session.scalar(select(StoredFile.content).where(StoredFile.area == area,
                                                                      StoredFile.name == name))
        return None if content is None else io.BytesIO(content)

    def exists(self, area, name) -> bool:
        check_key(area, name)
        with self.db.reading() as session:
            return session.scalar(select(StoredFile.size).where(StoredFile.area == area,
                                                                StoredFile.name == name)) is not None

    def delete(self, area, name) -> None:
        check_key(area, name)
        with self.db.transaction() as session:
            session.execute(delete(StoredFile).where(StoredFile.area == area, StoredFile.name == name))

    def names(self, area) -> Iterator[str]:
        with self.db.reading() as session:
            found = list(session.scalars(select(StoredFile.name).where(StoredFile.area == area)
                                         .order_by(StoredFile.name)))
        yield from found


def open_store(kind: str, root: Path, db) -> FileStore:
    """The store `DUBAN_FILE_STORE` names; an unknown kind is refused naming the setting."""
    if kind == "directory":
        return DirectoryStore(root)
    if kind == "database":
        return DatabaseStore(db)
    raise Invalid(f"DUBAN_FILE_STORE must be one of {', '.join(KINDS)}, not {kind!r}",
                  {"DUBAN_FILE_STORE": [f"one of {', '.join(KINDS)}"]})


def copy(source: FileStore, target: FileStore) -> dict[str, int]:
    """Every file of `source` into `target` (files already there are kept): how many were
    copied per area. For moving an office's files from one store to the other."""
    copied = {}
    for area in AREAS:
        copied[area] = 0
        for name in list(source.names(area)):
            if target.exists(area, name):
                continue
            content = source.read(area, name)
            if content is not None:
                target.put(area, name, content, keep_existing=True)
                copied[area] += 1
    return copied
