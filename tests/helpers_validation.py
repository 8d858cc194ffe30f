"""Small BPMN documents for the deploy-time checks: one lane (环督办), a start event that sets
a problemStatus, and whatever body a test gives."""
from __future__ import annotations

import json
import re

from engine.assignment import load_lane_roles
from engine.validation.check import inspect

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions '
        'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" xmlns:duban="urn:duban:bpmn:1.0" '
        'id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn">\n')
STATUS = ('<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property name="problemStatus" '
          'value="registered" /></spiffworkflow:properties></bpmn:extensionElements>')


def form(*components: dict) -> str:
    return ("<bpmn:extensionElements><duban:form><![CDATA["
            + json.dumps({"type": "default", "components": list(components)}, ensure_ascii=False)
            + "]]></duban:form></bpmn:extensionElements>")


def radio(key: str, *values: str) -> dict:
    return {"type": "radio", "key": key, "label": key, "values": [{"label": v, "value": v} for v in values]}


def text(key: str) -> dict:
    return {"type": "textfield", "key": key, "label": key}


def user(element_id: str, inner: str = "", name: str = "办理") -> str:
    return f'<bpmn:userTask id="{element_id}" name="{name}">{inner}</bpmn:userTask>'


def flow(flow_id: str, source: str, target: str, condition: str | None = None) -> str:
    if condition is None:
        return f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}" />'
    return (f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}"><bpmn:conditionExpression '
            f'xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression></bpmn:sequenceFlow>')


def document(*body: str, key: str = "check", lane: list[str] | None = None, status: bool = True) -> str:
    """A process `key` with a start event Start_1 and `body`; every userTask in the lane unless
    `lane` names the ones that are."""
    text_body = "\n    ".join(body)
    tasks = re.findall(r'<bpmn:userTask id="([^"]+)"', text_body) if lane is None else lane
    refs = "".join(f"<bpmn:flowNodeRef>{t}</bpmn:flowNodeRef>" for t in tasks)
    lanes = f'<bpmn:laneSet id="LaneSet"><bpmn:lane id="Lane_office" name="环督办">{refs}</bpmn:lane></bpmn:laneSet>'
    start = f'<bpmn:startEvent id="Start_1" name="开始">{STATUS if status else ""}</bpmn:startEvent>'
    return (HEAD + f'  <bpmn:process id="{key}" name="{key}" isExecutable="true">\n    {lanes}\n    {start}\n    '
            + text_body + "\n  </bpmn:process>\n</bpmn:definitions>\n")


def findings(xml: str) -> list:
    return inspect(xml.encode("utf-8"), set(load_lane_roles())).findings


def codes(xml: str) -> list[tuple[str, str, str]]:
    """(severity, code, element) of every finding."""
    return [(f.severity, f.code, f.element) for f in findings(xml)]


def line_of(xml: str, fragment: str) -> int:
    return xml[:xml.index(fragment)].count("\n") + 1


def good(*extra: str) -> list[str]:
    """start → Task_decide (a radio `decision`: approve/return) → Gateway → End_ok / back."""
    return [
        user("Task_decide", form(radio("decision", "approve", "return"), text("reason")), name="审核"),
        '<bpmn:exclusiveGateway id="Gateway_1" name="是否通过" />',
        '<bpmn:endEvent id="End_ok" name="结束" />',
        flow("f0", "Start_1", "Task_decide"), flow("f1", "Task_decide", "Gateway_1"),
        flow("f_ok", "Gateway_1", "End_ok", 'decision == "approve"'),
        flow("f_back", "Gateway_1", "Task_decide", 'decision == "return"'),
        *extra]
