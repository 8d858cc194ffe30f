"""`duban backup` and `duban restore`: a consistent copy of the database and the stored files,
taken while Duban serves, and loaded back into an empty database.

A backup is one tar file:

- `manifest.json`: what it holds (the database's kind, its schema revision, when, the files);
- `database.sqlite` (SQLite's online backup API: a snapshot while others write) or
  `database.pgdump` (`pg_dump --format=custom`: one transaction's snapshot);
- `files/<area>/<name>`: the directory store's files (the database store's are in the dump).

Files are content-addressed and never changed in place, so the copy is made around the
database's snapshot: every file present is copied before the snapshot, and those that came
during it after; a restore names any evidence its database refers to and the files lack.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.engine import make_url

from . import clock, file_store, sealed
from .errors import Invalid
from .models import EvidenceFile, SecondFactor

FORMAT = 1
_DATABASE_MEMBERS = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}


class BackupFailed(Invalid):
    def __init__(self, message: str, field_name: str = "backup"):
        super().__init__(message, {field_name: [message]})


@dataclass
class BackupReport:
    path: Path
    database: str
    revision: str | None
    files: dict[str, int] = field(default_factory=dict)
    size: int = 0

    def summary(self) -> str:
        files = ", ".join(f"{count} {area}" for area, count in self.files.items()) or "none (in the database)"
        return (f"backup written to {self.path}: {self.database} database at revision {self.revision}, "
                f"files: {files}; {self.size / 1e6:.1f} MB")


@dataclass
class RestoreReport:
    database: str
    revision: str | None
    files: int
    missing_evidence: list[str]
    # second-factor secrets sealed under another data key than this installation's: (theirs, ours)
    other_data_key: tuple[str, str] | None = None

    def summary(self) -> str:
        words = f"restored a {self.database} database at revision {self.revision} and {self.files} files"
        if self.missing_evidence:
            words += (f"; {len(self.missing_evidence)} evidence contents its rows refer to are not in the backup "
                      f"(first: {self.missing_evidence[0]})")
        if self.other_data_key:
            theirs, ours = self.other_data_key
            words += (f"; its second-factor secrets are sealed under data key {theirs} and this installation's "
                      f"key is {ours}: put the backed-up installation's key in place (DUBAN_DATA_KEY or "
                      f"DUBAN_DATA_KEY_FILE) before serving, or every second factor must be reset")
        return words


def _kind(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in _DATABASE_MEMBERS:
        raise BackupFailed(f"backups are made of SQLite and PostgreSQL databases, not {name}", "DUBAN_DATABASE_URL")
    return name


def _pg_environment(url: str) -> dict:
    """libpq's variables for the URL: the password never on a command line others can read."""
    parts = make_url(url)
    env = dict(os.environ)
    for variable, value in (("PGHOST", parts.host), ("PGPORT", parts.port), ("PGUSER", parts.username),
                            ("PGPASSWORD", parts.password), ("PGDATABASE", parts.database)):
        if value is not None:
            env[variable] = str(value)
    return env


def _run(tool: str, arguments: list[str], url: str) -> None:
    if shutil.which(tool) is None:
        raise BackupFailed(f"{tool} is not installed: install PostgreSQL's client programs (Debian: "
                           f"postgresql-client), of the server's major version or newer")
    done = subprocess.run([tool, *arguments], env=_pg_environment(url), capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupFailed(f"{tool} failed: {done.stderr.strip()[-2000:]}")


def _sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupFailed("a SQLite database in memory has nothing to back up", "DUBAN_DATABASE_URL")
    return Path(database)


def _snapshot(url: str, target: Path) -> None:
    if _kind(url) == "sqlite":
        import sqlite3

        source = sqlite3.connect(_sqlite_file(url))
        copy = sqlite3.connect(target)
        try:
            with copy:
                source.backup(copy)
        finally:
            copy.close()
            source.close()
    else:
        _run("pg_dump", ["--format=custom", "--no-owner", "--no-privileges", f"--file={target}"], url)


def _add_file(archive: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(content), int(clock.now().timestamp()), 0o600
    archive.addfile(info, io.BytesIO(content))


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o600
    return info


def backup(duban, path: Path) -> BackupReport:
    """Write the backup to `path` (replaced atomically once complete)."""
    from .migrate import current_revision

    path = Path(path)
    url = duban.settings.database_url
    report = BackupReport(path=path, database=_kind(url), revision=current_revision(duban.db.engine))
    copy_files = duban.files.kind == "directory"
    copied: set[tuple[str, str]] = set()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".duban-backup-") as work, \
            tarfile.open(partial, "w") as archive:

        def add_files() -> None:
            for area in file_store.AREAS:
                for name in list(duban.files.names(area)):
                    if (area, name) in copied:
                        continue
                    content = duban.files.read(area, name)
                    if content is not None:
                        _add_file(archive, f"files/{area}/{name}", content)
                        copied.add((area, name))
                        report.files[area] = report.files.get(area, 0) + 1

        if copy_files:
            add_files()
        database = Path(work) / _DATABASE_MEMBERS[report.database]
        _snapshot(url, database)
        if copy_files:
            add_files()  # those stored while the snapshot was taken
        archive.add(database, arcname=database.name, filter=_plain)
        manifest = {"format": FORMAT, "database": report.database, "revision": report.revision,
                    "made_at": clock.now().isoformat(), "file_store": duban.files.kind,
                    # not the key (kept apart from backups, engine/sealed.py): which key it is
                    "data_key": duban.sealer.fingerprint,
                    "files": {area: count for area, count in report.files.items()}}
        _add_file(archive, "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
    os.replace(partial, path)
    report.size = path.stat().st_size
    return report


def _read_manifest(archive: tarfile.TarFile) -> dict:
    try:
        member = archive.getmember("manifest.json")
        manifest = json.loads(archive.extractfile(member).read().decode("utf-8"))
    except (KeyError, ValueError, AttributeError) as error:
        raise BackupFailed(f"not a Duban backup: no readable manifest.json ({error})", "path") from None
    if manifest.get("format") != FORMAT or manifest.get("database") not in _DATABASE_MEMBERS:
        raise BackupFailed(f"a backup of a format this release does not read: {manifest.get('format')!r}", "path")
    return manifest


def _empty(url: str) -> list[str]:
    """The tables the target database already has (a restore goes only into an empty one)."""
    engine = create_engine(url)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


def restore(settings, path: Path) -> RestoreReport:
    """Load the backup at `path` into the empty database of `settings`, its files into the
    file store `settings` names. Refused, with nothing written, when the database is not
    empty, is of another kind than the backup's, or the file is not a backup."""
    from .db import Database
    from .migrate import current_revision

    path = Path(path)
    url = settings.database_url
    try:
        archive = tarfile.open(path, "r")
    except (OSError, tarfile.TarError) as error:
        raise BackupFailed(f"{path} is not a backup made by duban backup (not a readable tar file: "
                           f"{type(error).__name__})", "path") from None
    with archive:
        manifest = _read_manifest(archive)
        kind = _kind(url)
        if manifest["database"] != kind:
            raise BackupFailed(f"this is a backup of a {manifest['database']} database; DUBAN_DATABASE_URL names "
                               f"a {kind} one", "DUBAN_DATABASE_URL")
        members = _checked_members(archive, manifest)
        present = _empty(url)
        if present:
            raise BackupFailed(f"the database of DUBAN_DATABASE_URL is not empty ({len(present)} tables, among them "
                               f"{sorted(present)[0]}): restore only into a new, empty database", "DUBAN_DATABASE_URL")
        with tempfile.TemporaryDirectory(prefix=".duban-restore-") as work:
            database = Path(work) / _DATABASE_MEMBERS[kind]
            with archive.extractfile(members["database"]) as source, open(database, "wb") as target:
                shutil.copyfileobj(source, target)
            if kind == "sqlite":
                target = _sqlite_file(url)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(database, target.with_name(target.name + ".part"))
                os.replace(target.with_name(target.name + ".part"), target)
            else:
                _run("pg_restore", ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                                    f"--dbname={make_url(url).database}", str(database)], url)
        db = Database(url)
        try:
            files = file_store.open_store(settings.file_store, settings.files_root, db)
            for (area, name), member in members["files"].items():
                with archive.extractfile(member) as source:
                    files.put(area, name, source.read(), keep_existing=True)
            with db.reading() as session:
                hashes = set(session.scalars(select(EvidenceFile.sha256).distinct()))
                sealed_secrets = (session.scalar(select(func.count()).select_from(SecondFactor))
                                  if inspect(db.engine).has_table(SecondFactor.__tablename__) else 0)
            missing = sorted(sha for sha in hashes if not files.exists(file_store.EVIDENCE, sha))
            ours = sealed.Sealer(sealed.load_key(settings.instance_path)).fingerprint
            theirs = manifest.get("data_key")
            return RestoreReport(database=kind, revision=current_revision(db.engine), files=len(members["files"]),
                                 missing_evidence=missing,
                                 other_data_key=(theirs, ours) if sealed_secrets and theirs and theirs != ours else None)
        finally:
            db.dispose()


def _checked_members(archive: tarfile.TarFile, manifest: dict) -> dict:
    """The backup's members, each a regular file at a name a backup writes; anything else
    (a link, a path climbing out, an unknown name) refuses the whole backup."""
    wanted = _DATABASE_MEMBERS[manifest["database"]]
    found = {"database": None, "files": {}}
    for member in archive.getmembers():
        if not member.isfile():
            raise BackupFailed(f"the backup holds {member.name!r}, which is not a regular file", "path")
        if member.name == "manifest.json":
            continue
        if member.name == wanted:
            found["database"] = member
            continue
        parts = member.name.split("/")
        if len(parts) == 3 and parts[0] == "files":
            try:
                file_store.check_key(parts[1], parts[2])
            except ValueError:
                pass
            else:
                found["files"][(parts[1], parts[2])] = member
                continue
        raise BackupFailed(f"the backup holds {member.name!r}, which no backup writes", "path")
    if found["database"] is None:
        raise BackupFailed(f"the backup has no {wanted}", "path")
    return found
