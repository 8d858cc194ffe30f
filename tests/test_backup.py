"""`duban backup` while `duban serve` takes registrations and evidence, and `duban restore` into
an empty database: the ledger verifies, every write acknowledged before the backup began is
there, with its evidence; a restore is refused, with nothing written, into a database that is
not empty, of another kind, or from a file that is not a backup."""
from __future__ import annotations

import hashlib
import http.client
import io
import json
import subprocess
import tarfile
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from engine import backup as backups
from engine import file_store
from engine.errors import Invalid
from engine.models import EvidenceFile, Problem
from engine.settings import Settings

from .conftest import own_database
from .served import BIN, demo_served, duban_env, token
from .test_scheduler import wait_for
from .test_serve_load import Client, registration

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 48


def upload(base: str, bearer: str, problem_id: int, content: bytes) -> tuple[int, dict | None]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("POST", f"/api/problems/{problem_id}/evidence", body=body,
                           headers={"Authorization": f"Bearer {bearer}",
                                    "Content-Type": f"multipart/form-data; boundary={boundary}"})
        answer = connection.getresponse()
        raw = answer.read()
        return answer.status, json.loads(raw) if raw else None
    finally:
        connection.close()


def restored_url(backend: str, database_url: str, tmp_path) -> str:
    """An empty database of the same kind to restore into."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'restored.db'}"
    return own_database(database_url, "restored")


def duban_command(env: dict, *arguments: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "duban"), *arguments], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("store", ["directory", "database"])
def test_a_backup_under_load_restores_with_every_acknowledged_write(backend, database_url, tmp_path, monkeypatch,
                                                                     store):
    monkeypatch.setenv("DUBAN_FILE_STORE", store)
    with demo_served(database_url, tmp_path) as (base, _):
        admin = token(base, "admin")
        probe = Client(base, admin)
        status, page = probe.call("GET", "/api/problems?per_page=1")
        assert status == 200, page
        model = probe.call("GET", f"/api/problems/{page['items'][0]['id']}")[1]
        acknowledged: list[tuple[float, str]] = []
        uploads: list[tuple[float, int, str]] = []
        wrong: list[str] = []
        stop = threading.Event()

        def register(index: int):
            client = Client(base, admin)
            serial = 0
            while not stop.is_set():
                serial += 1
                code = f"BACKUP-{index}-{serial:04d}"
                status, body = client.call("POST", "/api/problems", dict(registration(model), code=code))
                if status == 201:
                    acknowledged.append((time.monotonic(), code))
                    if serial % 3 == 0:
                        content = PNG + f"{code}".encode()
                        status, body = upload(base, admin, body["id"], content)
                        if status == 201:
                            uploads.append((time.monotonic(), body["id"], hashlib.sha256(content).hexdigest()))
                        else:
                            wrong.append(f"upload -> {status}: {body}")
                else:
                    wrong.append(f"POST {code} -> {status}: {body}")

        workers = [threading.Thread(target=register, args=(n,)) for n in range(3)]
        for worker in workers:
            worker.start()
        try:
            assert wait_for(lambda: len(acknowledged) >= 5, timeout=120, step=0.1), wrong[:5]  # the load is on
            began = time.monotonic()
            env = duban_env(database_url, tmp_path / "instance")
            made = duban_command(env, "backup", str(tmp_path / "backup.tar"))
            ended = len(acknowledged)
            assert wait_for(lambda: len(acknowledged) > ended, timeout=120, step=0.1)  # and goes on after it
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=60)
        assert made.returncode == 0, made.stderr
        assert not wrong, wrong[:5]
        before = {code for moment, code in acknowledged if moment < began}
        assert len(before) >= 5 and len(acknowledged) > len(before), (len(before), len(acknowledged))

    target = restored_url(backend, database_url, tmp_path)
    env = duban_env(target, tmp_path / "restored-instance")
    loaded = duban_command(env, "restore", str(tmp_path / "backup.tar"))
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "evidence contents" not in loaded.stdout  # nothing missing
    verified = duban_command(env, "audit", "verify")
    assert verified.returncode == 0 and "ledger intact" in verified.stdout, verified.stdout + verified.stderr

    settings = Settings.from_env(database_url=target, instance_path=tmp_path / "restored-instance")
    from engine.service import Duban

    restored = Duban(settings)
    try:
        with restored.db.reading() as session:
            codes = set(session.scalars(select(Problem.code).where(Problem.code.like("BACKUP-%"))))
            stored = {row.id: row.sha256 for row in session.scalars(select(EvidenceFile))}
        assert before <= codes, sorted(before - codes)[:5]
        for moment, evidence_id, sha256 in uploads:
            if moment < began:
                assert stored.get(evidence_id) == sha256
                assert hashlib.sha256(restored.files.read(file_store.EVIDENCE, sha256)).hexdigest() == sha256
    finally:
        restored.db.dispose()
    print(f"\n{backend}/{store}: {len(before)} registrations before the backup, {len(acknowledged)} in all")


def _backup(duban, tmp_path) -> str:
    path = tmp_path / "made.tar"
    backups.backup(duban, path)
    return path


def test_a_restore_is_refused_into_a_database_that_is_not_empty(duban, settings, tmp_path):
    path = _backup(duban, tmp_path)
    with pytest.raises(Invalid) as refused:
        backups.restore(settings, path)
    assert "not empty" in refused.value.message and "DUBAN_DATABASE_URL" in refused.value.errors


def test_a_restore_is_refused_from_another_kind_of_database(duban, backend, tmp_path):
    path = _backup(duban, tmp_path)
    other = ("postgresql+psycopg://postgres@127.0.0.1:5432/nowhere" if backend == "sqlite"
             else f"sqlite:///{tmp_path / 'other.db'}")
    with pytest.raises(Invalid) as refused:
        backups.restore(Settings.from_env(database_url=other, instance_path=tmp_path / "other"), path)
    assert f"backup of a {backend} database" in refused.value.message
    assert not (tmp_path / "other.db").exists() or (tmp_path / "other.db").stat().st_size == 0


def _tar(path, members: dict[str, bytes], link: str | None = None):
    with tarfile.open(path, "w") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        if link:
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(info)
    return path


MANIFEST = json.dumps({"format": 1, "database": "sqlite"}).encode()


@pytest.mark.parametrize("members, link, words", [
    ({}, None, "no readable manifest.json"),
    ({"manifest.json": b"{not json"}, None, "no readable manifest.json"),
    ({"manifest.json": json.dumps({"format": 99, "database": "sqlite"}).encode()}, None, "format"),
    ({"manifest.json": MANIFEST, "database.sqlite": b"", "../../etc/cron.d/x": b"x"}, None, "no backup writes"),
    ({"manifest.json": MANIFEST, "database.sqlite": b"", "files/evidence/../../x": b"x"}, None, "no backup writes"),
    ({"manifest.json": MANIFEST, "database.sqlite": b""}, "files/evidence/ab", "not a regular file"),
    ({"manifest.json": MANIFEST}, None, "no database.sqlite"),
])
def test_a_file_that_is_not_a_sound_backup_is_refused_with_nothing_written(tmp_path, members, link, words):
    target = tmp_path / "target.db"
    settings = Settings.from_env(database_url=f"sqlite:///{target}", instance_path=tmp_path / "instance")
    with pytest.raises(Invalid) as refused:
        backups.restore(settings, _tar(tmp_path / "odd.tar", members, link))
    assert words in refused.value.message
    assert not target.exists() or target.stat().st_size == 0
    assert not (tmp_path / "instance" / "evidence").exists()
    not_a_tar = tmp_path / "junk.tar"
    not_a_tar.write_bytes(b"junk" * 100)
    with pytest.raises(Invalid) as refused:
        backups.restore(settings, not_a_tar)
    assert "not a backup made by duban backup" in refused.value.message


def test_a_restore_under_another_data_key_says_the_second_factors_need_the_old_key(duban, org, backend,
                                                                                  database_url, tmp_path, monkeypatch):
    """The data key that seals second-factor secrets is kept apart from backups: the manifest
    names which key it was (a fingerprint, never the key), and a restore under another key says
    what to put in place, and exits 1 from the command line."""
    from engine import second_factor
    from engine.models import User

    with duban.db.transaction() as session:
        admin = session.get(User, org["user:admin"])
        enrolment = second_factor.begin(session, admin, duban.sealer)
        second_factor.confirm(session, admin, second_factor.current_code(enrolment.secret), duban.sealer)
    path = _backup(duban, tmp_path)
    with tarfile.open(path) as archive:
        manifest = json.loads(archive.extractfile("manifest.json").read())
    key = (duban.settings.instance_path / "data_key").read_text().strip()
    assert manifest["data_key"] == duban.sealer.fingerprint and key not in json.dumps(manifest)

    monkeypatch.delenv("DUBAN_DATA_KEY", raising=False)
    monkeypatch.delenv("DUBAN_DATA_KEY_FILE", raising=False)
    (tmp_path / "a").mkdir()
    elsewhere = backups.restore(Settings.from_env(database_url=restored_url(backend, database_url, tmp_path / "a"),
                                                  instance_path=tmp_path / "new-host"), path)
    assert elsewhere.other_data_key[0] == duban.sealer.fingerprint
    assert "DUBAN_DATA_KEY" in elsewhere.summary()

    monkeypatch.setenv("DUBAN_DATA_KEY", key)  # the backed-up installation's key, put in place
    (tmp_path / "b").mkdir()
    target = (f"sqlite:///{tmp_path / 'b' / 'restored.db'}" if backend == "sqlite"
              else own_database(database_url, "restored_key"))
    same = backups.restore(Settings.from_env(database_url=target, instance_path=tmp_path / "host-b"), path)
    assert same.other_data_key is None and "data key" not in same.summary()
