"""Test fixtures: every test gets a fresh, migrated database on each backend.

SQLite always; PostgreSQL too when DUBAN_TEST_DATABASE_URL points at one (CI sets it). The
schema is built by the real Alembic migrations once per session; each test then starts from
empty tables (a copied SQLite file, or TRUNCATE on PostgreSQL).

The suite runs in parallel (pytest-xdist): each worker process has its own SQLite files (under
its own temporary folder) and its own PostgreSQL database, DUBAN_TEST_DATABASE_URL's name with
the worker's id after it (`test` → `test_gw0`, `test_gw1`, …), created when missing.
"""
from __future__ import annotations

import os
import shutil
from datetime import datetime

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine import clock, migrate
from engine.models import Base
from engine.service import Duban
from engine.settings import Settings

from .support import Api, build_org

WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, … in a worker; None when serial


def worker_database(url: str | None, worker: str | None = WORKER) -> str | None:
    """The PostgreSQL database this process's tests may empty: the given one when serial, its
    name with `_<worker>` after it in a worker (two workers must never drop each other's tables)."""
    if not url or not worker:
        return url
    given = make_url(url)
    return given.set(database=f"{given.database}_{worker}").render_as_string(hide_password=False)


def _create_database(url: str) -> None:
    """Create the database of `url` unless it exists, through the server's `postgres` database."""
    wanted = make_url(url)
    engine = create_engine(wanted.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                       {"name": wanted.database})
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{wanted.database}"'))
    finally:
        engine.dispose()


def own_database(url: str, suffix: str) -> str:
    """A PostgreSQL database of a test's own beside `url`'s (whose tables the other tests of the
    worker use): its name with `_<suffix>` after it, created when missing, emptied to a bare schema."""
    given = make_url(url)
    own = given.set(database=f"{given.database}_{suffix}").render_as_string(hide_password=False)
    _create_database(own)
    engine = create_engine(own)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return own


PG_URL = worker_database(os.environ.get("DUBAN_TEST_DATABASE_URL"))
START = datetime(2026, 3, 2, 9, 0, tzinfo=clock.SHANGHAI)  # a Monday, after the Spring Festival


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        backends = ["sqlite"] + (["postgresql"] if PG_URL else [])
        metafunc.parametrize("backend", backends, scope="session")


def pytest_report_header(config):
    if not PG_URL:
        return "databases: sqlite (set DUBAN_TEST_DATABASE_URL for postgresql)"
    workers = " with _gw0, _gw1, … after its name, one per worker" if getattr(config.option, "numprocesses", None) else ""
    return f"databases: sqlite, postgresql ({PG_URL.split('@')[-1]}{workers})"


@pytest.fixture(scope="session")
def migrated(backend, tmp_path_factory):
    """The URL of a database migrated to head (for SQLite: a template file to copy)."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        migrate.upgrade(f"sqlite:///{path}")
        return str(path)
    if WORKER:
        _create_database(PG_URL)
    engine = create_engine(PG_URL)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    migrate.upgrade(PG_URL)
    return PG_URL


@pytest.fixture
def database_url(backend, migrated, tmp_path):
    if backend == "sqlite":
        path = tmp_path / "duban.db"
        shutil.copyfile(migrated, path)
        return f"sqlite:///{path}"
    _empty_postgresql(migrated)
    return migrated


_emptying: dict[str, object] = {}


def _empty_postgresql(url: str) -> None:
    """Every table of the schema emptied and every sequence restarted, as TRUNCATE … RESTART
    IDENTITY would, but by DELETE with the triggers (the write-once ones, the foreign keys')
    off for this session: 20–40 ms where TRUNCATE of the 33 tables took 0.4–0.8 s a test.
    `session_replication_role` is a superuser's setting; without it, TRUNCATE."""
    engine = _emptying.get(url)
    if engine is None:  # one connection per worker, kept; no server-side prepared statements
        engine = _emptying[url] = create_engine(url, pool_size=1, connect_args={"prepare_threshold": None})
    tables = [t.name for t in Base.metadata.sorted_tables]
    try:
        with engine.begin() as connection:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            for table in tables:
                connection.execute(text(f'DELETE FROM "{table}"'))
            connection.execute(text("SELECT setval(c.oid, 1, false) FROM pg_class c "
                                    "WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace"))
        return
    except Exception:  # noqa: BLE001 - not a superuser: the slow way
        pass
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE TABLE {', '.join(f'{chr(34)}{t}{chr(34)}' for t in tables)} "
                                "RESTART IDENTITY CASCADE"))


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(START)
    yield clock
    clock.release()


@pytest.fixture
def settings(database_url, tmp_path):
    return Settings.from_env(database_url=database_url, instance_path=tmp_path / "instance",
                             secret_key="test-secret")


@pytest.fixture
def duban(settings):
    app = Duban(settings)
    app.deploy_shipped()
    yield app
    app.db.dispose()


@pytest.fixture
def org(duban):
    return build_org(duban)


@pytest.fixture
def app(duban):
    from web import create_app

    flask_app = create_app(duban=duban)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def api(app, org):
    return Api(app.test_client(), org)


def pytest_sessionfinish(session, exitstatus):
    session.config.duban_exitstatus = int(exitstatus)


def pytest_unconfigure(config):
    """A thread a test left running (a server, a scheduler's worker) must not keep the run
    from ending: name it and its stack, then end with the tests' own status.

    In parallel runs this happens in each worker after it has reported its results to the
    controller (pytest-xdist sends them from pytest_sessionfinish, before this hook), so ending
    a worker here loses nothing; the controller runs no tests and ends with the whole run's
    status."""
    import sys
    import threading
    import traceback

    leaked = [t for t in threading.enumerate()
              if t is not threading.main_thread() and t.is_alive() and not t.daemon]
    if not leaked:
        return
    frames = sys._current_frames()
    for thread in leaked:
        print(f"\nthread left running after the tests: {thread.name}", file=sys.stderr)
        traceback.print_stack(frames.get(thread.ident), file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(getattr(config, "duban_exitstatus", 0))
