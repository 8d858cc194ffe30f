"""Small diagrams in two versions (a task renamed, one added, one removed; a script that
fails and its fix), for the repair and migration tests."""
from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import select

from engine.models import HumanTask, LedgerEntry, ProcessInstance

from .support import for_problems

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions '
        'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
        'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Definitions_{key}" '
        'targetNamespace="http://bpmn.io/schema/bpmn">\n  <bpmn:process id="{key}" name="{key}" isExecutable="true">')


def user(element_id: str, name: str, **properties):
    return element_id, "userTask", name, properties, ""


def script(element_id: str, text: str, name: str = "计算"):
    return element_id, "scriptTask", name, {}, f"<bpmn:script>{escape(text)}</bpmn:script>"


def timer(element_id: str, duration: str, name: str = "等待期"):
    return element_id, "intermediateCatchEvent", name, {}, (
        f'<bpmn:timerEventDefinition id="{element_id}_def"><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">'
        f'{escape(duration)}</bpmn:timeDuration></bpmn:timerEventDefinition>')


def flow(key: str, *steps, lane: str = "环督办") -> str:
    """start → each step in turn → end, in one lane (环督办 unless named)."""
    ids = ["StartEvent_1", *(s[0] for s in steps), "EndEvent_1"]
    body = ['<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>']
    for index, (element_id, tag, name, properties, inner) in enumerate(steps, start=1):
        extension = ""
        if properties:
            extension = "<bpmn:extensionElements><spiffworkflow:properties>" + "".join(
                f'<spiffworkflow:property name={quoteattr(k)} value={quoteattr(v)} />' for k, v in properties.items()
            ) + "</spiffworkflow:properties></bpmn:extensionElements>"
        body.append(f'<bpmn:{tag} id="{element_id}" name="{name}">{extension}<bpmn:incoming>f{index - 1}</bpmn:incoming>'
                    f'<bpmn:outgoing>f{index}</bpmn:outgoing>{inner}</bpmn:{tag}>')
    body.append(f'<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>f{len(steps)}</bpmn:incoming></bpmn:endEvent>')
    body += [f'<bpmn:sequenceFlow id="f{i}" sourceRef="{ids[i]}" targetRef="{ids[i + 1]}" />' for i in range(len(ids) - 1)]
    refs = "".join(f"<bpmn:flowNodeRef>{i}</bpmn:flowNodeRef>" for i in ids)
    lane = f'<bpmn:laneSet id="LaneSet"><bpmn:lane id="Lane_office" name="{lane}">{refs}</bpmn:lane></bpmn:laneSet>'
    return for_problems(HEAD.format(key=key) + "\n    " + lane + "\n    " + "\n    ".join(body) +
                        "\n  </bpmn:process>\n" + _diagram(key, ids) + "</bpmn:definitions>\n")


def _diagram(key: str, ids: list[str]) -> str:
    """Shapes in a row and the flows between them, so that bpmn-js can draw the process."""
    shapes, edges, boxes = [], [], []
    x = 100
    for element_id in ids:
        event = element_id in ("StartEvent_1", "EndEvent_1") or element_id.startswith("Timer")
        width, height = (36, 36) if event else (100, 80)
        boxes.append((x, 120 - height // 2, width, height))
        shapes.append(f'<bpmndi:BPMNShape id="{element_id}_di" bpmnElement="{element_id}"><dc:Bounds x="{x}" '
                      f'y="{120 - height // 2}" width="{width}" height="{height}" /></bpmndi:BPMNShape>')
        x += width + 60
    for i in range(len(ids) - 1):
        (ax, ay, aw, ah), (bx, _by, _bw, _bh) = boxes[i], boxes[i + 1]
        edges.append(f'<bpmndi:BPMNEdge id="f{i}_di" bpmnElement="f{i}"><di:waypoint x="{ax + aw}" y="120" />'
                     f'<di:waypoint x="{bx}" y="120" /></bpmndi:BPMNEdge>')
    return ('  <bpmndi:BPMNDiagram id="Diagram_1"><bpmndi:BPMNPlane id="Plane_1" bpmnElement="' + key + '">'
            + "".join(shapes + edges) + "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>\n")


# version 1 and 2 of one process: Task_sign renamed (and due later), Task_new added after it,
# Task_old removed (a task put in its very place would be aligned with it by structure)
V1 = flow("repairable", user("Task_sign", "签收", due="P2D"), user("Task_review", "审核"), user("Task_old", "旧步骤"))
V2 = flow("repairable", user("Task_sign", "签收确认", due="P5D"), user("Task_new", "新步骤", due="P1D"),
          user("Task_review", "审核"))


def ready_rows(duban, problem_id: int) -> list[HumanTask]:
    with duban.db.reading() as session:
        return session.scalars(select(HumanTask).where(HumanTask.problem_id == problem_id, HumanTask.state == "ready")
                               .order_by(HumanTask.id)).all()


def rows(duban, problem_id: int) -> list[tuple[str, str, str]]:
    with duban.db.reading() as session:
        return [(r.element_id, r.name, r.state.value) for r in session.scalars(
            select(HumanTask).where(HumanTask.problem_id == problem_id).order_by(HumanTask.id))]


def entries(duban, problem_id: int, action: str) -> list[dict]:
    with duban.db.reading() as session:
        return [e.payload | {"_actor": e.actor_name} for e in session.scalars(
            select(LedgerEntry).where(LedgerEntry.problem_id == problem_id, LedgerEntry.action == action)
            .order_by(LedgerEntry.id))]


def instance(duban, problem_id: int) -> ProcessInstance:
    with duban.db.reading() as session:
        row = session.scalars(select(ProcessInstance).where(ProcessInstance.problem_id == problem_id)).one()
        row.definition  # loaded
        return row


def reloads(duban, problem_id: int):
    """The instance's stored state, loaded against its version (it must load)."""
    with duban.db.reading() as session:
        row = session.scalars(select(ProcessInstance).where(ProcessInstance.problem_id == problem_id)).one()
        return duban.runtime.load(row)
