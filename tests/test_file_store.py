"""Files reachable from every app host (engine/file_store.py): the directory store and the
database store behave alike; with the database store (or one directory every host mounts),
evidence uploaded through one host downloads through another, and a ledger sheet's dry run on
one host is confirmed on another. "Hosts" here are two Duban applications with instance
folders of their own on one database, as two machines would have."""
from __future__ import annotations

import dataclasses
import hashlib

import pytest
from sqlalchemy import func, select

from engine import file_store
from engine.errors import Invalid
from engine.file_store import EVIDENCE, PENDING_IMPORTS, DatabaseStore, DirectoryStore
from engine.models import Problem, StoredFile
from engine.service import Duban

from .helpers_flow import upload
from .test_evidence_drafts import at_rectify
from .support import Api
from .test_excel import ledger_sheet
from .test_pages import login
from .test_pages_imports import confirm, dry_run

PHOTO = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(params=["directory", "database"])
def store(request, duban, tmp_path):
    return DirectoryStore(tmp_path / "files") if request.param == "directory" else DatabaseStore(duban.db)


def test_both_stores_keep_read_replace_list_and_delete(store):
    assert store.read(EVIDENCE, "ab" * 32) is None and not store.exists(EVIDENCE, "ab" * 32)
    store.put(EVIDENCE, "ab" * 32, b"first")
    store.put(EVIDENCE, "ab" * 32, b"second", keep_existing=True)  # content-addressed: the first stays
    assert store.read(EVIDENCE, "ab" * 32) == b"first"
    store.put(PENDING_IMPORTS, "token.json", b"{}")
    store.put(PENDING_IMPORTS, "token.json", b'{"result": 1}')  # replaced
    assert store.read(PENDING_IMPORTS, "token.json") == b'{"result": 1}'
    assert list(store.names(EVIDENCE)) == ["ab" * 32] and list(store.names(PENDING_IMPORTS)) == ["token.json"]
    store.delete(EVIDENCE, "ab" * 32)
    store.delete(EVIDENCE, "ab" * 32)  # twice: nothing happens
    assert not store.exists(EVIDENCE, "ab" * 32) and list(store.names(EVIDENCE)) == []


@pytest.mark.parametrize("area, name", [("evidence", "../secret_key"), ("evidence", "a/b"), ("evidence", ".hidden"),
                                        ("evidence", ""), ("../instance", "x"), ("config", "evidence.toml")])
def test_a_name_or_area_that_could_reach_elsewhere_is_refused(store, area, name):
    with pytest.raises(ValueError):
        store.put(area, name, b"x")
    with pytest.raises(ValueError):
        store.read(area, name)


def test_an_unknown_store_is_refused_naming_the_setting(settings):
    with pytest.raises(Invalid) as refused:
        Duban(dataclasses.replace(settings, file_store="s3"))
    assert "DUBAN_FILE_STORE" in refused.value.errors


def _host(settings, tmp_path, name: str, **changes) -> Duban:
    """Another app host on the same database: an instance folder of its own."""
    return Duban(dataclasses.replace(settings, instance_path=tmp_path / name, **changes))


@pytest.fixture
def two_hosts(settings, org, tmp_path):
    """Two hosts with the database store; yields their API clients and the two engines."""
    from web import create_app

    hosts = [_host(settings, tmp_path, name, file_store="database") for name in ("host-a", "host-b")]
    apps = [create_app(duban=host) for host in hosts]
    for app in apps:
        app.config["TESTING"] = True
    yield [Api(app.test_client(), org) for app in apps], hosts
    for host in hosts:
        host.db.dispose()


def test_evidence_uploaded_through_one_host_downloads_through_the_other(two_hosts, tmp_path):
    (a, b), (host_a, _) = two_hosts
    pid = a.register()["id"]
    evidence = upload(a, pid, PHOTO, name="现场照片.png")
    answer = b.get(f"/api/evidence/{evidence}", as_="admin")
    assert answer.status_code == 200 and answer.get_data() == PHOTO
    assert answer.mimetype == "image/png" and answer.headers["Content-Disposition"].startswith("inline")
    assert "sandbox" in answer.headers["Content-Security-Policy"]
    again = b.client.get(f"/api/evidence/{evidence}",
                         headers=b._headers("admin", {"If-None-Match": answer.headers["ETag"]}))
    assert again.status_code == 304
    # nothing on either host's disk: the bytes are in the database
    assert not [p for p in tmp_path.rglob("evidence/*") if p.is_file()]
    with host_a.db.reading() as session:
        assert session.scalar(select(StoredFile.name)) == hashlib.sha256(PHOTO).hexdigest()


def test_a_draft_deleted_through_one_host_is_gone_for_both(settings, org, tmp_path):
    host_a, host_b = (_host(settings, tmp_path, name, file_store="database") for name in ("host-a", "host-b"))
    try:
        _, task = at_rectify(host_a, org)
        user = org["user:responsible"]
        draft = host_a.upload_task_evidence(user, task, "evidence", "错传.png", "image/png", PHOTO)
        assert host_b.files.read(EVIDENCE, draft.sha256) == PHOTO
        host_b.delete_evidence(user, draft.id)
        assert not host_a.files.exists(EVIDENCE, draft.sha256)
        with host_a.db.reading() as session:
            assert session.scalar(select(func.count()).select_from(StoredFile)) == 0
    finally:
        host_a.db.dispose()
        host_b.db.dispose()


def test_the_missing_content_of_an_evidence_file_answers_404_naming_it(api, duban):
    pid = api.register()["id"]
    evidence = upload(api, pid, PHOTO)
    duban.files.delete(EVIDENCE, hashlib.sha256(PHOTO).hexdigest())
    answer = api.get(f"/api/evidence/{evidence}", as_="admin")
    assert answer.status_code == 404 and f"evidence file {evidence}" in answer.json["message"]


@pytest.mark.parametrize("shared", ["database", "directory"])
def test_a_sheet_dry_run_on_one_host_is_confirmed_on_the_other(settings, org, tmp_path, shared):
    """The office uploads the sheet through one host; the confirmation, as a load balancer
    sends it, reaches the other. With the directory store both mount one folder
    (DUBAN_FILES_PATH)."""
    from web import create_app

    changes = {"file_store": "database"} if shared == "database" else {"files_path": tmp_path / "shared"}
    hosts = [_host(settings, tmp_path, name, **changes) for name in ("host-a", "host-b")]
    try:
        clients = []
        for host in hosts:
            app = create_app(duban=host)
            app.config["TESTING"] = True
            client = app.test_client()
            login(client, "admin")
            clients.append(client)
        address, html = dry_run(clients[0], ledger_sheet())
        report = clients[1].get(address)
        assert report.status_code == 200
        done = confirm(clients[1], address, report.get_data(as_text=True), skip_refused=True,
                       accept_gaps=True)
        assert done.status_code == 303, done.get_data(as_text=True)
        with hosts[0].db.reading() as session:
            assert session.scalar(select(func.count()).select_from(Problem)) > 0
        assert clients[0].get(address).status_code == 200  # the result, through the first host
    finally:
        for host in hosts:
            host.db.dispose()


def test_files_move_from_a_directory_into_the_database(duban, tmp_path):
    directory = DirectoryStore(tmp_path / "old-instance")
    directory.put(EVIDENCE, "cd" * 32, b"old evidence")
    directory.put(PENDING_IMPORTS, "t.json", b"{}")
    database = DatabaseStore(duban.db)
    assert file_store.copy(directory, database) == {EVIDENCE: 1, PENDING_IMPORTS: 1}
    assert file_store.copy(directory, database) == {EVIDENCE: 0, PENDING_IMPORTS: 0}  # again: nothing to do
    assert database.read(EVIDENCE, "cd" * 32) == b"old evidence"


def test_duban_files_load_moves_an_old_instance_folder_into_the_database(database_url, duban, tmp_path):
    from click.testing import CliRunner

    from web.cli import main

    DirectoryStore(tmp_path / "old-instance").put(EVIDENCE, "ef" * 32, b"years of evidence")
    env = {"DUBAN_DATABASE_URL": database_url, "DUBAN_INSTANCE_PATH": str(tmp_path / "new-instance"),
           "DUBAN_FILE_STORE": "database"}
    result = CliRunner().invoke(main, ["files", "load", str(tmp_path / "old-instance")], env=env)
    assert result.exit_code == 0 and "copied 1 evidence, 0 pending-imports into the database store" in result.output, \
        result.output
    assert DatabaseStore(duban.db).read(EVIDENCE, "ef" * 32) == b"years of evidence"
