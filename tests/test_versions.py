"""Versions of a process: drafts that start nothing, publishing, rollback, the note
(版本说明) in the ledger, the list with its counts, the diff between two versions, and the
refusals that name their field."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import clock
from engine.models import ProcessDefinition, ProcessInstance

from .helpers_flow import ledger_actions
from .test_definitions import RENAMED, SHIPPED, changed

def deploy(api, content: str, comment: str | None = None, draft: bool = False, accept: bool = False, as_="admin"):
    query = []
    if comment is not None:
        query.append(("comment", comment))
    if draft:
        query.append(("draft", "true"))
    if accept:
        query.append(("accept_warnings", "true"))
    return api.post("/api/process-definitions", as_=as_, query_string=query, data=content.encode("utf-8"),
                    content_type="application/xml")


def publish(api, version: int, comment: str | None = "上线", key: str = "rectification", as_="admin", **extra):
    body = {**({"comment": comment} if comment is not None else {}), **extra}
    return api.post(f"/api/process-definitions/{key}/versions/{version}/publish", as_=as_, json=body)


def listed(api, key: str = "rectification") -> list[dict]:
    response = api.get("/api/process-definitions", as_="admin")
    assert response.status_code == 200, response.json
    return [d for d in response.json["items"] if d["key"] == key]


def started_on(duban, problem_id: int) -> int:
    with duban.db.reading() as session:
        instance = session.scalars(select(ProcessInstance).where(ProcessInstance.problem_id == problem_id)).one()
        return instance.definition.version


def later(minutes: int = 1) -> None:
    clock.freeze(clock.now() + timedelta(minutes=minutes))


def test_a_draft_is_stored_but_new_problems_start_on_the_current_version(api, duban):
    response = deploy(api, RENAMED, comment="签收改名", draft=True)
    assert response.status_code == 201, response.json
    assert (response.json["version"], response.json["status"], response.json["outcome"]) == (2, "draft", "created")

    first = api.register()["id"]
    assert started_on(duban, first) == 1
    assert api.ready_task(first, "Task_sign")["name"] == "签收"

    versions = {d["version"]: d for d in listed(api)}
    assert (versions[2]["status"], versions[2]["current"], versions[2]["comment"]) == ("draft", False, "签收改名")
    assert versions[2]["published_at"] is None and versions[2]["deployed_by"] == "admin"
    assert (versions[1]["status"], versions[1]["current"], versions[1]["open_instances"]) == ("published", True, 1)

    # the XML of a draft is served like any version's
    assert api.get("/api/process-definitions/rectification/versions/2", as_="admin").get_data(as_text=True) == RENAMED


def test_saving_a_draft_again_replaces_it_in_place(api, duban):
    assert deploy(api, RENAMED, comment="第一稿", draft=True).status_code == 201
    again = changed('<bpmn:userTask id="Task_submit_plan" name="提交整改方案">',
                    '<bpmn:userTask id="Task_submit_plan" name="编制整改方案">', RENAMED)
    response = deploy(api, again, comment="第二稿", draft=True)
    assert response.status_code == 200, response.json
    assert (response.json["version"], response.json["outcome"], response.json["created"]) == (2, "replaced", True)
    same = deploy(api, again, comment="第二稿", draft=True)
    assert (same.status_code, same.json["outcome"]) == (200, "unchanged")

    with duban.db.reading() as session:
        rows = session.execute(select(ProcessDefinition.version, ProcessDefinition.status, ProcessDefinition.comment)
                               .where(ProcessDefinition.key == "rectification")
                               .order_by(ProcessDefinition.version)).all()
    assert [(v, s.value, c) for v, s, c in rows] == [(1, "published", "随版本发布"), (2, "draft", "第二稿")]
    saved = [e for e in ledger_actions(duban, action="definition.draft_saved")]
    assert [(e.payload["version"], e.payload["replaced"], e.payload["comment"]) for e in saved] == [
        (2, False, "第一稿"), (2, True, "第二稿")]
    assert api.get("/api/process-definitions/rectification/versions/2", as_="admin").get_data(as_text=True) == again


def test_publish_then_roll_back_with_the_comments_in_the_ledger(api, duban):
    assert deploy(api, RENAMED, comment="签收改名", draft=True).status_code == 201
    later()
    response = publish(api, 2, comment="经审议发布")
    assert response.status_code == 200, response.json
    assert (response.json["version"], response.json["status"], response.json["current"]) == (2, "published", True)
    assert response.json["published_by"] == "admin" and response.json["published_at"]

    second = api.register(code="NL-2026-002")["id"]
    assert started_on(duban, second) == 2
    assert api.ready_task(second, "Task_sign")["name"] == "签收确认"

    later()
    back = publish(api, 1, comment="新版签收有误，回滚")
    assert back.status_code == 200, back.json
    third = api.register(code="NL-2026-003")["id"]
    assert started_on(duban, third) == 1
    assert started_on(duban, second) == 2  # a running instance stays on its version

    versions = {d["version"]: d for d in listed(api)}
    assert (versions[1]["current"], versions[2]["current"]) == (True, False)
    assert (versions[1]["open_instances"], versions[2]["open_instances"]) == (1, 1)

    published = ledger_actions(duban, action="definition.published")
    assert [(e.payload["version"], e.payload["comment"], e.payload["previous"], e.actor_id) for e in published] == [
        (2, "经审议发布", 1, api.org["user:admin"])]
    rolled = ledger_actions(duban, action="definition.rolled_back")
    assert [(e.payload["version"], e.payload["comment"], e.payload["previous"]) for e in rolled] == [
        (1, "新版签收有误，回滚", 2)]

    # a restart deploys the shipped diagrams again: version 1 has their content, nothing changes
    assert not any(outcome for _, outcome in duban.deploy_shipped())
    assert [d["current"] for d in listed(api)] == [False, True]


def test_a_published_deployment_keeps_its_note_and_identical_content_is_unchanged(api, duban):
    response = deploy(api, RENAMED, comment="签收改名")
    assert (response.status_code, response.json["status"]) == (201, "published")
    assert deploy(api, RENAMED, comment="再来一次").json["outcome"] == "unchanged"
    [entry] = [e for e in ledger_actions(duban, action="definition.deployed") if e.payload["version"] == 2]
    assert entry.payload["comment"] == "签收改名" and entry.actor_id == api.org["user:admin"]
    assert [(d["version"], d["current"], d["comment"]) for d in listed(api)] == [(2, True, "签收改名"),
                                                                             (1, False, "随版本发布")]


def test_publishing_is_checked_again(api, duban):
    assert deploy(api, RENAMED, comment="草稿", draft=True).status_code == 201
    # the roles changed since the draft was saved: its industry lane no longer names a role
    role = duban.runtime.lane_roles.pop("行业部门")
    try:
        refused = publish(api, 2)
    finally:
        duban.runtime.lane_roles["行业部门"] = role
    assert refused.status_code == 400, refused.json
    assert "Task_industry_certify" in refused.json["errors"]
    assert refused.json["error_count"] >= 1
    assert [d["status"] for d in listed(api)] == ["draft", "published"]
    assert ledger_actions(duban, action="definition.published") == []


def test_a_draft_with_warnings_needs_them_accepted_when_published(api, duban):
    warned = changed('<spiffworkflow:property name="problemStatus" value="registered" />', "")
    for status in ("planning", "rectifying", "accepting", "public_notice", "closed"):
        warned = warned.replace(f'<spiffworkflow:property name="problemStatus" value="{status}" />', "")
    assert deploy(api, warned, draft=True).status_code == 201  # a draft's warnings wait for its publication
    refused = publish(api, 2)
    assert refused.status_code == 400 and refused.json["warning_count"] >= 1 and refused.json["error_count"] == 0
    assert publish(api, 2, comment="状态由人工维护", accept_warnings=True).status_code == 200
    [entry] = ledger_actions(duban, action="definition.published")
    assert entry.payload["acceptance"] == "状态由人工维护" and entry.payload["accepted_warnings"]


@pytest.mark.parametrize("case", ["no comment", "blank comment", "unknown version", "unknown process", "current",
                                  "not admin", "comment not text"])
def test_bad_publications_are_refused_naming_the_field(api, duban, case):
    assert deploy(api, RENAMED, draft=True).status_code == 201
    before = [(d["version"], d["status"], d["current"]) for d in listed(api)]
    response = {
        "no comment": lambda: publish(api, 2, comment=None),
        "blank comment": lambda: publish(api, 2, comment="   "),
        "unknown version": lambda: publish(api, 9),
        "unknown process": lambda: publish(api, 1, key="nothing"),
        "current": lambda: publish(api, 1),
        "not admin": lambda: publish(api, 2, as_="jiwei"),
        "comment not text": lambda: api.post("/api/process-definitions/rectification/versions/2/publish",
                                             as_="admin", json={"comment": 5}),
    }[case]()
    expected = {"no comment": (400, "comment"), "blank comment": (400, "comment"), "unknown version": (404, "version"),
                "unknown process": (404, "version"), "current": (409, "version"), "not admin": (403, None),
                "comment not text": (400, "comment")}[case]
    assert response.status_code == expected[0], response.json
    if expected[1]:
        assert expected[1] in response.json["errors"], response.json
    assert [(d["version"], d["status"], d["current"]) for d in listed(api)] == before


def test_bad_deployment_flags_are_refused(api):
    response = api.post("/api/process-definitions?draft=perhaps", as_="admin", data=RENAMED.encode(),
                        content_type="application/xml")
    assert response.status_code == 400 and "draft" in response.json["errors"]
    long = api.post("/api/process-definitions", as_="admin", query_string={"comment": "长" * 2001},
                    data=RENAMED.encode(), content_type="application/xml")
    assert long.status_code == 400 and "comment" in long.json["errors"]
    assert [d["version"] for d in listed(api)] == [1]


# -- the diff ---------------------------------------------------------------------------------

ADDED_TASK = changed(
    '<bpmn:sequenceFlow id="Flow_to_submit_plan" sourceRef="Task_sign" targetRef="Task_submit_plan" />',
    '<bpmn:sequenceFlow id="Flow_to_submit_plan" sourceRef="Task_sign" targetRef="Task_check" />'
    '<bpmn:userTask id="Task_check" name="现场核查"><bpmn:incoming>Flow_to_submit_plan</bpmn:incoming>'
    '<bpmn:outgoing>Flow_check_done</bpmn:outgoing></bpmn:userTask>'
    '<bpmn:sequenceFlow id="Flow_check_done" sourceRef="Task_check" targetRef="Task_submit_plan" />')
ADDED_TASK = changed("<bpmn:flowNodeRef>Task_sign</bpmn:flowNodeRef>",
                     "<bpmn:flowNodeRef>Task_sign</bpmn:flowNodeRef><bpmn:flowNodeRef>Task_check</bpmn:flowNodeRef>",
                     ADDED_TASK)


def diff(api, older, newer, key="rectification", as_="admin"):
    return api.get(f"/api/process-definitions/{key}/diff", as_=as_, query_string={"from": older, "to": newer})


def test_the_diff_names_renamed_added_removed_and_changed_properties(api):
    assert 'id="Flow_to_submit_plan" sourceRef="Task_sign" targetRef="Task_submit_plan"' in SHIPPED
    changed_due = changed('<bpmn:userTask id="Task_sign" name="签收">', '<bpmn:userTask id="Task_sign" name="签收确认">',
                          ADDED_TASK)
    changed_due = changed('<spiffworkflow:property name="problemStatus" value="registered" />',
                          '<spiffworkflow:property name="problemStatus" value="planning" />', changed_due)
    saved = deploy(api, changed_due, comment="加一步", draft=True)
    assert saved.status_code == 201, saved.json
    response = diff(api, 1, 2)
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["key"], body["from"], body["to"]) == ("rectification", 1, 2)
    assert {(e["id"], e["type"], e["name"]) for e in body["added"]} == {
        ("Task_check", "userTask", "现场核查"), ("Flow_check_done", "sequenceFlow", None)}
    assert body["removed"] == []
    by_id = {e["id"]: {c["field"]: (c["old"], c["new"]) for c in e["changes"]} for e in body["changed"]}
    assert by_id["Task_sign"]["name"] == ("签收", "签收确认")
    assert by_id["Task_sign"]["property:problemStatus"] == ("registered", "planning")
    assert by_id["Flow_to_submit_plan"]["targetRef"] == ("Task_submit_plan", "Task_check")

    # the other way round: what was added is removed
    back = diff(api, 2, 1).json
    assert {e["id"] for e in back["removed"]} == {"Task_check", "Flow_check_done"} and back["added"] == []
    assert {e["id"]: {c["field"]: c["new"] for c in e["changes"]} for e in back["changed"]}["Task_sign"]["name"] == "签收"


def test_the_diff_sees_forms_conditions_lanes_and_timers(api):
    document = changed('"label": "确认签收"', '"label": "已阅并签收"')
    document = changed('>decision == "return"<', '>decision != "approve"<', document)
    document = changed("<bpmn:flowNodeRef>Task_monthly_report</bpmn:flowNodeRef>", "", document)
    document = changed("<bpmn:flowNodeRef>Task_industry_certify</bpmn:flowNodeRef>",
                       "<bpmn:flowNodeRef>Task_industry_certify</bpmn:flowNodeRef>"
                       "<bpmn:flowNodeRef>Task_monthly_report</bpmn:flowNodeRef>", document)
    document = changed('xsi:type="bpmn:tFormalExpression">P5D</bpmn:timeDuration>',
                       'xsi:type="bpmn:tFormalExpression">P7D</bpmn:timeDuration>', document)
    assert deploy(api, document, draft=True).status_code == 201
    body = diff(api, 1, 2).json
    by_id = {e["id"]: {c["field"]: (c["old"], c["new"]) for c in e["changes"]} for e in body["changed"]}
    assert "确认签收" in by_id["Task_sign"]["form"][0] and "已阅并签收" in by_id["Task_sign"]["form"][1]
    assert by_id["Flow_plan_returned"]["condition"] == ('decision == "return"', 'decision != "approve"')
    assert by_id["Task_monthly_report"]["lane"] == ("责任单位", "行业部门")
    assert "Lane_responsible" not in by_id
    assert by_id["Event_public_notice"]["timer"] == ("timeDuration: P5D", "timeDuration: P7D")
    assert diff(api, 1, 1).json == {"key": "rectification", "from": 1, "to": 1, "added": [], "removed": [],
                                    "changed": []}


@pytest.mark.parametrize("query, status, field", [
    ({"from": 1, "to": 7}, 404, "to"), ({"from": 7, "to": 1}, 404, "from"), ({"to": 1}, 400, "from"),
    ({"from": "one", "to": 1}, 400, "from"), ({"from": 1, "to": 0}, 400, "to")])
def test_bad_diff_questions_are_refused_naming_the_field(api, query, status, field):
    response = api.get("/api/process-definitions/rectification/diff", as_="admin", query_string=query)
    assert response.status_code == status, response.json
    assert field in response.json["errors"], response.json


def test_a_diff_of_an_unknown_process_is_a_404(api):
    response = diff(api, 1, 2, key="nothing")
    assert response.status_code == 404 and "from" in response.json["errors"]


# -- the migration ------------------------------------------------------------------------------

def test_versions_deployed_before_the_migration_are_published_in_their_order(tmp_path):
    """0011 turns every existing row into a published version, published when it was deployed,
    in the order of its number: the newest stays current."""
    from sqlalchemy import create_engine, text

    from engine import migrate
    from engine.workflow import versions

    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0010_import_runs")
    engine = create_engine(url)
    with engine.begin() as connection:
        for number, moment in ((1, "2026-01-05 01:00:00"), (2, "2026-02-05 01:00:00")):
            connection.execute(text(
                "INSERT INTO process_definition (key, name, version, bpmn_xml, forms, spec, checksum, deployed_at) "
                "VALUES ('rectification', '整改', :n, '<x/>', '{}', '{}', :c, :at)"), {"n": number, "c": f"c{number}",
                                                                                    "at": moment})
    migrate.upgrade(url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT version, status, published_at, deployed_at, publication "
                                       "FROM process_definition ORDER BY version")).all()
    assert [(r.version, r.status, r.publication) for r in rows] == [(1, "published", 1), (2, "published", 2)]
    assert all(str(r.published_at) == str(r.deployed_at) for r in rows)
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        assert versions.current(session, "rectification").version == 2
        assert versions.current_ids(session) == {2}
    engine.dispose()


def test_publishing_new_content_while_a_draft_exists_publishes_the_draft(api, duban):
    assert deploy(api, RENAMED, comment="草稿", draft=True).json["version"] == 2
    other = changed('<bpmn:userTask id="Task_submit_plan" name="提交整改方案">',
                    '<bpmn:userTask id="Task_submit_plan" name="编制整改方案">')
    response = deploy(api, other, comment="直接发布")
    assert response.status_code == 201, response.json
    assert (response.json["version"], response.json["status"]) == (2, "published")
    assert [(d["version"], d["status"], d["current"], d["comment"]) for d in listed(api)] == [
        (2, "published", True, "直接发布"), (1, "published", False, "随版本发布")]
    [entry] = [e for e in ledger_actions(duban, action="definition.deployed") if e.payload["version"] == 2]
    assert entry.payload["from_draft"] is True and entry.payload["previous"] == 1
