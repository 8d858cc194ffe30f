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


def test_the_demo_walks_up_the_ladder_week_by_week_to_accountability(settings, database_url):
    """`duban sweep --now`, moved forward a week at a time over the demo city: every rung
    fires once, the interview names both heads (党政同责), and the top rung opens
    accountability cases."""
    from datetime import timedelta

    from click.testing import CliRunner

    from engine import clock
    from engine.models import Escalation, ProcessInstance
    from engine.service import Duban
    from web.cli import main

    duban = Duban(settings)
    load_demo(duban)
    load_day = clock.today()
    env = {"DUBAN_DATABASE_URL": database_url, "DUBAN_INSTANCE_PATH": str(settings.instance_path)}
    output = []
    for week in range(1, 11):
        moment = f"{load_day + timedelta(weeks=week)}T09:00:00+08:00"
        result = CliRunner().invoke(main, ["sweep", "--now", moment], env=env)
        assert result.exit_code == 0, result.output
        output.append(result.output)
    again = CliRunner().invoke(main, ["sweep", "--now", moment], env=env)
    assert again.exit_code == 0 and again.output.strip().endswith("0 fired"), again.output

    with duban.db.reading() as session:
        firings = session.scalars(select(Escalation).order_by(Escalation.id)).all()
        keys = [f.key for f in firings]
        assert len(keys) == len(set(keys)), "a rung fired twice"
        levels = Counter(f.level for f in firings)
        assert set(levels) == {1, 2, 3, 4, 5}, levels
        for interview in (f for f in firings if f.level == 4):
            heads = [t for t in interview.targets if t["role"] == "region_heads"]
            sides = {t["side"] for t in heads}
            assert sides == {"party", "government"} or sides == {"both"}, interview.targets
        cases = session.scalars(select(ProcessInstance).join(Escalation, ProcessInstance.escalation_id == Escalation.id)
                                .where(Escalation.level == 5)).all()
        assert cases and all(c.definition.key == "accountability" and c.subject_official_id for c in cases)
    printed = "".join(output)
    assert " L4 约谈 " in printed and "县委书记" in printed and "县长" in printed
    assert " L5 问责 " in printed
    duban.db.dispose()
