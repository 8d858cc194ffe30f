"""The audit ledger's hash chain: intact after real work, broken exactly where it was tampered
with, checked by `duban audit verify`, and unable to fork."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from engine import ledger
from engine.ledger import GENESIS
from engine.models import LedgerEntry
from web.cli import main

from .helpers_flow import drive_to, ledger_actions, upload


@pytest.fixture
def worked(api, duban):
    """A few real actions: two problems registered, one driven to its implementation step,
    evidence uploaded, a refusal recorded."""
    pid = api.register()["id"]
    api.register(code="NL-2026-002")
    drive_to(api, pid, "Task_rectify")
    upload(api, pid)
    assert api.get(f"/api/problems/{pid}", as_="outsider").status_code == 403
    entries = ledger_actions(duban)
    assert len(entries) >= 15
    return entries


def ids(duban) -> list[int]:
    return [e.id for e in ledger_actions(duban)]


def tamper(duban, sql: str, **params) -> None:
    """Change the ledger behind the application's back, the way someone with database access would."""
    with duban.db.engine.begin() as connection:
        assert connection.execute(text(sql), params).rowcount == 1


def test_the_chain_is_intact_after_real_work(duban, worked):
    result = duban.verify_ledger()
    assert result.intact and result.broken_id is None and result.reason is None
    assert result.entries == len(worked)
    assert worked[0].prev_hash == GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(worked, worked[1:]))
    assert {e.action for e in worked} >= {"definition.deployed", "problem.registered", "instance.started",
                                          "task.assigned", "task.completed", "problem.status_changed",
                                          "problem.plan_updated", "evidence.uploaded", "permission.denied"}


def test_an_empty_ledger_is_intact(duban):
    with duban.db.engine.begin() as connection:
        connection.execute(text("DELETE FROM ledger_entry"))
    result = duban.verify_ledger()
    assert result.intact and result.entries == 0


def test_editing_a_payload_breaks_the_chain_at_that_entry(duban, worked):
    victim = next(e for e in worked if e.action == "task.completed")
    changed = {**victim.payload, "data": {**victim.payload["data"], "acknowledged": False}}
    tamper(duban, "UPDATE ledger_entry SET payload = :payload WHERE id = :id", payload=json.dumps(changed),
           id=victim.id)
    with duban.db.reading() as session:
        assert session.get(LedgerEntry, victim.id).payload == changed  # the edit took
    result = duban.verify_ledger()
    assert not result.intact
    assert result.broken_id == victim.id
    assert "edited" in result.reason
    assert result.entries == worked.index(victim)  # the entries before it are intact


@pytest.mark.parametrize("column, value", [("actor_name", "某人"), ("action", "task.cancelled"),
                                           ("problem_id", None)])
def test_editing_any_covered_column_breaks_the_chain(duban, worked, column, value):
    victim = worked[len(worked) // 2]
    tamper(duban, f"UPDATE ledger_entry SET {column} = :value WHERE id = :id", value=value, id=victim.id)
    assert duban.verify_ledger().broken_id == victim.id


def test_rehashing_an_edited_entry_still_breaks_the_chain_at_the_next(duban, worked):
    """Someone who edits an entry and recomputes its hash breaks the link of the one after."""
    from engine.ledger import entry_hash

    victim, following = worked[5], worked[6]
    with duban.db.transaction() as session:
        entry = session.get(LedgerEntry, victim.id)
        entry.actor_name = "某人"
        entry.hash = entry_hash(entry)
    assert duban.verify_ledger().broken_id == following.id


def test_deleting_an_entry_in_the_middle_breaks_the_chain_at_the_next(duban, worked):
    middle = len(worked) // 2
    deleted, following = worked[middle], worked[middle + 1]
    tamper(duban, "DELETE FROM ledger_entry WHERE id = :id", id=deleted.id)
    result = duban.verify_ledger()
    assert result.broken_id == following.id
    assert "link" in result.reason
    assert result.entries == middle


def test_deleting_the_first_entry_breaks_the_chain_at_the_second(duban, worked):
    tamper(duban, "DELETE FROM ledger_entry WHERE id = :id", id=worked[0].id)
    assert duban.verify_ledger().broken_id == worked[1].id


def test_deleting_the_last_entry_goes_unnoticed_by_the_chain(duban, worked):
    """The chain's limit, pinned: cutting off its end leaves a shorter chain that is intact.
    (Only a count or last hash kept elsewhere can tell.)"""
    tamper(duban, "DELETE FROM ledger_entry WHERE id = :id", id=worked[-1].id)
    result = duban.verify_ledger()
    assert result.intact and result.entries == len(worked) - 1


def test_verify_walks_past_its_batch_size(duban, worked):
    from engine.ledger import verify

    victim = worked[-3]
    tamper(duban, "UPDATE ledger_entry SET actor_name = :name WHERE id = :id", name="某人", id=victim.id)
    with duban.db.reading() as session:
        assert verify(session, batch=4).broken_id == victim.id
        assert verify(session, batch=1).broken_id == victim.id


# -- the command line ---------------------------------------------------------------------------

def audit_verify(database_url, tmp_path):
    runner = CliRunner()
    return runner.invoke(main, ["audit", "verify"], env={
        "DUBAN_DATABASE_URL": database_url, "DUBAN_INSTANCE_PATH": str(tmp_path / "cli-instance")})


def test_cli_audit_verify_on_an_intact_chain(duban, worked, database_url, tmp_path):
    result = audit_verify(database_url, tmp_path)
    assert result.exit_code == 0, result.output
    assert f"ledger intact: {len(worked)} entries" in result.stdout
    assert result.stderr == ""


def test_cli_audit_verify_names_the_first_broken_entry(duban, worked, database_url, tmp_path):
    first, second = worked[4], worked[9]
    for victim in (second, first):
        tamper(duban, "UPDATE ledger_entry SET actor_name = :name WHERE id = :id", name="某人", id=victim.id)
    result = audit_verify(database_url, tmp_path)
    assert result.exit_code != 0
    assert f"ledger broken at entry {first.id}:" in result.stderr
    assert f"entry {second.id}" not in result.output
    assert "Traceback" not in result.output


def test_cli_audit_verify_after_a_deletion(duban, worked, database_url, tmp_path):
    deleted, following = worked[3], worked[4]
    tamper(duban, "DELETE FROM ledger_entry WHERE id = :id", id=deleted.id)
    result = audit_verify(database_url, tmp_path)
    assert result.exit_code == 1
    assert f"ledger broken at entry {following.id}:" in result.stderr


# -- the chain cannot fork ----------------------------------------------------------------------

def test_two_entries_cannot_share_a_predecessor(duban, worked):
    last = worked[-1]
    with pytest.raises(IntegrityError):
        with duban.db.transaction() as session:
            session.add(LedgerEntry(at=last.at, actor_id=None, actor_name="系统", action="task.completed",
                                    subject_type="human_task", subject_id="1", problem_id=None, payload={},
                                    prev_hash=last.prev_hash, hash="f" * 64))
            session.flush()
    with duban.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == len(worked)
    assert duban.verify_ledger().intact


def test_a_second_genesis_is_refused(duban, worked):
    with pytest.raises(IntegrityError):
        with duban.db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO ledger_entry (at, actor_name, action, subject_type, payload, prev_hash, hash) "
                "VALUES (:at, 'x', 'x', 'x', '{}', :prev, :hash)"), {
                "at": worked[0].at.replace(tzinfo=None), "prev": GENESIS, "hash": "e" * 64})


def _entry(session, what: str) -> None:
    from engine.ledger import Action, record

    record(session, Action.USER_UPDATED, actor=None, subject_type="test", subject_id=what)


def _subjects(duban) -> list[str]:
    with duban.db.reading() as session:
        return list(session.scalars(select(LedgerEntry.subject_id).where(LedgerEntry.subject_type == "test")
                                    .order_by(LedgerEntry.id)))


def test_entries_of_a_savepoint_rolled_back_are_not_written(duban):
    with duban.db.transaction() as session:
        _entry(session, "before")
        try:
            with session.begin_nested():
                _entry(session, "inside, rolled back")
                with session.begin_nested():
                    _entry(session, "deeper, rolled back with it")
                raise ValueError("the savepoint fails")
        except ValueError:
            pass
        with session.begin_nested():
            _entry(session, "inside, released")
        _entry(session, "after")
    assert _subjects(duban) == ["before", "inside, released", "after"]
    with duban.db.reading() as session:
        assert ledger.verify(session).intact


def test_a_transaction_reading_the_ledger_sees_what_it_recorded(duban):
    with duban.db.transaction() as session:
        _entry(session, "first")
        seen = list(session.scalars(select(LedgerEntry.subject_id).where(LedgerEntry.subject_type == "test")))
        _entry(session, "second")
    assert seen == ["first"] and _subjects(duban) == ["first", "second"]
    with duban.db.reading() as session:
        assert ledger.verify(session).intact


def test_an_action_holds_the_ledger_only_while_it_commits(duban, settings):
    """Entries are chained as their transaction commits: another action records and commits
    while the first, which recorded entries long before, is still at work; both are chained,
    in the order they committed."""
    import threading

    from engine.service import Duban

    other = Duban(settings)
    done = threading.Event()
    try:
        with duban.db.transaction() as session:
            _entry(session, "long action")
            session.flush()  # its work goes on, written and not committed

            def short_action():
                with other.db.transaction() as session_:
                    _entry(session_, "short action")
                done.set()
            thread = threading.Thread(target=short_action, daemon=True)
            thread.start()
            thread.join(10 if not duban.db.is_sqlite else 0.5)
            if not duban.db.is_sqlite:  # on SQLite a write transaction holds the whole database
                assert done.is_set(), "the second action waited for the first one's end"
        thread.join(10)
    finally:
        other.db.dispose()
    if duban.db.is_sqlite:  # in whichever order SQLite let them write
        assert sorted(_subjects(duban)) == ["long action", "short action"]
    else:
        assert _subjects(duban) == ["short action", "long action"]
    with duban.db.reading() as session:
        assert ledger.verify(session).intact
