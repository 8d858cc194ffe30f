"""Small diagrams whose steps fail, and looks at incidents from the outside, for the
incident tests."""
from __future__ import annotations

from xml.sax.saxutils import escape

from sqlalchemy import select

from engine.models import Incident, ProcessInstance
from engine.workflow.serializer import state_to_dict

from .support import for_problems
from .test_definitions import FIXTURE, deploy_xml

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions '
        'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Definitions_{key}" '
        'targetNamespace="http://bpmn.io/schema/bpmn">\n  <bpmn:process id="{key}" name="{key}" isExecutable="true">')


def timer(element_id: str, text: str, name: str = "等待期"):
    return element_id, ("intermediateCatchEvent", name,
                        f'<bpmn:timerEventDefinition id="{element_id}_def"><bpmn:timeDuration '
                        f'xsi:type="bpmn:tFormalExpression">{escape(text)}</bpmn:timeDuration>'
                        f'</bpmn:timerEventDefinition>')


def script(element_id: str, text: str, name: str = "计算"):
    return element_id, ("scriptTask", name, f"<bpmn:script>{escape(text)}</bpmn:script>")


def user(element_id: str, name: str = "办理"):
    return element_id, ("userTask", name, "")


def chain(key: str, *steps, data: tuple[str, ...] = ()) -> str:
    """start → each step in turn → end, in one lane (环督办); `data` names declared data objects
    (known to the deploy-time checks, unset at run time unless something writes them)."""
    ids = ["StartEvent_1", *(element_id for element_id, _ in steps), "EndEvent_1"]
    flows = [(f"f{i}", ids[i], ids[i + 1]) for i in range(len(ids) - 1)]
    body = ['<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>']
    for index, (element_id, (tag, name, inner)) in enumerate(steps, start=1):
        body.append(f'<bpmn:{tag} id="{element_id}" name="{name}"><bpmn:incoming>f{index - 1}</bpmn:incoming>'
                    f'<bpmn:outgoing>f{index}</bpmn:outgoing>{inner}</bpmn:{tag}>')
    body.append(f'<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>f{len(steps)}</bpmn:incoming></bpmn:endEvent>')
    body += [f'<bpmn:sequenceFlow id="{f}" sourceRef="{a}" targetRef="{b}" />' for f, a, b in flows]
    return _document(key, ids, body + _data_objects(data))


def gateway(key: str, condition_a: str, condition_b: str, data: tuple[str, ...] = ()) -> str:
    """start → an exclusive gateway → Task_a when `condition_a`, Task_b when `condition_b`."""
    ids = ["StartEvent_1", "Gateway", "Task_a", "Task_b", "End_a", "End_b"]
    body = [
        '<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>',
        '<bpmn:exclusiveGateway id="Gateway" name="金额判断"><bpmn:incoming>f0</bpmn:incoming>'
        '<bpmn:outgoing>fa</bpmn:outgoing><bpmn:outgoing>fb</bpmn:outgoing></bpmn:exclusiveGateway>',
        '<bpmn:userTask id="Task_a" name="大额"><bpmn:incoming>fa</bpmn:incoming><bpmn:outgoing>fa2</bpmn:outgoing>'
        '</bpmn:userTask>',
        '<bpmn:userTask id="Task_b" name="小额"><bpmn:incoming>fb</bpmn:incoming><bpmn:outgoing>fb2</bpmn:outgoing>'
        '</bpmn:userTask>',
        '<bpmn:endEvent id="End_a"><bpmn:incoming>fa2</bpmn:incoming></bpmn:endEvent>',
        '<bpmn:endEvent id="End_b"><bpmn:incoming>fb2</bpmn:incoming></bpmn:endEvent>',
        '<bpmn:sequenceFlow id="f0" sourceRef="StartEvent_1" targetRef="Gateway" />',
        f'<bpmn:sequenceFlow id="fa" sourceRef="Gateway" targetRef="Task_a"><bpmn:conditionExpression '
        f'xsi:type="bpmn:tFormalExpression">{escape(condition_a)}</bpmn:conditionExpression></bpmn:sequenceFlow>',
        f'<bpmn:sequenceFlow id="fb" sourceRef="Gateway" targetRef="Task_b"><bpmn:conditionExpression '
        f'xsi:type="bpmn:tFormalExpression">{escape(condition_b)}</bpmn:conditionExpression></bpmn:sequenceFlow>',
        '<bpmn:sequenceFlow id="fa2" sourceRef="Task_a" targetRef="End_a" />',
        '<bpmn:sequenceFlow id="fb2" sourceRef="Task_b" targetRef="End_b" />',
    ]
    return _document(key, ids, body + _data_objects(data))


def _data_objects(names: tuple[str, ...]) -> list[str]:
    return [f'<bpmn:dataObject id="{name}" name="{name}" />' for name in names]


def _document(key: str, ids: list[str], body: list[str]) -> str:
    refs = "".join(f"<bpmn:flowNodeRef>{i}</bpmn:flowNodeRef>" for i in ids)
    lane = f'<bpmn:laneSet id="LaneSet"><bpmn:lane id="Lane_office" name="环督办">{refs}</bpmn:lane></bpmn:laneSet>'
    return for_problems(HEAD.format(key=key) + "\n    " + lane + "\n    " + "\n    ".join(body)
                        + "\n  </bpmn:process>\n</bpmn:definitions>\n")


def deploy(api, document: str) -> None:
    response = deploy_xml(api, document, accept=FIXTURE)
    assert response.status_code == 201, response.json


# -- looking --------------------------------------------------------------------------------------

def instance_of(duban, problem_id: int) -> ProcessInstance:
    with duban.db.reading() as session:
        return session.scalars(select(ProcessInstance).where(ProcessInstance.problem_id == problem_id)).one()


def incidents_of(duban, problem_id: int | None = None) -> list[Incident]:
    with duban.db.reading() as session:
        statement = select(Incident).order_by(Incident.id)
        if problem_id is not None:
            statement = statement.where(Incident.problem_id == problem_id)
        return session.scalars(statement).all()


def task_state(duban, problem_id: int, element_id: str) -> str:
    """The state SpiffWorkflow's task at `element_id` is saved in."""
    from SpiffWorkflow.util.task import TaskState

    with duban.db.reading() as session:
        instance = session.scalars(select(ProcessInstance).where(ProcessInstance.problem_id == problem_id)).one()
        workflow = duban.runtime.load(instance)
    return next(TaskState.get_name(t.state) for t in workflow.get_tasks() if t.task_spec.bpmn_id == element_id)


def fix_data(duban, problem_id: int, element_id: str, **data) -> None:
    """Put `data` into the saved data of the task at `element_id`: the cause of an incident fixed
    (standing in for the repair actions of a later release)."""
    with duban.db.transaction() as session:
        instance = session.scalars(select(ProcessInstance).where(ProcessInstance.problem_id == problem_id)).one()
        workflow = duban.runtime.load(instance)
        task = next(t for t in workflow.get_tasks() if t.task_spec.bpmn_id == element_id)
        task.data.update(data)
        instance.state = state_to_dict(workflow)
