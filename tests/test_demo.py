"""`duban demo`: the demo city loads, spreads its problems over the stages, and loads once."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from engine.demo import load_demo
from engine.models import LedgerEntry, Problem, User


def test_demo_loads_once_with_problems_at_every_stage(settings):
    from engine.service import Duban

    duban = Duban(settings)
    first = load_demo(duban)
    assert first.created["problems"] == 20 and first.created["users"] == len(first.accounts)
    with duban.db.reading() as session:
        statuses = Counter(p.status.value for p in session.scalars(select(Problem)))
        times = list(session.scalars(select(LedgerEntry.at).order_by(LedgerEntry.id)))
        usernames = set(session.scalars(select(User.username)))
    assert set(statuses) == {"registered", "planning", "rectifying", "accepting", "public_notice", "closed"}
    assert times == sorted(times), "the demo's history is written in time order"
    assert {"admin", "jiwei"} <= usernames
    assert duban.verify_ledger().intact

    again = load_demo(duban)
    assert sum(again.created.values()) == 0 and again.present["problems"] == 20
    assert again.accounts == first.accounts
    duban.sign_in("admin", "duban-demo")
    duban.db.dispose()
