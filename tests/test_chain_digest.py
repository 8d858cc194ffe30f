"""SM3 for the chains (密评, GB/T 39786): a database set up with DUBAN_CHAIN_DIGEST=sm3 chains its
ledger and its security log with SM3, `duban audit verify` checks them and finds an edit; a
database whose chains already hold SHA-256 entries keeps SHA-256; an unknown digest is refused
naming the setting, with nothing set up."""
from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text

from engine import migrate
from engine.ledger import _canonical, entry_hash
from engine.models import LedgerEntry, SecurityEvent
from engine.security_log import event_hash
from engine.service import Duban
from engine.settings import Settings

from .conftest import PG_URL, own_database
from .support import Api, build_org
from web.cli import main

SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"  # GB/T 32905's example


def fresh(backend: str, tmp_path, name: str) -> str:
    return f"sqlite:///{tmp_path / f'{name}.db'}" if backend == "sqlite" else own_database(PG_URL, name)


def cli(url, tmp_path, *args, **env):
    return CliRunner().invoke(main, list(args), env={"DUBAN_DATABASE_URL": url,
                                                   "DUBAN_INSTANCE_PATH": str(tmp_path / "cli"), **env})


def test_this_machine_computes_sm3():
    assert hashlib.new("sm3", b"abc").hexdigest() == SM3_ABC


def test_a_new_installation_set_up_with_sm3_chains_both_logs_with_it(backend, tmp_path, monkeypatch):
    url = fresh(backend, tmp_path, "sm3")
    done = cli(url, tmp_path, "db", "upgrade", DUBAN_CHAIN_DIGEST="sm3")
    assert done.exit_code == 0, done.output
    duban = Duban(Settings.from_env(database_url=url, instance_path=tmp_path / "instance", secret_key="s"))
    try:
        duban.deploy_shipped()
        org = build_org(duban)
        from web import create_app

        app = create_app(duban=duban)
        app.config["TESTING"] = True
        api = Api(app.test_client(), org)
        api.register()
        with duban.db.reading() as session:
            entries = session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)).all()
            events = session.scalars(select(SecurityEvent).order_by(SecurityEvent.id)).all()
        assert entries and events
        for entry in entries:
            assert entry.hash == entry_hash(entry, "sm3") != entry_hash(entry, "sha256")
        first = entries[0]
        body = {"id": first.id, "at": first.at.isoformat(), "actor_id": first.actor_id, "actor_name": first.actor_name,
                "action": first.action, "subject_type": first.subject_type, "subject_id": first.subject_id,
                "problem_id": first.problem_id, "payload": first.payload, "prev_hash": first.prev_hash}
        if first.request_id is not None:
            body["request_id"] = first.request_id
        assert first.hash == hashlib.new("sm3", _canonical(body).encode()).hexdigest()
        assert all(e.hash == event_hash(e, "sm3") for e in events)
        verified = cli(url, tmp_path, "audit", "verify")
        assert verified.exit_code == 0 and "ledger intact" in verified.output and "security log intact" in \
            verified.output, verified.output
        with duban.db.engine.begin() as connection:
            connection.execute(text("UPDATE ledger_entry SET actor_name = 'someone' WHERE id = :id"), {"id": first.id})
        broken = cli(url, tmp_path, "audit", "verify")
        assert broken.exit_code == 1 and f"ledger broken at entry {first.id}" in broken.output, broken.output
    finally:
        duban.db.dispose()


def test_a_database_already_chained_keeps_sha256(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0027_security_event")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO ledger_entry (at, actor_name, action, subject_type, payload, prev_hash, "
                                "hash) VALUES ('2026-01-01 00:00:00', '系统', 'x', 'y', '{}', :p, :h)"),
                           {"p": "0" * 64, "h": "1" * 64})
    done = cli(url, tmp_path, "db", "upgrade", DUBAN_CHAIN_DIGEST="sm3")
    assert done.exit_code == 0, done.output
    with engine.connect() as connection:
        assert connection.execute(text("SELECT value FROM chain_setting")).scalar() == "sha256"
    engine.dispose()


def test_an_unknown_digest_is_refused_naming_the_setting(tmp_path):
    url = f"sqlite:///{tmp_path / 'md5.db'}"
    refused = cli(url, tmp_path, "db", "upgrade", DUBAN_CHAIN_DIGEST="md5")
    assert refused.exit_code == 2 and "DUBAN_CHAIN_DIGEST must be one of sha256, sm3" in refused.output, \
        refused.output
    engine = create_engine(url)
    with engine.connect() as connection:  # the migrations before stand; this one did not run
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0027_security_event"
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_digest_in_the_environment(monkeypatch):
    monkeypatch.delenv("DUBAN_CHAIN_DIGEST", raising=False)
