"""The ladder's processes: 督办 (escalation.bpmn), 约谈 (interview.bpmn) and 问责
(accountability.bpmn), driven through the API by the people their lanes name, with the
engine's clock and timers; and the accountability record, which is never deleted."""
from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from engine import clock
from engine.escalation.accountability import catalogue
from engine.models import (AccountabilityDecision, Escalation, EscalationEvent, Notification, Official, Problem,
                           ProcessDefinition, ProcessInstance)
from engine.organization import region_heads, unit_heads

from .helpers_flow import ledger_actions, snapshot, upload

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = "2026-03-20"  # a Friday; the ladder counts working days under the 2026 arrangement
LADDER_FILES = ("escalation.bpmn", "interview.bpmn", "accountability.bpmn")
# the ladder's processes set no problemStatus (a warning): a changed copy is deployed accepting it
ACCEPTED = "/api/process-definitions?accept_warnings=true&comment=the%20ladder%27s%20process%20keeps%20no%20status"

EXPLANATION = {"delay_reason": "设备到货延迟，提标改造未能按期完成", "next_measures": "增派施工力量，完成深度处理单元调试",
               "expected_on": "2026-04-30"}
LETTER = {"letter_no": "清环督函〔2026〕3号", "requirements": "限期完成提标改造并报送整改报告", "listed_deadline": "2026-04-17"}
SCHEDULE = {"interview_on": "2026-04-24", "place": "县委第一会议室", "interviewer": "市环督办主任",
            "subject": "县城污水处理厂出水超标问题逾期未整改"}
HOLD = {"held_on": "2026-04-24", "attendees": "周书记、吴县长、李局长到会", "minutes": "通报问题，听取整改情况说明",
        "commitments": "5月20日前完成提标改造"}
REFERRAL = {"referred_by": "市环督办", "received_on": "2026-03-02", "clue": "约谈承诺未兑现，问题逾期未整改"}
VERIFY = {"facts": "经核实，相关责任人对整改推进不力负有责任", "finding": "accountable"}
DECISION = {"decision_no": "清纪问〔2026〕5号", "decision_date": "2026-03-01", "basis": "整改不力，约谈承诺未兑现"}


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment).replace(tzinfo=clock.SHANGHAI)


def sweep_at(duban, moment: str) -> list[tuple[str, int]]:
    clock.freeze(at(moment))
    return [(f.problem_code, f.level) for f in duban.sweep()]


def wake_at(duban, moment: str) -> list[str]:
    clock.freeze(at(moment))
    return [name for _, names in duban.wake_due() for name in names]


def escalation(duban, level: int) -> Escalation:
    with duban.db.reading() as session:
        rows = session.scalars(select(Escalation).where(Escalation.level == level)).all()
        assert len(rows) == 1, rows
        session.expunge_all()
        return rows[0]


def case_task(api, instance_id: int, element: str, as_: str = "admin") -> dict:
    """The one ready task at `element` of one process instance."""
    tasks = [t for t in api.get("/api/tasks?all=true", as_=as_).json["items"]
             if t["instance_id"] == instance_id and t["element_id"] == element]
    assert len(tasks) == 1, tasks
    return tasks[0]


def instance_state(duban, instance_id: int) -> tuple[str, list[tuple[str, str]]]:
    with duban.db.reading() as session:
        instance = session.get(ProcessInstance, instance_id)
        return instance.status.value, [(t.element_id, t.state.value) for t in instance.tasks]


def events(duban) -> list[tuple[str, str]]:
    with duban.db.reading() as session:
        return [(e.event, e.element_id) for e in session.scalars(select(EscalationEvent).order_by(EscalationEvent.id))]


# -- the diagrams ------------------------------------------------------------------------------------

def test_the_shipped_diagrams_are_deployed_once(duban):
    with duban.db.reading() as session:
        rows = session.execute(select(ProcessDefinition.key, ProcessDefinition.version, ProcessDefinition.name)
                               .order_by(ProcessDefinition.key)).all()
        forms = {d.key: d.forms for d in session.scalars(select(ProcessDefinition))}
    assert [(key, version) for key, version, _ in rows] == [
        ("accountability", 1), ("escalation", 1), ("interview", 1), ("rectification", 1)]
    assert {key: name for key, _, name in rows}["interview"] == "约谈"
    assert not any(created for _, created in duban.deploy_shipped())
    decision = {c.get("key"): c for c in forms["accountability"]["Task_decide"]["components"]}
    assert decision["party_form"]["valuesKey"] == "allowed_party_forms"
    assert decision["government_form"]["valuesKey"] == "allowed_government_forms"


BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
DI = {"bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI", "dc": "http://www.omg.org/spec/DD/20100524/DC",
      "di": "http://www.omg.org/spec/DD/20100524/DI"}
NODE_TAGS = {f"{BPMN}{t}" for t in ("startEvent", "endEvent", "intermediateThrowEvent", "intermediateCatchEvent",
                                    "boundaryEvent", "userTask", "manualTask", "scriptTask", "serviceTask",
                                    "exclusiveGateway", "parallelGateway", "inclusiveGateway")}


def _bounds(shape) -> tuple[float, float, float, float]:
    b = shape.find("dc:Bounds", DI)
    return tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))


def _on_border(point, box) -> bool:
    (px, py), (x, y, w, h) = point, box
    inside = x - 1 <= px <= x + w + 1 and y - 1 <= py <= y + h + 1
    return inside and min(abs(px - x), abs(px - x - w), abs(py - y), abs(py - y - h)) <= 1


@pytest.mark.parametrize("filename", LADDER_FILES)
def test_each_diagram_has_complete_diagram_interchange(filename):
    """What bpmn-js needs to draw the diagram cleanly: a shape for every element and lane, an
    edge for every flow docked on its source and target, right-angled lines, every element
    inside its lane, lanes stacked without gaps, no two shapes on top of each other."""
    root = etree.parse(str(ROOT / "bpmn" / filename)).getroot()
    process = root.find(f"{BPMN}process")
    shapes = {s.get("bpmnElement"): _bounds(s) for s in root.iterfind(".//bpmndi:BPMNShape", DI)}
    edges = {e.get("bpmnElement"): [(float(p.get("x")), float(p.get("y"))) for p in e.iterfind("di:waypoint", DI)]
             for e in root.iterfind(".//bpmndi:BPMNEdge", DI)}
    nodes = {n.get("id"): n for n in process if n.tag in NODE_TAGS}
    lanes = list(process.iter(f"{BPMN}lane"))
    participant = root.find(f"{BPMN}collaboration/{BPMN}participant")
    assert participant.get("processRef") == process.get("id") and participant.get("id") in shapes

    assert set(nodes) | {lane.get("id") for lane in lanes} <= set(shapes), "every element and lane has a shape"
    px, py, pw, ph = shapes[participant.get("id")]
    top = py
    for lane in lanes:  # stacked from the participant's top, full width after its label band
        x, y, w, h = shapes[lane.get("id")]
        assert (x, y, x + w) == (px + 30, top, px + pw), lane.get("id")
        top += h
        for ref in lane.iterfind(f"{BPMN}flowNodeRef"):
            nx, ny, nw, nh = shapes[ref.text]
            assert x < nx and nx + nw < x + w and y < ny and ny + nh < y + h, f"{ref.text} outside {lane.get('name')}"
    assert top == py + ph
    assert {ref.text for lane in lanes for ref in lane.iterfind(f"{BPMN}flowNodeRef")} == set(nodes)

    for flow in process.iter(f"{BPMN}sequenceFlow"):
        points = edges.get(flow.get("id"))
        assert points and len(points) >= 2, flow.get("id")
        assert _on_border(points[0], shapes[flow.get("sourceRef")]), f"{flow.get('id')} leaves its source's border"
        assert _on_border(points[-1], shapes[flow.get("targetRef")]), f"{flow.get('id')} reaches its target's border"
        assert all(a[0] == b[0] or a[1] == b[1] for a, b in zip(points, points[1:])), f"{flow.get('id')} is not orthogonal"

    hosts = {n.get("id"): n.get("attachedToRef") for n in nodes.values() if n.get("attachedToRef")}
    ids = sorted(nodes)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            if hosts.get(a) == b or hosts.get(b) == a:
                continue
            ax, ay, aw, ah = shapes[a]
            bx, by, bw, bh = shapes[b]
            assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay, f"{a} overlaps {b}"
    for boundary, host in hosts.items():
        bx, by, bw, bh = shapes[boundary]
        assert _on_border((bx + bw / 2, by + bh / 2), shapes[host]), f"{boundary} sits on {host}'s border"


# -- 督办: level 2 催办 and level 3 专函督办 / 挂牌督办 ---------------------------------------------------

def test_urging_asks_the_responsible_person_for_a_written_explanation(api, duban):
    pid = api.register(deadline=DEADLINE)["id"]
    assert sweep_at(duban, "2026-03-21T00:00:01") == [("NL-2026-001", 1), ("NL-2026-001", 2)]
    urging = escalation(duban, 2)
    [instance_id] = urging.instance_ids

    task = api.ready_task(pid, "Task_explain")
    assert task["instance_id"] == instance_id and task["assignee"] == "responsible" and task["lane"] == "责任单位"
    # 5 working days from Saturday 21 March: 23..27 March
    assert datetime.fromisoformat(task["due_at"]) == at("2026-03-27T00:00:01")
    assert task["id"] in [t["id"] for t in api.get("/api/tasks", as_="responsible").json["items"]]
    api.complete(task, "eco_clerk", EXPLANATION, expect=403)
    api.complete(task, "responsible", {**EXPLANATION, "delay_reason": ""}, expect=400)
    api.complete(task, "responsible", EXPLANATION)

    review = api.ready_task(pid, "Task_review_explanation")
    assert review["candidate_role"] == "admin" and review["assignee"] is None
    api.complete(review, "responsible", {"decision": "accept"}, expect=403)
    refused = api.complete(review, "admin", {"decision": "return"}, expect=400)
    assert "opinion" in refused.json["errors"]
    api.complete(review, "admin", {"decision": "return", "opinion": "原因不具体，请说明设备到货的具体时间"})

    again = api.ready_task(pid, "Task_explain")  # sent back to the responsible person
    assert again["id"] != task["id"]
    api.complete(again, "responsible", {**EXPLANATION, "delay_reason": "设备4月10日到货，安装调试需15天"})
    api.complete(api.ready_task(pid, "Task_review_explanation"), "admin", {"decision": "accept"})

    status, steps = instance_state(duban, instance_id)
    assert status == "completed"
    assert [element for element, _ in steps] == ["Task_explain", "Task_review_explanation", "Task_explain",
                                                  "Task_review_explanation"]
    assert events(duban) == []
    assert [e.payload["to"] for e in ledger_actions(duban, action="task.sent_back")] == ["Task_explain"]


def test_a_listed_case_missed_raises_the_event_and_the_next_sweep_fires_the_interview(api, duban):
    pid = api.register(deadline=DEADLINE)["id"]
    assert sweep_at(duban, "2026-04-04T00:00:01") == [("NL-2026-001", 1), ("NL-2026-001", 2), ("NL-2026-001", 3)]
    supervision = escalation(duban, 3)
    [instance_id] = supervision.instance_ids
    assert {t["element_id"] for t in api.get(f"/api/problems/{pid}", as_="admin").json["current_tasks"]
            if t["instance_id"] == instance_id} == {"Task_issue_letter"}  # level 3 takes the supervision branch

    letter = api.ready_task(pid, "Task_issue_letter")
    api.complete(letter, "jiwei", LETTER, expect=403)  # the office issues the letter, not the discipline office
    api.complete(letter, "admin", {**LETTER, "listed_deadline": "4月17日"}, expect=400)
    api.complete(letter, "admin", LETTER)
    report = api.ready_task(pid, "Task_listed_report")
    assert report["lane"] == "牵头单位" and report["assignee"] == "eco_head"
    assert report["candidate_unit"]["id"] == api.org["eco"]

    assert wake_at(duban, "2026-04-17T23:59:00") == []  # the listed deadline's day is not over
    assert sweep_at(duban, "2026-04-17T23:59:30") == []
    assert wake_at(duban, "2026-04-18T00:00:01") == ["挂牌时限届满"]
    assert events(duban) == [("listed_case_missed", "EndEvent_listed_case_missed")]
    status, steps = instance_state(duban, instance_id)
    assert status == "completed" and ("Task_listed_report", "cancelled") in steps

    # the 20-working-day trigger of level 4 is 21 April: the interview comes from the event
    assert sweep_at(duban, "2026-04-18T00:00:02") == [("NL-2026-001", 4)]
    interview = escalation(duban, 4)
    assert interview.trigger["kind"] == "event" and interview.trigger["event"] == "listed_case_missed"
    [interview_id] = interview.instance_ids
    assert case_task(api, interview_id, "Task_schedule")["candidate_role"] == "admin"
    assert sweep_at(duban, "2026-04-18T09:00:00") == []


def test_a_listed_case_delisted_in_time_raises_nothing(api, duban):
    pid = api.register(deadline=DEADLINE)["id"]
    sweep_at(duban, "2026-04-04T00:00:01")
    [instance_id] = escalation(duban, 3).instance_ids
    api.complete(api.ready_task(pid, "Task_issue_letter"), "admin", LETTER)
    clock.freeze(at("2026-04-15T10:00:00"))
    report = api.ready_task(pid, "Task_listed_report")
    api.complete(report, "eco_clerk", {"progress": "提标改造完成"}, expect=400)  # evidence is required
    evidence = upload(api, pid, as_="eco_clerk")
    api.complete(report, "eco_clerk", {"progress": "提标改造完成，出水稳定达标", "evidence": [evidence]})
    review = api.ready_task(pid, "Task_review_delisting")
    api.complete(review, "admin", {"decision": "return", "opinion": "缺少第三方检测报告"})
    api.complete(api.ready_task(pid, "Task_listed_report"), "eco_head",
                 {"progress": "补充第三方检测报告", "evidence": [evidence]})
    api.complete(api.ready_task(pid, "Task_review_delisting"), "admin", {"decision": "delist"})

    assert instance_state(duban, instance_id)[0] == "completed"
    assert wake_at(duban, "2026-04-20T09:00:00") == []
    assert events(duban) == []
    assert sweep_at(duban, "2026-04-18T09:00:00") == []


# -- 约谈 ----------------------------------------------------------------------------------------------

def test_the_interview_tells_both_heads_and_a_missed_commitment_opens_one_case_per_official(api, duban):
    # this locality refers to the discipline office only on a missed commitment (rules are data)
    rules = [dict(r) for r in duban.escalation_rules().rules]
    rules[4] = {**rules[4], "triggers": [{"kind": "event", "event": "commitment_missed"}]}
    response = api.client.put("/api/escalation-rules", json={"rules": rules},
                              headers={"Authorization": f"Bearer {api.token('admin')}"})
    assert response.status_code == 200, response.json
    pid = api.register(deadline=DEADLINE)["id"]
    assert sweep_at(duban, "2026-04-21T00:00:01") == [("NL-2026-001", level) for level in (1, 2, 3, 4)]
    [interview_id] = escalation(duban, 4).instance_ids

    schedule = case_task(api, interview_id, "Task_schedule")
    api.complete(schedule, "jiwei", SCHEDULE, expect=403)
    api.complete(schedule, "admin", SCHEDULE)

    org = api.org
    with duban.db.reading() as session:
        notices = session.scalars(select(Notification).where(Notification.kind == "process_notice")).all()
        told = {n.official_id for n in notices if n.payload.get("element") == "Event_notify_heads"}
        problem = session.get(Problem, pid)
        county = region_heads(session, problem.region)
        lead = unit_heads(session, problem.lead_unit)
        sides = {"party": county.party.id, "government": county.government.id}
        bodies = [n.body for n in notices if n.official_id == org["secretary"]]
    # 党政同责: the county's Party secretary AND its magistrate, and the lead unit's heads
    assert sides == {"party": org["secretary"], "government": org["magistrate"]}
    assert {org["secretary"], org["magistrate"], lead.party.id, lead.government.id} <= told
    assert told == {org["secretary"], org["magistrate"], org["eco_head"]}
    assert bodies and "县委第一会议室" in bodies[0] and "2026-04-24" in bodies[0]

    api.complete(case_task(api, interview_id, "Task_hold"), "admin", HOLD)
    commitment = case_task(api, interview_id, "Task_commitment")
    assert commitment["assignee"] == "eco_head" and commitment["lane"] == "牵头单位"
    assert datetime.fromisoformat(commitment["due_at"]) == at("2026-05-21T00:00:01")  # 30 calendar days

    assert wake_at(duban, "2026-05-21T00:00:00") == []
    assert wake_at(duban, "2026-05-21T00:00:02") == ["30日期满"]
    assert ("Task_commitment", "cancelled") in instance_state(duban, interview_id)[1]
    follow_up = case_task(api, interview_id, "Task_follow_up")
    api.complete(follow_up, "admin", {"result": "missed"}, expect=400)
    api.complete(follow_up, "admin", {"result": "missed", "finding": "承诺期满仍未完成提标改造"})
    assert events(duban) == [("commitment_missed", "EndEvent_commitment_missed")]
    assert instance_state(duban, interview_id)[0] == "completed"

    assert sweep_at(duban, "2026-05-21T09:00:00") == [("NL-2026-001", 5)]
    accountability = escalation(duban, 5)
    assert accountability.trigger["event"] == "commitment_missed"
    with duban.db.reading() as session:
        cases = session.scalars(select(ProcessInstance).where(
            ProcessInstance.id.in_(accountability.instance_ids))).all()
        subjects = sorted(c.subject_official_id for c in cases)
        keys = {c.definition.key for c in cases}
    chain = sorted({org["responsible"], org["eco_head"], org["magistrate"], org["secretary"], org["housing_head"]})
    assert subjects == chain and keys == {"accountability"}  # one case per official
    assert sorted(t["official_id"] for t in accountability.targets) == chain


def test_a_kept_commitment_ends_the_interview(api, duban):
    pid = api.register(deadline=DEADLINE)["id"]
    sweep_at(duban, "2026-04-21T00:00:01")
    [interview_id] = escalation(duban, 4).instance_ids
    api.complete(case_task(api, interview_id, "Task_schedule"), "admin", SCHEDULE)
    api.complete(case_task(api, interview_id, "Task_hold"), "admin", HOLD)
    clock.freeze(at("2026-05-06T10:00:00"))
    api.complete(case_task(api, interview_id, "Task_commitment"), "eco_head",
                 {"commitment": "5月20日前完成提标改造", "progress": "已完成设备安装"})
    api.complete(case_task(api, interview_id, "Task_follow_up"), "admin",
                 {"result": "kept", "finding": "提标改造已完成，出水达标"})
    assert instance_state(duban, interview_id)[0] == "completed"
    assert wake_at(duban, "2026-05-22T00:00:00") == []  # the commitment timer went with the task
    assert events(duban) == []


# -- 问责: the decision and the record ---------------------------------------------------------------------

def open_cases(api, duban, non_party: tuple[str, ...] = ("responsible",)) -> dict[str, int]:
    """A missed commitment reported for a problem (as the interview reports it), and the cases
    the sweep opens: {official key: case id}. `non_party` officials are not Party members."""
    pid = api.register()["id"]
    with duban.db.transaction() as session:
        session.execute(update(Official).where(Official.id.in_([api.org[k] for k in non_party]))
                        .values(party_member=False))
        instance = session.scalars(select(ProcessInstance)).first()
        session.add(EscalationEvent(problem_id=pid, instance_id=instance.id, event="commitment_missed",
                                    element_id="EndEvent_commitment_missed", raised_at=clock.now()))
    assert [(f.level, f.rule_name) for f in duban.sweep()] == [(5, "问责")]
    keys = {api.org[k]: k for k in ("responsible", "eco_head", "magistrate", "secretary", "housing_head")}
    with duban.db.reading() as session:
        cases = session.scalars(select(ProcessInstance).where(ProcessInstance.subject_official_id.is_not(None)))
        return {keys[case.subject_official_id]: case.id for case in cases}


def to_decision(api, case_id: int) -> dict:
    """Referral and verification done by the discipline office; the decision task in detail."""
    referral = case_task(api, case_id, "Task_referral", as_="jiwei")
    assert referral["lane"] == "纪委监委" and referral["candidate_role"] == "discipline"
    api.complete(referral, "admin", REFERRAL, expect=403)
    api.complete(referral, "jiwei", REFERRAL)
    api.complete(case_task(api, case_id, "Task_verify", as_="jiwei"), "jiwei", VERIFY)
    task = case_task(api, case_id, "Task_decide", as_="jiwei")
    return api.get(f"/api/tasks/{task['id']}", as_="jiwei").json


def labels(options: list[dict]) -> list[str]:
    return [o["label"] for o in options]


PARTY_LABELS = [f["label"] for f in catalogue()["party"]]
GOVERNMENT_LABELS = [f["label"] for f in catalogue()["government"]]


def test_the_decision_form_offers_only_the_forms_that_fit_the_official(api, duban):
    cases = open_cases(api, duban)
    offered = {key: to_decision(api, cases[key])["form_context"] for key in ("responsible", "magistrate", "secretary")}
    # 张科长: not a Party member, a department post -> 政务处分 only
    assert offered["responsible"]["allowed_party_forms"] == []
    assert labels(offered["responsible"]["allowed_government_forms"]) == GOVERNMENT_LABELS
    # 吴县长: a Party member as county magistrate -> both
    assert labels(offered["magistrate"]["allowed_party_forms"]) == PARTY_LABELS
    assert labels(offered["magistrate"]["allowed_government_forms"]) == GOVERNMENT_LABELS
    # 周书记: a Party post only -> the Party's forms only
    assert labels(offered["secretary"]["allowed_party_forms"]) == PARTY_LABELS
    assert offered["secretary"]["allowed_government_forms"] == []
    assert "诫勉" in PARTY_LABELS and "记过" in GOVERNMENT_LABELS and "诫勉" not in GOVERNMENT_LABELS


@pytest.mark.parametrize("official, data, field", [
    ("responsible", {"party_form": "admonish"}, "party_form"),            # not a Party member
    ("responsible", {"government_form": "party_warning"}, "government_form"),
    ("responsible", {}, "government_form"),                                # nothing chosen
    ("secretary", {"government_form": "gov_warning"}, "government_form"),  # no public office
    ("magistrate", {"party_form": "gov_warning"}, "party_form"),
    ("magistrate", {"party_form": "admonish", "decision_date": "2026-03-03"}, "decision_date"),  # tomorrow
])
def test_a_form_that_does_not_fit_is_refused_and_nothing_changes(api, duban, official, data, field):
    cases = open_cases(api, duban)
    task = to_decision(api, cases[official])
    before = snapshot(duban)
    response = api.complete(task, "jiwei", {**DECISION, **data}, expect=400)
    assert field in response.json["errors"], response.json
    assert snapshot(duban) == before


def test_an_allowed_decision_is_recorded_with_its_influence_period_and_shows_in_the_record(api, duban):
    org = api.org
    cases = open_cases(api, duban)
    api.complete(to_decision(api, cases["responsible"]), "jiwei", {**DECISION, "government_form": "gov_demerit"})
    api.complete(to_decision(api, cases["magistrate"]), "jiwei",
                 {**DECISION, "decision_no": "清纪问〔2026〕6号", "party_form": "admonish", "government_form": "gov_warning"})

    record = api.get(f"/api/officials/{org['responsible']}/accountability", as_="responsible")  # the official himself
    assert record.status_code == 200, record.json
    [decision] = record.json["decisions"]
    assert (decision["category"], decision["category_label"], decision["form"], decision["form_label"]) == (
        "government", "政务处分", "gov_demerit", "记过")
    assert (decision["decision_date"], decision["influence_months"], decision["influence_until"]) == (
        "2026-03-01", 12, "2027-03-01")
    assert decision["in_force"] is True and record.json["in_force"] == [decision["id"]]
    assert decision["case_id"] == cases["responsible"] and decision["decided_by"] == "jiwei"
    assert decision["problem_code"] == "NL-2026-001" and decision["decision_no"] == "清纪问〔2026〕5号"
    assert record.json["official"]["name"] == "张科长" and record.json["allowed_party_forms"] == []

    both = api.get(f"/api/officials/{org['magistrate']}/accountability", as_="jiwei").json["decisions"]
    assert sorted((d["form_label"], d["influence_months"], d["influence_until"]) for d in both) == [
        ("政务警告", 6, "2026-09-01"), ("诫勉", 6, "2026-09-01")]
    assert api.get(f"/api/officials/{org['secretary']}/accountability", as_="admin").json["decisions"] == []
    assert api.get(f"/api/officials/{org['responsible']}/accountability", as_="eco_clerk").status_code == 403
    assert api.get(f"/api/officials/{org['magistrate']}/accountability", as_="responsible").status_code == 403
    assert api.get("/api/officials/99999/accountability", as_="jiwei").status_code == 404

    entries = ledger_actions(duban, action="accountability.decided")
    assert sorted((e.payload["official"], e.payload["form_label"], e.payload["influence_months"]) for e in entries) == [
        ("吴县长", "政务警告", 6), ("吴县长", "诫勉", 6), ("张科长", "记过", 12)]

    # the case goes on: record, tell the official, archive
    api.complete(case_task(api, cases["responsible"], "Task_record", as_="jiwei"), "jiwei",
                 {"recorded_in": ["personnel_file", "ledger"]})
    with duban.db.reading() as session:
        told = session.scalars(select(Notification).where(Notification.official_id == org["responsible"],
                                                          Notification.kind == "process_notice")).all()
    assert len(told) == 1 and "记过" in told[0].body and "清纪问〔2026〕5号" in told[0].body
    # the official may appeal (tests/test_appeals.py); he does not
    api.complete(case_task(api, cases["responsible"], "Task_appeal", as_="responsible"), "responsible",
                 {"appeal": "accept"})
    api.complete(case_task(api, cases["responsible"], "Task_archive", as_="jiwei"), "jiwei", {"archive_no": "WZ-2026-011"})
    assert instance_state(duban, cases["responsible"])[0] == "completed"

    # the periods run out; the record stays
    clock.freeze(at("2027-02-28T12:00:00"))
    assert api.get(f"/api/officials/{org['responsible']}/accountability", as_="jiwei").json["decisions"][0]["in_force"]
    clock.freeze(at("2027-03-01T00:00:00"))
    later = api.get(f"/api/officials/{org['responsible']}/accountability", as_="jiwei").json
    assert [d["in_force"] for d in later["decisions"]] == [False] and later["in_force"] == []


def test_the_discipline_office_lists_the_cases(api, duban):
    org = api.org
    cases = open_cases(api, duban)
    api.complete(to_decision(api, cases["responsible"]), "jiwei", {**DECISION, "government_form": "gov_major_demerit"})
    listed = api.get("/api/accountability-cases", as_="jiwei")
    assert listed.status_code == 200, listed.json
    assert listed.json["total"] == 5 and len(listed.json["items"]) == 5
    by_official = {item["official"]["id"]: item for item in listed.json["items"]}
    item = by_official[org["responsible"]]
    assert item["id"] == cases["responsible"] and item["status"] == "running"
    assert item["problem"]["code"] == "NL-2026-001" and item["escalation_id"] == escalation(duban, 5).id
    assert [t["element_id"] for t in item["open_tasks"]] == ["Task_record"]
    assert [(d["form_label"], d["influence_months"]) for d in item["decisions"]] == [("记大过", 18)]
    assert by_official[org["secretary"]]["decisions"] == []
    assert by_official[org["secretary"]]["official"]["party_member"] is True

    one = api.get(f"/api/accountability-cases?official={org['responsible']}", as_="admin").json
    assert [i["id"] for i in one["items"]] == [cases["responsible"]]
    assert api.get("/api/accountability-cases?status=completed", as_="jiwei").json["total"] == 0
    assert api.get("/api/accountability-cases?per_page=2&page=3", as_="jiwei").json["items"][0]["id"] in cases.values()
    bad = api.get("/api/accountability-cases?status=closed", as_="jiwei")
    assert bad.status_code == 400 and "status" in bad.json["errors"]
    assert api.get("/api/accountability-cases", as_="responsible").status_code == 403
    assert api.get("/api/accountability-cases", as_="magistrate").status_code == 403
    denied = ledger_actions(duban, action="permission.denied")
    assert denied and denied[-1].payload["action"] == "read accountability cases"


def test_the_record_refuses_a_form_that_does_not_fit_even_when_a_changed_diagram_offers_it(api, duban):
    """A version of the diagram whose decision form lists every form statically: the form
    accepts a Party form, the record still refuses it for an official who is not a Party member."""
    every = [{"label": f["label"], "value": f["code"]} for f in catalogue()["party"]]
    shipped = (ROOT / "bpmn" / "accountability.bpmn").read_text(encoding="utf-8")
    old = '"valuesKey": "allowed_party_forms"'
    assert shipped.count(old) == 1
    changed = shipped.replace(old, '"values": ' + json.dumps(every, ensure_ascii=False))
    response = api.post(ACCEPTED, as_="admin", data=changed.encode("utf-8"),
                        content_type="application/xml")
    assert response.status_code == 201 and response.json["version"] == 2, response.json
    cases = open_cases(api, duban)
    task = to_decision(api, cases["responsible"])
    assert any(c.get("key") == "party_form" and c.get("values") for c in task["form"]["components"])
    before = snapshot(duban)
    refused = api.complete(task, "jiwei", {**DECISION, "party_form": "admonish"}, expect=400)
    assert "not a Party member" in refused.json["errors"]["party_form"][0]
    assert snapshot(duban) == before
    api.complete(task, "jiwei", {**DECISION, "government_form": "gov_warning"})
    with duban.db.reading() as session:
        assert session.scalars(select(AccountabilityDecision.form)).all() == ["gov_warning"]


def test_a_decision_cannot_be_deleted_or_changed(api, duban):
    org = api.org
    cases = open_cases(api, duban)
    api.complete(to_decision(api, cases["responsible"]), "jiwei", {**DECISION, "government_form": "gov_demerit"})
    statements = ["DELETE FROM accountability_decision",
                  f"DELETE FROM accountability_decision WHERE official_id = {org['responsible']}",
                  "UPDATE accountability_decision SET influence_months = 0",
                  "UPDATE accountability_decision SET form_label = '警告'"]
    for statement in statements:
        with pytest.raises(DBAPIError) as refused:
            with duban.db.transaction() as session:
                session.execute(text(statement))
        assert "never changed or deleted" in str(refused.value), statement
    with pytest.raises(DBAPIError):
        with duban.db.transaction() as session:
            session.delete(session.scalars(select(AccountabilityDecision)).one())
    with duban.db.reading() as session:
        row = session.scalars(select(AccountabilityDecision)).one()
        assert (row.form_label, row.influence_months, row.influence_until) == ("记过", 12, date(2027, 3, 1))
    # and the API has no way to try
    path = f"/api/officials/{org['responsible']}/accountability"
    assert api.client.delete(path, headers={"Authorization": f"Bearer {api.token('admin')}"}).status_code == 405
    spec = api.get("/api/openapi.json").json["paths"]
    for route in ("/api/officials/{official_id}/accountability", "/api/accountability-cases"):
        assert set(spec[route]) - {"parameters"} == {"get"}, route


@pytest.mark.parametrize("old, new, message", [
    ('name="records" value="accountability_decision"', 'name="records" value="decision"', "records 'decision'"),
    ('"key": "party_form"', '"key": "party_choice"', None),  # still has government_form: fine
    ('"key": "government_form"', '"key": "gov_choice"', None),
])
def test_the_records_property_is_checked_at_deployment(api, duban, old, new, message):
    shipped = (ROOT / "bpmn" / "accountability.bpmn").read_text(encoding="utf-8")
    assert shipped.count(old) == 1
    response = api.post(ACCEPTED, as_="admin", data=shipped.replace(old, new).encode("utf-8"),
                        content_type="application/xml")
    if message is None:
        assert response.status_code == 201, response.json
    else:
        assert response.status_code == 400 and message in response.json["errors"]["Task_decide"][0], response.json


def test_a_decision_task_without_a_form_field_for_the_choice_is_refused(api, duban):
    shipped = (ROOT / "bpmn" / "accountability.bpmn").read_text(encoding="utf-8")
    changed = shipped.replace('"key": "party_form"', '"key": "party_choice"').replace(
        '"key": "government_form"', '"key": "gov_choice"')
    response = api.post(ACCEPTED, as_="admin", data=changed.encode("utf-8"),
                        content_type="application/xml")
    assert response.status_code == 400
    assert "party_form or government_form" in response.json["errors"]["Task_decide"][0]
    with duban.db.reading() as session:
        assert session.scalars(select(ProcessDefinition.version).where(
            ProcessDefinition.key == "accountability")).all() == [1]


def test_a_case_found_not_accountable_is_archived_without_a_decision(api, duban):
    cases = open_cases(api, duban)
    case_id = cases["housing_head"]
    api.complete(case_task(api, case_id, "Task_referral", as_="jiwei"), "jiwei", REFERRAL)
    verify = case_task(api, case_id, "Task_verify", as_="jiwei")
    api.complete(verify, "jiwei", {"facts": "王局长已按期履职", "finding": "not_accountable"}, expect=400)  # reason
    api.complete(verify, "jiwei", {"facts": "王局长已按期履职", "finding": "not_accountable",
                                   "reason": "配合单位已按要求完成所承担的整改任务"})
    api.complete(case_task(api, case_id, "Task_archive", as_="jiwei"), "jiwei", {"archive_no": "WZ-2026-012"})
    status, steps = instance_state(duban, case_id)
    assert status == "completed" and [e for e, _ in steps] == ["Task_referral", "Task_verify", "Task_archive"]
    record = api.get(f"/api/officials/{api.org['housing_head']}/accountability", as_="housing_head").json
    assert record["decisions"] == [] and record["in_force"] == []
    with duban.db.reading() as session:
        assert session.scalars(select(Notification).where(Notification.official_id == api.org["housing_head"],
                                                          Notification.kind == "process_notice")).all() == []
    done = api.get("/api/accountability-cases?status=completed", as_="jiwei").json
    assert [(i["id"], i["decisions"], i["open_tasks"]) for i in done["items"]] == [(case_id, [], [])]
