"""Deploying process definitions: versions, what an instance runs on, and every refusal named
by element and line."""
from __future__ import annotations

import re
from datetime import timedelta
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import clock
from engine.models import ProblemStatus, ProcessDefinition, ProcessInstance

from .helpers_flow import drive_to, ledger_actions, snapshot
from .support import for_problems, problem_body

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = (ROOT / "bpmn" / "rectification.bpmn").read_text(encoding="utf-8")
ANCHOR = ROOT / "bench" / "anchor-flow.bpmn"
ANCHOR_FORM = ROOT / "bench" / "anchor-form.schema.json"


def changed(old: str, new: str, document: str = SHIPPED) -> str:
    assert document.count(old) == 1, old
    return document.replace(old, new)


def line_of(document: str, text: str) -> int:
    """The 1-based line on which `text` first appears."""
    return document[:document.index(text)].count("\n") + 1


# small fixtures set no problemStatus (a warning): their deployments accept it, saying so
FIXTURE = "a test fixture: the problem's status does not matter here"


def deploy_xml(api, content: str | bytes, as_: str = "admin", accept: str | None = None):
    data = content.encode("utf-8") if isinstance(content, str) else content
    query = f"?accept_warnings=true&comment={accept}" if accept else ""
    return api.post(f"/api/process-definitions{query}", as_=as_, data=data, content_type="application/xml")


def deploy_file(api, content: str | bytes, as_: str = "admin", name: str = "rectification.bpmn",
                forms: tuple[Path, ...] = (), accept: str | None = None):
    data = content.encode("utf-8") if isinstance(content, str) else content
    files = {"file": (BytesIO(data), name)}
    for index, form in enumerate(forms):
        files[f"form{index}"] = (BytesIO(form.read_bytes()), form.name)
    if accept:
        files.update(accept_warnings="true", comment=accept)
    return api.post("/api/process-definitions", as_=as_, data=files, content_type="multipart/form-data")


def deploy_anchor(api, content: bytes | None = None):
    """The shared benchmark flow with the SpiffArena JSON Schema form file it names (it sets
    no problemStatus: a warning, accepted), declared a problem process."""
    return deploy_file(api, for_problems(content or ANCHOR.read_bytes()), name="anchor-flow.bpmn",
                       forms=(ANCHOR_FORM,), accept=FIXTURE)


DEPLOYERS = {"xml-body": deploy_xml, "multipart": deploy_file}
RENAMED = changed('<bpmn:userTask id="Task_sign" name="签收">', '<bpmn:userTask id="Task_sign" name="签收确认">')


# the ladder's processes, shipped beside rectification (tests/test_processes.py covers them)
LADDER_PROCESSES = ("accountability", "escalation", "interview")


def definition_rows(duban) -> list[tuple[str, int]]:
    with duban.db.reading() as session:
        return session.execute(select(ProcessDefinition.key, ProcessDefinition.version)
                               .where(ProcessDefinition.key.not_in(LADDER_PROCESSES))
                               .order_by(ProcessDefinition.key, ProcessDefinition.version)).all()


def instance_version(duban, problem_id: int) -> int:
    with duban.db.reading() as session:
        instance = session.scalars(select(ProcessInstance).where(ProcessInstance.problem_id == problem_id)).one()
        return instance.definition.version


# -- versions -----------------------------------------------------------------------------------

@pytest.mark.parametrize("first, again", [("xml-body", "multipart"), ("multipart", "xml-body")])
def test_a_changed_copy_becomes_version_2(api, duban, first, again):
    response = DEPLOYERS[first](api, RENAMED)
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["key"], body["version"], body["created"]) == ("rectification", 2, True)
    assert "Task_sign" in body["user_tasks"]

    same = DEPLOYERS[again](api, RENAMED)
    assert same.status_code == 200, same.json
    assert (same.json["key"], same.json["version"], same.json["created"], same.json["id"]) == (
        "rectification", 2, False, body["id"])
    assert definition_rows(duban) == [("rectification", 1), ("rectification", 2)]

    listed = [d for d in api.get("/api/process-definitions", as_="admin").json["items"] if d["key"] not in LADDER_PROCESSES]
    assert [(d["key"], d["version"]) for d in listed] == [("rectification", 2), ("rectification", 1)]
    assert listed[0]["deployed_by"] == "admin" and listed[1]["deployed_by"] is None

    xml = api.get("/api/process-definitions/rectification/versions/2", as_="jiwei")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert xml.get_data(as_text=True) == RENAMED
    assert api.get("/api/process-definitions/rectification/versions/1", as_="admin").get_data(as_text=True) == SHIPPED
    assert api.get("/api/process-definitions/rectification/versions/3", as_="admin").status_code == 404


def test_deploying_the_shipped_file_again_changes_nothing(api, duban):
    response = deploy_file(api, SHIPPED)
    assert response.status_code == 200 and response.json["version"] == 1 and not response.json["created"]
    assert not duban.deploy_shipped()[0][1]
    assert definition_rows(duban) == [("rectification", 1)]


def test_a_deployment_is_recorded_in_the_ledger(api, duban):
    deploy_xml(api, RENAMED)
    entries = [e for e in ledger_actions(duban, action="definition.deployed") if e.payload["key"] == "rectification"]
    assert [(e.payload["version"], e.actor_id) for e in entries] == [(1, None), (2, api.org["user:admin"])]


def test_running_instances_stay_on_their_version(api, duban):
    old = api.register()["id"]
    api.complete(api.ready_task(old, "Task_sign"), "responsible", {"acknowledged": True})
    renamed = changed('<bpmn:userTask id="Task_submit_plan" name="提交整改方案">',
                      '<bpmn:userTask id="Task_submit_plan" name="编制并提交整改方案">')
    assert deploy_xml(api, renamed).json["version"] == 2

    new = api.register(code="NL-2026-002")["id"]
    assert instance_version(duban, old) == 1
    assert instance_version(duban, new) == 2

    # the old instance goes on with version 1's names, the new one shows version 2's
    assert api.ready_task(old, "Task_submit_plan")["name"] == "提交整改方案"
    api.complete(api.ready_task(new, "Task_sign"), "responsible", {"acknowledged": True})
    assert api.ready_task(new, "Task_submit_plan")["name"] == "编制并提交整改方案"
    drive_to(api, old, "Task_rectify")
    assert instance_version(duban, old) == 1


def test_a_problem_may_name_a_process_and_an_unknown_one_is_refused(api, duban):
    response = api.post("/api/problems", as_="admin", json=problem_body(api.org, process_key="other"))
    assert response.status_code == 404 and "process_key" in response.json["errors"]
    assert api.register(process_key="rectification")["status"] == "registered"


# -- refusals -----------------------------------------------------------------------------------

def _refusal(name):
    """(document, element that must be named, text the document is broken on, words in the message)."""
    if name == "malformed XML":
        bad = changed('<bpmn:startEvent id="StartEvent_assigned" name="问题交办">',
                      '<bpmn:startEvent id="StartEvent_assigned" name="问题交办" <oops>')
        return bad, "document", "<oops>", ["not well-formed"]
    if name == "unknown lane":
        bad = changed('<bpmn:lane id="Lane_industry" name="行业部门">', '<bpmn:lane id="Lane_industry" name="质检科">')
        return bad, "Task_industry_certify", 'name="质检科"', ["质检科", "not a known role"]
    if name == "form not JSON":
        bad = changed('"label": "确认签收",', '"label": "确认签收",,')
        return bad, "Task_sign", '<duban:form><![CDATA[{"type": "default", "id": "Form_sign"', ["not valid JSON"]
    if name == "unsupported component":
        bad = changed('{"type": "checkbox", "key": "acknowledged"', '{"type": "signature", "key": "acknowledged"')
        return bad, "Task_sign", '<duban:form><![CDATA[{"type": "default", "id": "Form_sign"', ["signature"]
    if name == "bad timer":
        bad = changed('xsi:type="bpmn:tFormalExpression">P5D</bpmn:timeDuration>',
                      'xsi:type="bpmn:tFormalExpression">PXYZ</bpmn:timeDuration>')
        return bad, "Event_public_notice", ">PXYZ<", ["PXYZ"]
    if name == "quoted bad timer":
        bad = changed('xsi:type="bpmn:tFormalExpression">P5D</bpmn:timeDuration>',
                      'xsi:type="bpmn:tFormalExpression">"five days"</bpmn:timeDuration>')
        return bad, "Event_public_notice", '"five days"', ["five days"]
    if name == "condition imports":
        bad = changed('>decision == "return"<', """>__import__('os').system('touch /tmp/duban-pwned') == 0<""")
        return bad, "Flow_plan_returned", "__import__", ["condition"]
    if name == "condition climbs to a class":
        bad = changed('>decision == "return"<', ">().__class__.__base__.__subclasses__() != []<")
        return bad, "Flow_plan_returned", "__class__", ["condition"]
    if name == "unknown problemStatus":
        bad = changed('<spiffworkflow:property name="problemStatus" value="registered" />',
                      '<spiffworkflow:property name="problemStatus" value="signed" />')
        return bad, "Task_sign", '<bpmn:userTask id="Task_sign"', ["signed", "problemStatus"]
    if name == "updatesProblem without the field":
        bad = changed('"key": "measures"', '"key": "measure_list"')
        return bad, "Task_submit_plan", '<bpmn:userTask id="Task_submit_plan"', ["measures", "updatesProblem"]
    if name == "no executable process":
        bad = changed('isExecutable="true"', 'isExecutable="false"')
        # the one process is named, with how to mark it (and every other finding beside it)
        return bad, "rectification", '<bpmn:process id="rectification"', ["not marked executable", "isExecutable"]
    raise AssertionError(name)


REFUSALS = ["malformed XML", "unknown lane", "form not JSON", "unsupported component", "bad timer",
            "quoted bad timer", "condition imports", "condition climbs to a class", "unknown problemStatus",
            "updatesProblem without the field", "no executable process"]


@pytest.mark.parametrize("name", REFUSALS)
@pytest.mark.parametrize("how", DEPLOYERS)
def test_a_broken_document_is_refused_by_element_and_line(api, duban, name, how):
    document, element, where, words = _refusal(name)
    before = snapshot(duban)

    response = DEPLOYERS[how](api, document)
    assert response.status_code == 400, response.json
    body = response.json
    assert body["code"] == "invalid"
    assert element in body["errors"], body
    messages = " ".join(body["errors"][element])
    assert f"line {line_of(document, where)}" in messages, (line_of(document, where), messages)
    for word in words:
        assert word in messages, (word, messages)
    assert element in body["message"]
    assert snapshot(duban) == before
    assert definition_rows(duban) == [("rectification", 1)]


@pytest.mark.parametrize("where", ["attribute", "text"])
def test_an_external_entity_is_refused_and_never_read(api, duban, tmp_path, where):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-3141592653")
    prologue = '<?xml version="1.0" encoding="UTF-8"?>\n'
    assert SHIPPED.startswith(prologue)
    doctype = (f'<!DOCTYPE bpmn:definitions [\n  <!ENTITY xxe SYSTEM "file://{secret}">\n'
               '  <!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n]>\n')
    body = SHIPPED[len(prologue):]
    if where == "attribute":
        body = body.replace('name="签收"', 'name="&xxe;&lol2;"', 1)
    else:
        body = body.replace('>decision == "return"<', '>decision == "&xxe;&lol2;"<', 1)
    document = prologue + doctype + body
    before = snapshot(duban)

    for deploy in DEPLOYERS.values():
        response = deploy(api, document)
        assert response.status_code == 400, response.json
        assert list(response.json["errors"]) == ["document"]
        assert re.search(r"line \d+", " ".join(response.json["errors"]["document"]))
        assert "TOP-SECRET" not in response.get_data(as_text=True)
        assert "lollollol" not in response.get_data(as_text=True)
    assert snapshot(duban) == before


def test_an_empty_or_foreign_document_is_refused(api, duban):
    for content in (b"", b"   ", b"<html><body>hello</body></html>", b"\x89PNG\r\n\x1a\n"):
        response = deploy_xml(api, content)
        assert response.status_code == 400, (content, response.json)
        assert "document" in response.json["errors"] or "file" in response.json["errors"]
    response = api.post("/api/process-definitions", as_="admin", json={"xml": SHIPPED})
    assert response.status_code == 400 and "file" in response.json["errors"]
    assert definition_rows(duban) == [("rectification", 1)]


# -- timers, written bare or quoted -------------------------------------------------------------

def mini_process(key: str, timer: str) -> str:
    """One lane (环督办): start, a task with a non-interrupting cycle timer, or a timer to wait
    on before a task; each timer text as given."""
    kind, text = timer.split(":", 1)
    if kind == "timeCycle":
        body = f"""
    <bpmn:userTask id="Task_wait" name="等待">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="Timer" name="周期" cancelActivity="false" attachedToRef="Task_wait">
      <bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TimerDef"><bpmn:timeCycle xsi:type="bpmn:tFormalExpression">{text}</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:userTask id="Task_after" name="到期处理">
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="EndEvent_1"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="End_after"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="StartEvent_1" targetRef="Task_wait" />
    <bpmn:sequenceFlow id="f2" sourceRef="Task_wait" targetRef="EndEvent_1" />
    <bpmn:sequenceFlow id="f3" sourceRef="Timer" targetRef="Task_after" />
    <bpmn:sequenceFlow id="f4" sourceRef="Task_after" targetRef="End_after" />"""
        nodes = ["StartEvent_1", "Task_wait", "Timer", "Task_after", "EndEvent_1", "End_after"]
    else:
        body = f"""
    <bpmn:intermediateCatchEvent id="Timer" name="等待期">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TimerDef"><bpmn:{kind} xsi:type="bpmn:tFormalExpression">{text}</bpmn:{kind}></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="Task_after" name="到期处理">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="EndEvent_1"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="StartEvent_1" targetRef="Timer" />
    <bpmn:sequenceFlow id="f2" sourceRef="Timer" targetRef="Task_after" />
    <bpmn:sequenceFlow id="f3" sourceRef="Task_after" targetRef="EndEvent_1" />"""
        nodes = ["StartEvent_1", "Timer", "Task_after", "EndEvent_1"]
    refs = "".join(f"<bpmn:flowNodeRef>{node}</bpmn:flowNodeRef>" for node in nodes)
    return for_problems(f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Definitions_{key}" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="{key}" name="{key}" isExecutable="true">
    <bpmn:laneSet id="LaneSet"><bpmn:lane id="Lane_office" name="环督办">{refs}</bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>{body}
  </bpmn:process>
</bpmn:definitions>
""")


def ready_elements(api, problem_id: int) -> list[str]:
    return [t["element_id"] for t in api.get(f"/api/problems/{problem_id}", as_="admin").json["current_tasks"]]


@pytest.mark.parametrize("timer, wait", [
    ("timeDuration:P5D", timedelta(days=5)),
    ('timeDuration:"P5D"', timedelta(days=5)),
    ("timeDuration:'P5D'", timedelta(days=5)),
    ("timeDuration:PT2H", timedelta(hours=2)),
    ('timeDuration:"PT20S"', timedelta(seconds=20)),
    ("timeDate:2026-03-10T18:00:00+08:00", timedelta(days=8, hours=9)),
    ('timeDate:"2026-03-10T18:00:00+08:00"', timedelta(days=8, hours=9)),
    ("timeCycle:R/P1M", timedelta(days=31)),
    ('timeCycle:"R/P1M"', timedelta(days=31)),
    ("timeCycle:R3/PT1H", timedelta(hours=1)),
])
def test_bare_and_quoted_timers_deploy_and_run(api, duban, timer, wait):
    key = "timer_" + re.sub(r"\W", "_", timer).strip("_").lower()
    response = deploy_xml(api, mini_process(key, timer), accept=FIXTURE)
    assert response.status_code == 201, response.json
    assert (response.json["key"], response.json["version"]) == (key, 1)

    pid = api.register(process_key=key)["id"]
    waiting = ["Task_wait"] if timer.startswith("timeCycle") else []
    assert ready_elements(api, pid) == waiting

    clock.advance(wait - timedelta(seconds=1))
    assert duban.wake_due() == []
    clock.advance(timedelta(seconds=2))  # just past the moment (see test_a_timer_at_its_exact_moment)
    assert [names for _, names in duban.wake_due()] == [["周期" if waiting else "等待期"]]
    assert ready_elements(api, pid) == waiting + ["Task_after"]


def test_the_shared_anchor_flow_deploys_and_its_quoted_timer_runs(api, duban):
    """bench/anchor-flow.bpmn, written for SpiffArena: lanes 责任单位 and 环督办, a quoted
    "PT20S" interrupting boundary timer, JSON Schema forms named by formJsonSchemaFilename.
    It deploys unchanged with its form file; its timer escalates to the office after 20 s on
    the engine's clock."""
    content = ANCHOR.read_bytes()
    assert b'>"PT20S"<' in content
    response = deploy_anchor(api)
    assert response.status_code == 201, response.json
    assert (response.json["key"], response.json["version"]) == ("anchor_flow", 1)
    assert response.json["user_tasks"] == ["escalate", "report_done", "review_plan", "submit_plan"]

    # the same flow with the bare timer text deploys too (as a new version: the text changed)
    bare = content.replace(b'>"PT20S"<', b">PT20S<")
    assert deploy_anchor(api, bare).json["version"] == 2

    pid = api.register(process_key="anchor_flow")["id"]
    submit = api.ready_task(pid, "submit_plan")
    assert submit["assignee"] == "responsible"
    form = api.get(f"/api/tasks/{submit['id']}", as_="responsible").json["form"]
    assert {c["key"]: c["type"] for c in form["components"]} == {"note": "textfield", "approved": "checkbox"}
    clock.advance(timedelta(seconds=19))
    assert duban.wake_due() == []
    clock.advance(timedelta(seconds=2))
    assert [names for _, names in duban.wake_due()] == [["20 s deadline"]]
    escalate = api.ready_task(pid)
    assert escalate["element_id"] == "escalate" and escalate["candidate_role"] == "admin"
    api.complete(escalate, "admin", {"note": "已督办"})
    assert api.get(f"/api/problems/{pid}", as_="admin").json["current_tasks"] == []


def test_the_anchor_flow_needs_its_form_file(api, duban):
    """Without the JSON Schema file its tasks name, the diagram is refused, naming each task."""
    before = snapshot(duban)
    response = deploy_xml(api, ANCHOR.read_bytes())
    assert response.status_code == 400
    assert {"submit_plan", "review_plan", "report_done", "escalate"} <= set(response.json["errors"])
    assert "anchor-form.schema.json" in response.json["errors"]["review_plan"][0]
    assert snapshot(duban) == before


def test_the_anchor_flow_on_time_reaches_its_review(api, duban):
    """Submitted within the 20 s, the plan goes to the office's review (the timer is cancelled)."""
    assert deploy_anchor(api).status_code == 201
    pid = api.register(process_key="anchor_flow")["id"]
    api.complete(api.ready_task(pid, "submit_plan"), "responsible", {"note": "方案"})
    review = api.ready_task(pid, "review_plan")
    assert review["candidate_role"] == "admin"
    clock.advance(timedelta(minutes=5))
    assert duban.wake_due() == []
    assert ready_elements(api, pid) == ["review_plan"]
    assert definition_rows(duban) == [("anchor_flow", 1), ("rectification", 1)]
    assert api.get(f"/api/problems/{pid}", as_="admin").json["status"] == ProblemStatus.REGISTERED.value


def test_the_anchor_flow_can_be_approved_or_sent_back(api, duban):
    assert deploy_anchor(api).status_code == 201
    pid = api.register(process_key="anchor_flow")["id"]
    api.complete(api.ready_task(pid, "submit_plan"), "responsible", {})
    api.complete(api.ready_task(pid, "review_plan"), "admin", {"approved": False, "note": "补充"})
    assert ready_elements(api, pid) == ["submit_plan"]
    api.complete(api.ready_task(pid, "submit_plan"), "responsible", {"note": "已补充"})
    bad = api.post(f"/api/tasks/{api.ready_task(pid, 'review_plan')['id']}/complete", as_="admin",
                   json={"data": {"approved": "yes"}})
    assert bad.status_code == 400 and "approved" in bad.json["errors"]
    api.complete(api.ready_task(pid, "review_plan"), "admin", {"approved": True})
    assert ready_elements(api, pid) == ["report_done"]


def test_a_timer_at_its_exact_moment(api, duban):
    """A timer fires once its moment has passed (SpiffWorkflow's strict rule); at the exact
    moment nothing fires and nothing is recorded, however often the scheduler wakes."""
    assert deploy_xml(api, mini_process("timer_exact", "timeDuration:PT2H"), accept=FIXTURE).status_code == 201
    pid = api.register(process_key="timer_exact")["id"]
    clock.advance(timedelta(hours=2))  # exactly the timer's moment
    assert duban.wake_due() == [] and duban.wake_due() == []
    assert ledger_actions(duban, action="instance.timer_fired", problem_id=pid) == []
    assert ready_elements(api, pid) == []
    clock.advance(timedelta(microseconds=1))
    assert [names for _, names in duban.wake_due()] == [["等待期"]]
    assert duban.wake_due() == []
    assert len(ledger_actions(duban, action="instance.timer_fired", problem_id=pid)) == 1
    assert ready_elements(api, pid) == ["Task_after"]


def test_an_element_named_like_an_engine_internal_task(api, duban):
    """SpiffWorkflow names its own internal task specs Start and End; a start event with the id
    "Start" must be refused at deployment, naming it — or run. It deploys, and then every
    problem registered on it fails with a 500."""
    document = mini_process("start_clash", "timeDuration:PT2H").replace("StartEvent_1", "Start")
    response = deploy_xml(api, document)
    if response.status_code == 400:
        assert "Start" in response.json["errors"]
        return
    assert response.status_code == 201
    registered = api.post("/api/problems", as_="admin", json=problem_body(api.org, process_key="start_clash"))
    assert registered.status_code == 201, registered.json
