"""The escalation ladder: each level on its working day, to the right people (党政同责),
exactly once, rules as versioned data, forecast and catch-up after downtime."""
from __future__ import annotations

import threading
from datetime import datetime

import pytest
from sqlalchemy import select

from engine import clock
from engine.errors import Invalid
from engine.escalation.targets import HEAD_TARGETS, TARGETS, resolve
from engine.organization import region_heads, unit_heads
from engine.models import Escalation, EscalationEvent, LedgerEntry, Problem, ProcessInstance

# deadline Friday 2026-03-20; the ladder counts working days under the 2026 arrangement
DEADLINE = "2026-03-20"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=clock.SHANGHAI)


def sweep_at(duban, moment: str):
    clock.freeze(at(moment))
    return [(f.problem_code, f.level) for f in duban.sweep()]


def names(escalation_targets):
    return sorted(t["name"] for t in escalation_targets)


def test_each_level_fires_on_its_working_day_for_the_right_people(api, duban):
    api.register(deadline=DEADLINE)
    assert sweep_at(duban, "2026-03-16T23:59:59") == []
    assert sweep_at(duban, "2026-03-17T00:00:01") == [("NL-2026-001", 1)]
    assert sweep_at(duban, "2026-03-20T23:59:00") == []
    assert sweep_at(duban, "2026-03-21T00:00:01") == [("NL-2026-001", 2)]
    # 10 working days after Fri 20 Mar: 23,24,25,26,27,30,31 Mar, 1,2,3 Apr -> fires as 3 Apr ends
    assert sweep_at(duban, "2026-04-03T23:00:00") == []
    assert sweep_at(duban, "2026-04-04T00:00:01") == [("NL-2026-001", 3)]
    # 20 working days: the Qingming holiday (4-6 Apr) does not count -> 7..10, 13..17, 20 Apr
    assert sweep_at(duban, "2026-04-20T22:00:00") == []
    assert sweep_at(duban, "2026-04-21T00:00:01") == [("NL-2026-001", 4)]
    # 30 working days: 21..24, 27..30 Apr, then the May Day holiday (1-5 May) -> 6, 7 May
    assert sweep_at(duban, "2026-05-07T23:59:00") == []
    assert sweep_at(duban, "2026-05-08T00:00:01") == [("NL-2026-001", 5)]
    assert sweep_at(duban, "2026-06-01T00:00:00") == []  # each level once per deadline

    with duban.db.reading() as session:
        fired = {e.level: e for e in session.scalars(select(Escalation))}
    org = api.org
    assert [t["official_id"] for t in fired[1].targets] == [org["responsible"]]
    # the lead unit's heads: 李局长 is both 局长 and 党组书记 of 生态环境分局
    assert {t["official_id"] for t in fired[2].targets} == {org["responsible"], org["eco_head"]}
    assert {t["official_id"] for t in fired[3].targets} == {org["eco_head"], org["magistrate"]}
    # the interview: both heads of the county, Party (县委书记) and government (县长)
    interview = {(t["name"], t["side"]) for t in fired[4].targets}
    assert {("周书记", "party"), ("吴县长", "government")} <= interview
    # accountability reaches everyone in the chain, Party and government alike
    assert {org["secretary"], org["magistrate"], org["eco_head"], org["responsible"], org["housing_head"]} <= {
        t["official_id"] for t in fired[5].targets}
    assert all(e.rule_version == 1 for e in fired.values())


def test_a_double_sweep_fires_once_and_the_ledger_says_so(api, duban):
    api.register(deadline=DEADLINE)
    assert sweep_at(duban, "2026-03-25T09:00:00") == [("NL-2026-001", 1), ("NL-2026-001", 2)]
    assert duban.sweep() == []
    with duban.db.reading() as session:
        entries = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "escalation.fired")).all()
    assert len(entries) == 2 and entries[1].payload["targets"] == ["张科长", "李局长"]


def test_three_days_of_downtime_are_caught_up_in_order(api, duban):
    """Nothing ran from Friday to the next Friday; the sweep after it fires what fell due, in order, once."""
    api.register(deadline="2026-03-18", code="A")
    api.register(deadline="2026-03-19", code="B")
    assert sweep_at(duban, "2026-03-13T08:00:00") == [("A", 1)]
    assert sweep_at(duban, "2026-03-20T08:00:00") == [("B", 1), ("A", 2), ("B", 2)]
    with duban.db.reading() as session:
        rows = session.scalars(select(Escalation).order_by(Escalation.id)).all()
        assert [(r.problem.code, r.level, r.due_at.astimezone(clock.SHANGHAI).date().isoformat()) for r in rows] == [
            ("A", 1, "2026-03-13"), ("B", 1, "2026-03-16"), ("A", 2, "2026-03-19"), ("B", 2, "2026-03-20")]


def test_two_sweepers_at_once_fire_each_escalation_once(api, duban):
    for index in range(4):
        api.register(deadline=DEADLINE, code=f"P{index}")
    clock.freeze(at("2026-03-25T09:00:00"))
    barrier, results = threading.Barrier(2), []

    def run():
        barrier.wait()
        results.append(duban.sweep())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(r) for r in results) == 8
    with duban.db.reading() as session:
        assert session.query(Escalation).count() == 8


def test_the_forecast_lists_what_falls_due(api, duban):
    api.register(deadline=DEADLINE)
    clock.freeze(at("2026-03-12T10:00:00"))
    upcoming = [(f.level, f.due_at.astimezone(clock.SHANGHAI).date().isoformat()) for f in duban.forecast(10)]
    assert upcoming == [(1, "2026-03-17"), (2, "2026-03-21")]
    response = api.get("/api/escalations/forecast?days=10", as_="jiwei")
    assert response.status_code == 200 and [item["level"] for item in response.json["items"]] == [1, 2]
    second = api.get("/api/escalations/forecast?days=10&per_page=1&page=2", as_="jiwei").json
    assert ([item["level"] for item in second["items"]], second["total"], second["page"]) == ([2], 2, 2)
    assert api.get("/api/escalations/forecast?days=10", as_="responsible").status_code == 403
    assert api.get("/api/escalations/forecast?days=0", as_="jiwei").status_code == 400


def test_an_event_from_a_process_fires_its_rule(api, duban):
    """A listed case's own deadline missed (reported by the escalation process) -> 约谈."""
    pid = api.register(deadline="2026-12-31")["id"]
    with duban.db.transaction() as session:
        instance = session.scalars(select(ProcessInstance)).first()
        session.add(EscalationEvent(problem_id=pid, instance_id=instance.id, event="listed_case_missed",
                                    element_id="Event_listed_missed", raised_at=clock.now()))
    assert [(f.level, f.rule_name) for f in duban.sweep()] == [(4, "约谈")]
    assert duban.sweep() == []


def test_rules_are_versioned_data_and_every_firing_records_its_version(api, duban):
    ladder = duban.escalation_rules()
    assert ladder.version == 1 and [r["level"] for r in ladder.rules] == [1, 2, 3, 4, 5]
    rules = [dict(r) for r in ladder.rules]
    rules[0] = {**rules[0], "triggers": [{"kind": "before_deadline", "working_days": 5}]}
    response = api.client.put("/api/escalation-rules", json={"rules": rules, "note": "提前预警"},
                              headers={"Authorization": f"Bearer {api.token('admin')}"})
    assert response.status_code == 200 and response.json["version"] == 2
    api.register(deadline=DEADLINE)
    assert sweep_at(duban, "2026-03-13T00:00:01") == [("NL-2026-001", 1)]  # 5 working days before
    with duban.db.reading() as session:
        assert session.scalars(select(Escalation.rule_version)).all() == [2]
    listed = api.get("/api/escalations", as_="jiwei").json
    assert listed["total"] == 1 and listed["items"][0]["rule_version"] == 2
    assert api.get("/api/escalations", as_="outsider").json["total"] == 0
    assert api.get("/api/escalations", as_="responsible").json["total"] == 1


@pytest.mark.parametrize("bad, field", [
    ({"targets": ["region_party_head"]}, "rules.0.targets.0"),
    ({"targets": []}, "rules.0.targets"),
    ({"triggers": [{"kind": "overdue"}]}, "rules.0.triggers.0.working_days"),
    ({"triggers": [{"kind": "someday"}]}, "rules.0.triggers.0.kind"),
    ({"action": {"kind": "start_process"}}, "rules.0.action.process"),
    ({"level": "one"}, "rules.0.level"),
    ({"unknown": 1}, "rules.0.unknown"),
])
def test_bad_rules_are_refused_naming_the_field(api, duban, bad, field):
    rules = [dict(r) for r in duban.escalation_rules().rules]
    rules[0] = {**rules[0], **bad}
    response = api.client.put("/api/escalation-rules", json={"rules": rules},
                              headers={"Authorization": f"Bearer {api.token('admin')}"})
    assert response.status_code == 400 and field in response.json["errors"], response.json
    assert duban.escalation_rules().version == 1


def test_only_the_office_changes_the_rules(api, duban):
    rules = duban.escalation_rules().rules
    response = api.client.put("/api/escalation-rules", json={"rules": rules},
                              headers={"Authorization": f"Bearer {api.token('jiwei')}"})
    assert response.status_code == 403 and duban.escalation_rules().version == 1


def test_no_target_reaches_only_one_side(api, duban):
    """党政同责: every target that names heads yields both the Party and the government head
    wherever both posts are filled (one entry, side "both", where one person holds both, as
    李局长 does in the lead unit); the vocabulary has no target for one side."""
    pid = api.register(deadline=DEADLINE)["id"]
    with duban.db.reading() as session:
        problem = session.get(Problem, pid)
        places = {"lead_unit_heads": [unit_heads(session, problem.lead_unit)],
                  "industry_unit_heads": [unit_heads(session, problem.industry_unit)],
                  "cooperating_unit_heads": [unit_heads(session, u) for u in problem.cooperating_units],
                  "region_heads": [region_heads(session, problem.region)]}
        assert set(places) == set(HEAD_TARGETS)
        for target, heads in places.items():
            expected = {o.id for h in heads for o in (h.party, h.government) if o is not None}
            assert {t["official_id"] for t in resolve(session, problem, [target])} == expected, target
        region = resolve(session, problem, ["region_heads"])
        assert {(t["side"], t["name"]) for t in region} == {("party", "周书记"), ("government", "吴县长")}
    assert not [t for t in TARGETS if "party" in t or "government" in t]
    with pytest.raises(Invalid):
        from engine.escalation.rules import validate_ladder
        validate_ladder({"rules": [{"code": "x", "level": 4, "name": "约谈", "action": {"kind": "notify"},
                                    "triggers": [{"kind": "overdue", "working_days": 20}],
                                    "targets": ["region_party_head"]}]})


def test_sweep_from_the_command_line(api, duban, database_url, tmp_path):
    from click.testing import CliRunner

    from web.cli import main

    api.register(deadline=DEADLINE)
    env = {"DUBAN_DATABASE_URL": database_url, "DUBAN_INSTANCE_PATH": str(tmp_path / "cli")}
    dry = CliRunner().invoke(main, ["sweep", "--now", "2026-03-25T09:00:00+08:00", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "NL-2026-001  L1 提醒预警  张科长" in dry.output and "2 due" in dry.output
    real = CliRunner().invoke(main, ["sweep", "--now", "2026-03-25T09:00:00+08:00"], env=env)
    assert real.exit_code == 0 and "2 fired" in real.output
    again = CliRunner().invoke(main, ["sweep", "--now", "2026-03-25T09:00:00+08:00"], env=env)
    assert "0 fired" in again.output
