"""The command line on a database whose schema is not the code's: a clear word and exit 2,
never a traceback naming a missing table."""
from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

from engine import migrate
from web.cli import main


@pytest.fixture
def env(tmp_path):
    return {"DUBAN_DATABASE_URL": f"sqlite:///{tmp_path / 'duban.db'}", "DUBAN_INSTANCE_PATH": str(tmp_path / "i")}


def run(env, *args):
    result = CliRunner().invoke(main, list(args), env=env)
    assert "Traceback" not in result.output and not isinstance(result.exception, (AttributeError, TypeError))
    return result


def test_a_database_without_a_schema_is_named_with_the_command_that_makes_one(env):
    for command in (["demo"], ["sweep"], ["audit", "verify"]):
        result = run(env, *command)
        assert result.exit_code == 2, result.output
        assert "no schema yet" in result.output and "duban db upgrade" in result.output, result.output
    assert run(env, "db", "upgrade").exit_code == 0
    assert run(env, "audit", "verify").exit_code == 0


def test_a_schema_behind_or_ahead_of_the_code_is_named(env, tmp_path):
    migrate.upgrade(env["DUBAN_DATABASE_URL"], "0022_list_indexes")
    result = run(env, "sweep")
    assert result.exit_code == 2 and "0022_list_indexes" in result.output and "duban db upgrade" in result.output, \
        result.output
    migrate.upgrade(env["DUBAN_DATABASE_URL"])
    with sqlite3.connect(tmp_path / "duban.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0999_from_the_future'")
    result = run(env, "sweep")
    assert result.exit_code == 2 and "0999_from_the_future" in result.output and "newer release" in result.output, \
        result.output
