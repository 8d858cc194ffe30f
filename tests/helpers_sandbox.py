"""Hostile diagrams, small: one user task of the office (a form with one text field
`answer`), then the piece of diagram code under test (a script task, a condition or a timer),
then the end. Built as text, deployed through the API like an administrator's upload."""
from __future__ import annotations

import gc
import itertools
import json
import threading
import time
from xml.sax.saxutils import escape

from .support import for_problems

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" xmlns:duban="urn:duban:bpmn:1.0" '
        'id="Definitions_hostile" targetNamespace="http://bpmn.io/schema/bpmn">\n')


def diagram(key: str, *, script: str | None = None, condition: str | None = None, timer: str | None = None,
            pattern: str | None = None) -> str:
    """A process `key`: Start -> Task_fill -> (Task_script | Gateway_check | Event_wait) -> End."""
    field = {"type": "textfield", "key": "answer", "label": "答复", "id": "Field_answer"}
    if pattern is not None:
        field["validate"] = {"pattern": pattern}
    form = json.dumps({"type": "default", "id": "Form_fill", "components": [field]}, ensure_ascii=False)
    nodes = ["Start", "Task_fill", "End_done"]
    body = [f'<bpmn:startEvent id="Start_{key}"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>',
            f'<bpmn:userTask id="Task_fill" name="填写"><bpmn:extensionElements><duban:form><![CDATA[{form}]]>'
            '</duban:form></bpmn:extensionElements><bpmn:incoming>F1</bpmn:incoming>'
            '<bpmn:outgoing>F2</bpmn:outgoing></bpmn:userTask>',
            f'<bpmn:sequenceFlow id="F1" sourceRef="Start_{key}" targetRef="Task_fill" />']
    if script is not None:
        nodes.append("Task_script")
        body += [f'<bpmn:scriptTask id="Task_script" name="脚本"><bpmn:incoming>F2</bpmn:incoming>'
                 f'<bpmn:outgoing>F3</bpmn:outgoing><bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>',
                 '<bpmn:sequenceFlow id="F2" sourceRef="Task_fill" targetRef="Task_script" />',
                 '<bpmn:sequenceFlow id="F3" sourceRef="Task_script" targetRef="End_done" />']
    elif condition is not None:
        nodes.append("Gateway_check")
        body += ['<bpmn:exclusiveGateway id="Gateway_check" default="Flow_no"><bpmn:incoming>F2</bpmn:incoming>'
                 '<bpmn:outgoing>Flow_yes</bpmn:outgoing><bpmn:outgoing>Flow_no</bpmn:outgoing></bpmn:exclusiveGateway>',
                 '<bpmn:sequenceFlow id="F2" sourceRef="Task_fill" targetRef="Gateway_check" />',
                 '<bpmn:sequenceFlow id="Flow_yes" sourceRef="Gateway_check" targetRef="End_done">\n'
                 f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(condition)}'
                 '</bpmn:conditionExpression></bpmn:sequenceFlow>',
                 '<bpmn:sequenceFlow id="Flow_no" sourceRef="Gateway_check" targetRef="End_done" />']
    elif timer is not None:
        nodes.append("Event_wait")
        body += ['<bpmn:intermediateCatchEvent id="Event_wait" name="等待"><bpmn:incoming>F2</bpmn:incoming>'
                 '<bpmn:outgoing>F3</bpmn:outgoing><bpmn:timerEventDefinition id="Timer_wait">\n'
                 f'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{escape(timer)}</bpmn:timeDuration>'
                 '</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>',
                 '<bpmn:sequenceFlow id="F2" sourceRef="Task_fill" targetRef="Event_wait" />',
                 '<bpmn:sequenceFlow id="F3" sourceRef="Event_wait" targetRef="End_done" />']
    else:
        body.append('<bpmn:sequenceFlow id="F2" sourceRef="Task_fill" targetRef="End_done" />')
    body.append('<bpmn:endEvent id="End_done" />')
    lane = ('<bpmn:laneSet id="LaneSet_1"><bpmn:lane id="Lane_office" name="环督办">'
            + "".join(f"<bpmn:flowNodeRef>{n if n != 'Start' else f'Start_{key}'}</bpmn:flowNodeRef>" for n in nodes)
            + "</bpmn:lane></bpmn:laneSet>")
    return for_problems(HEAD + f'<bpmn:process id="{key}" name="{key}" isExecutable="true">\n{lane}\n'
                        + "\n".join(body) + "\n</bpmn:process>\n</bpmn:definitions>\n")


_codes = itertools.count(1)


def deploy(api, document: str):
    """Deploy a fixture (it sets no problemStatus: that warning is accepted)."""
    return api.post("/api/process-definitions?accept_warnings=true&comment=fixture", as_="admin",
                    data=document.encode("utf-8"),
                    content_type="application/xml")


def start(api, document: str) -> dict:
    """Deploy `document`, register a problem on it; its ready Task_fill."""
    response = deploy(api, document)
    assert response.status_code in (200, 201), response.json
    problem = api.register(process_key=response.json["key"], code=f"SB-{next(_codes)}")
    return api.ready_task(problem["id"], "Task_fill")


def submit(api, task: dict, answer: str = "x"):
    """Complete Task_fill as the office; (response, seconds taken on the wall clock)."""
    began = time.monotonic()
    response = api.post(f"/api/tasks/{task['id']}/complete", as_="admin", json={"data": {"answer": answer}})
    return response, time.monotonic() - began


def submit_in_process(api, task: dict, answer: str = "x"):
    """Complete Task_fill as the office; (response, CPU seconds the request took). The test
    client serves the request in this thread, and conditions, timer expressions and patterns
    are evaluated in the serving process, so this thread's CPU time is their cost, whatever
    else the machine is doing (unlike the wall clock, which a loaded machine stretches). The
    garbage of the tests before is collected first and no collection runs inside: a full
    collection in a worker holding a suite's worth of objects takes over a second of this
    thread's CPU, and is not the request's cost."""
    gc.collect()
    gc.disable()
    try:
        began = time.thread_time()
        response, _ = submit(api, task, answer)
        return response, time.thread_time() - began
    finally:
        gc.enable()


def submit_watching_health(api, task: dict, answer: str = "x"):
    """submit(), while /api/health is asked again and again from another thread; (response,
    seconds, the health answers' times in seconds)."""
    outcome, times = {}, []
    worker = threading.Thread(target=lambda: outcome.update(result=submit(api, task, answer)))
    worker.start()
    while worker.is_alive():
        began = time.monotonic()
        assert api.get("/api/health").status_code == 200
        times.append(time.monotonic() - began)
        time.sleep(0.02)
    worker.join()
    return (*outcome["result"], times)


def failure_text(response) -> str:
    body = response.json
    assert set(body) - {"findings", "error_count", "warning_count"} == {"code", "message", "errors"}, body
    findings = " ".join(f"{f['message']} {f['message_zh']}" for f in body.get("findings", []))
    return body["message"] + " " + " ".join(" ".join(v) for v in body["errors"].values()) + " " + findings


def incident_text(response, element: str) -> str:
    """The completion stood and the process stopped at `element` as an incident (200 with
    `incident`); the incident's error type and message."""
    assert response.status_code == 200, (response.status_code, response.json)
    incident = response.json["incident"]
    assert incident is not None and incident["element_id"] == element, incident
    return f"{incident['error_type']}: {incident['message']}"
