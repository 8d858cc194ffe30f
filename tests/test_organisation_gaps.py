"""党政同责 holds or nothing fires: a rung whose `*_heads` target lacks the Party or the
government head of a level it names is held as an organisation gap, listed and told to the
office once, and fires (once, both heads named, the delay recorded) when the head is entered."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from engine import clock
from engine.models import (Escalation, Notification, Official, OrganisationGap, Post, PostKind, ProcessDefinition,
                           ProcessInstance, Role)
from engine.organization_admin import add_post

DEADLINE = "2026-03-20"
INTERVIEW_DUE = "2026-04-21T00:00:01"   # 20 working days overdue (see test_escalation)
SUPERVISION_DUE = "2026-04-04T00:00:01"  # 10 working days overdue


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=clock.SHANGHAI)


def sweep_at(duban, moment: str):
    clock.freeze(at(moment))
    return [(f.problem_code, f.level) for f in duban.sweep()]


def vacate_county_government_head(duban, org) -> None:
    """南岭县 loses its government head (县长): the post is vacant."""
    with duban.db.transaction() as session:
        session.execute(delete(Post).where(Post.unit_id == org["county_gov"], Post.is_head.is_(True)))


def gap_notices(duban) -> list[Notification]:
    with duban.db.reading() as session:
        return list(session.scalars(select(Notification).where(Notification.kind == "organisation_gap")))


def interviews(duban) -> list[ProcessInstance]:
    with duban.db.reading() as session:
        return list(session.scalars(select(ProcessInstance).join(ProcessDefinition)
                                    .where(ProcessDefinition.key == "interview")))


def test_a_region_without_its_government_head_holds_the_interview_until_the_head_is_entered(api, duban):
    org = api.org
    held = api.register(deadline=DEADLINE)["id"]
    other = api.register(code="NL-2026-002", deadline=DEADLINE, region_id=org["town"])["id"]
    vacate_county_government_head(duban, org)

    sweep_at(duban, "2026-04-20T23:00:00")   # levels 1 to 3 fire: the lead unit has both heads
    fired = sweep_at(duban, INTERVIEW_DUE)
    # the interview of NL-2026-001 is held (so is the township's: 青石镇 has no heads at all)
    assert ("NL-2026-001", 4) not in fired
    with duban.db.reading() as session:
        assert not session.scalars(select(Escalation).where(Escalation.problem_id == held,
                                                            Escalation.level == 4)).all()
        gap = session.scalars(select(OrganisationGap).where(OrganisationGap.problem_id == held)).one()
        assert gap.level == 4 and gap.rule_code == "interview" and gap.resolved_at is None
        assert gap.missing == [{"target": "region_heads", "where": "region", "id": org["county"],
                                "name": "南岭县", "side": "government"}]
        assert gap.since == at(INTERVIEW_DUE)
    assert not interviews(duban), "no interview starts naming fewer than both heads"

    # listed for the office (API), refused to an official
    listed = api.get("/api/organisation-gaps", as_="admin")
    assert listed.status_code == 200
    assert [(g["problem_id"], g["level"], g["missing"][0]["side"]) for g in listed.json["items"]
            if g["problem_id"] == held] == [(held, 4, "government")]
    assert api.get("/api/organisation-gaps", as_="responsible").status_code == 403

    # told once: a later sweep looks again and tells nobody again
    notices = [n for n in gap_notices(duban) if n.payload["gap_id"] == gap.id]
    assert len(notices) == 1 and "南岭县" in notices[0].body
    sweep_at(duban, "2026-04-22T10:00:00")
    assert len([n for n in gap_notices(duban) if n.payload["gap_id"] == gap.id]) == 1
    with duban.db.reading() as session:
        admins = set(session.scalars(select(Notification.user_id).where(
            Notification.kind == "organisation_gap")))
    assert org["user:admin"] in admins and org["user:responsible"] not in admins

    # the head is entered: the next sweep fires the rung once, both heads named, the delay recorded
    clock.freeze(at("2026-04-23T09:00:00"))
    with duban.db.transaction() as session:
        new = Official(name="陈县长", party_member=True)
        session.add(new)
        session.flush()
        add_post(session, None, new.id, org["county_gov"], "县长", "government", True)
    fired = sweep_at(duban, "2026-04-23T09:00:01")
    assert fired.count(("NL-2026-001", 4)) == 1
    assert sweep_at(duban, "2026-04-23T10:00:00").count(("NL-2026-001", 4)) == 0
    with duban.db.reading() as session:
        escalation = session.scalars(select(Escalation).where(Escalation.problem_id == held,
                                                              Escalation.level == 4)).one()
        sides = {(t["name"], t["side"]) for t in escalation.targets}
        assert {("周书记", "party"), ("陈县长", "government")} <= sides
        assert escalation.held_since == at(INTERVIEW_DUE)
        assert escalation.fired_at == at("2026-04-23T09:00:01")
        gap = session.get(OrganisationGap, gap.id)
        assert gap.resolved_at == escalation.fired_at and gap.escalation_id == escalation.id
    started = [i for i in interviews(duban) if i.problem_id == held]
    assert len(started) == 1
    assert api.get("/api/organisation-gaps", as_="admin").json["items"] == [g for g in api.get(
        "/api/organisation-gaps", as_="admin").json["items"] if g["problem_id"] == other]
    fired_out = api.get(f"/api/escalations?problem={held}&level=4", as_="admin").json["items"][0]
    assert fired_out["held_since"] is not None


def test_a_unit_without_its_party_head_holds_supervision_while_other_problems_fire(api, duban):
    org = api.org
    # 住房和城乡建设局 has a 局长 and no Party head (党组书记)
    held = api.register(deadline=DEADLINE, lead_unit_id=org["housing"])["id"]
    fine = api.register(code="NL-2026-002", deadline=DEADLINE)["id"]
    fired = sweep_at(duban, SUPERVISION_DUE)
    assert ("NL-2026-002", 3) in fired and ("NL-2026-001", 3) not in fired
    # the urging (level 2) names lead_unit_heads too: held as well
    assert ("NL-2026-001", 2) not in fired and ("NL-2026-002", 2) in fired
    with duban.db.reading() as session:
        rows = session.scalars(select(OrganisationGap).where(OrganisationGap.problem_id == held)
                               .order_by(OrganisationGap.level)).all()
        assert [(g.level, g.missing[0]["where"], g.missing[0]["id"], g.missing[0]["side"]) for g in rows] == [
            (2, "unit", org["housing"], "party"), (3, "unit", org["housing"], "party")]
        assert session.scalars(select(Escalation).where(Escalation.problem_id == fine)).all()
    assert len(gap_notices(duban)) == 2  # once per gap

    # the interview (region and lead unit heads) comes due: held too, and never started
    sweep_at(duban, INTERVIEW_DUE)
    assert not [i for i in interviews(duban) if i.problem_id == held]
    assert [i for i in interviews(duban) if i.problem_id == fine]

    # the Party head is entered through the organisation admin: each held rung fires once
    clock.freeze(at("2026-04-22T09:00:00"))
    with duban.db.transaction() as session:
        new = Official(name="林书记", party_member=True)
        session.add(new)
        session.flush()
        add_post(session, None, new.id, org["housing"], "党组书记", "party", True)
    fired = sweep_at(duban, "2026-04-22T09:00:01")
    assert sorted(level for code, level in fired if code == "NL-2026-001") == [2, 3, 4]
    with duban.db.reading() as session:
        escalations = session.scalars(select(Escalation).where(Escalation.problem_id == held)
                                      .order_by(Escalation.level)).all()
        for escalation in escalations:
            if escalation.level in (2, 3, 4):
                sides = {t["side"] for t in escalation.targets if t["role"] == "lead_unit_heads"}
                assert sides == {"party", "government"}, escalation.level
                assert escalation.held_since is not None
        assert not session.scalars(select(OrganisationGap).where(OrganisationGap.resolved_at.is_(None))).all()
    assert len([i for i in interviews(duban) if i.problem_id == held]) == 1
    assert len(gap_notices(duban)) == 3  # the interview's gap was told once, nothing told again


def test_the_scheduler_plans_a_held_rung_at_once_when_its_heads_are_entered(api, duban):
    from engine.escalation import rules
    from engine.scheduling.plan import upcoming

    org = api.org
    api.register(deadline=DEADLINE, lead_unit_id=org["housing"])
    sweep_at(duban, SUPERVISION_DUE)

    def gap_wakeups():
        with duban.db.transaction() as session:
            now = clock.now()
            return [w for w in upcoming(session, rules.current(session), duban.current_calendar(session), now)
                    if w.id.startswith("gap:")]

    assert gap_wakeups() == []
    heard = []
    duban.db.schedule_listeners.append(lambda: heard.append(True))  # as the embedded scheduler listens
    with duban.db.transaction() as session:
        new = Official(name="林书记", party_member=True)
        session.add(new)
        session.flush()
        add_post(session, None, new.id, org["housing"], "党组书记", "party", True)
    assert heard, "entering a head makes the scheduler plan again"
    assert {w.moment for w in gap_wakeups()} == {clock.now()}
    assert len(gap_wakeups()) == 2


def test_the_dashboard_and_the_organisation_page_list_the_gaps(api, app, duban):
    from .test_pages import login

    org = api.org
    held = api.register(deadline=DEADLINE, lead_unit_id=org["housing"])["id"]
    sweep_at(duban, SUPERVISION_DUE)
    client = app.test_client()
    login(client, "admin")
    for path in ("/dashboard", "/admin/organization"):
        html = client.get(path).get_data(as_text=True)
        assert 'data-section="organisation-gaps"' in html, path
        assert html.count(f'data-missing="unit-{org["housing"]}-party"') == 2, path  # levels 2 and 3
        assert f'/problems/{held}' in html, path
    assert "缺党委（党组）书记" in client.get("/dashboard").get_data(as_text=True)
    with client.session_transaction() as state:
        state["lang"] = "en"
    english = client.get("/dashboard").get_data(as_text=True)
    assert "Organisation gaps: escalations held" in english and "no Party head (secretary)" in english
    leader = app.test_client()
    login(leader, "secretary")
    assert 'data-section="organisation-gaps"' not in leader.get("/dashboard").get_data(as_text=True)

    with duban.db.transaction() as session:
        new = Official(name="林书记", party_member=True)
        session.add(new)
        session.flush()
        add_post(session, None, new.id, org["housing"], "党组书记", "party", True)
    sweep_at(duban, "2026-04-07T09:00:00")
    assert 'data-missing=' not in client.get("/admin/organization").get_data(as_text=True)


def test_a_gap_stops_holding_when_its_problem_is_closed_or_its_deadline_moves(api, duban):
    from engine.models import Problem, ProblemStatus

    org = api.org
    first = api.register(deadline=DEADLINE, lead_unit_id=org["housing"])["id"]
    second = api.register(code="NL-2026-002", deadline=DEADLINE, lead_unit_id=org["housing"])["id"]
    sweep_at(duban, SUPERVISION_DUE)
    assert {g["problem_id"] for g in api.get("/api/organisation-gaps", as_="admin").json["items"]} == {first, second}
    with duban.db.transaction() as session:
        session.get(Problem, first).status = ProblemStatus.CLOSED
        session.get(Problem, second).deadline = datetime(2026, 6, 30).date()
    assert api.get("/api/organisation-gaps", as_="admin").json["items"] == []
    assert len(api.get("/api/organisation-gaps?state=all", as_="admin").json["items"]) == 4
    assert api.get("/api/organisation-gaps?state=nonsense", as_="admin").status_code == 400


def test_an_interview_rule_that_names_no_heads_starts_no_interview(api, duban):
    ladder = duban.escalation_rules()
    rules = [dict(r) for r in ladder.rules if r["level"] == 4]
    rules[0]["targets"] = ["responsible_person"]
    response = api.client.put("/api/escalation-rules", json={"rules": rules, "note": "约谈责任人"},
                              headers={"Authorization": f"Bearer {api.token('admin')}"})
    assert response.status_code == 200
    pid = api.register(deadline=DEADLINE)["id"]
    assert sweep_at(duban, INTERVIEW_DUE) == [("NL-2026-001", 4)]
    with duban.db.reading() as session:
        escalation = session.scalars(select(Escalation).where(Escalation.problem_id == pid)).one()
        assert escalation.instance_ids == [] and "names none" in escalation.note
    assert interviews(duban) == []


def test_the_forecast_says_which_firings_will_be_held_and_for_want_of_whom(api, app, duban):
    from .test_pages import login

    org = api.org
    held = api.register(deadline=DEADLINE)["id"]
    fine = api.register(code="NL-2026-002", deadline="2026-04-28")["id"]  # its reminder names the responsible person
    sweep_at(duban, "2026-04-20T23:00:00")   # levels 1 to 3 of NL-2026-001 fire: the lead unit has both heads

    def lines():
        return {(f["problem_code"], f["level"]): f for f in api.get("/api/escalations/forecast?days=3", as_="admin").json["items"]}

    before = lines()
    assert before[("NL-2026-001", 4)]["held"] is False and before[("NL-2026-001", 4)]["missing"] == []

    vacate_county_government_head(duban, org)
    after = lines()
    interview = after[("NL-2026-001", 4)]
    assert interview["held"] is True
    assert interview["missing"] == [{"target": "region_heads", "where": "region", "id": org["county"],
                                     "name": "南岭县", "side": "government"}]
    assert after[("NL-2026-002", 1)]["held"] is False and after[("NL-2026-002", 1)]["missing"] == []
    assert ("NL-2026-001", 4) in [(f.problem_code, f.level) for f in duban.forecast(3) if f.held]

    client = app.test_client()
    login(client, "admin")
    html = client.get("/dashboard").get_data(as_text=True)
    forecast = html[html.index('data-section="forecast"'):]
    forecast = forecast[:forecast.index("</section>")]
    assert forecast.count('data-held="yes"') == 1 and 'data-held="no"' in forecast
    assert f'data-held-for="region-{org["county"]}-government"' in forecast
    assert "将暂缓（党政同责）" in forecast and "缺行政主要负责人" in forecast
    assert f"/problems/{held}" in forecast and f"/problems/{fine}" in forecast
    with client.session_transaction() as state:
        state["lang"] = "en"
    english = client.get("/dashboard").get_data(as_text=True)
    assert "will be held (joint Party and government responsibility)" in english and "no government head" in english

    # the dry run of the sweep says so too, and the sweep, come the day, holds exactly that
    clock.freeze(at(INTERVIEW_DUE))
    [planned] = [f for f in duban.sweep(dry_run=True) if (f.problem_code, f.level) == ("NL-2026-001", 4)]
    assert planned.held and planned.line().endswith("(held: 南岭县（缺行政主要负责人）)")
    sweep_at(duban, INTERVIEW_DUE)
    with duban.db.reading() as session:
        gap = session.scalars(select(OrganisationGap).where(OrganisationGap.problem_id == held)).one()
        assert gap.level == 4 and gap.missing == interview["missing"]
