"""Where a process instance has been and where it stands: the BPMN elements it passed, the
ones it waits at, and the sequence flows it took, by the element ids of its diagram.

Read from the instance's stored workflow state (SpiffWorkflow's task tree): every task of
the tree names the element it runs (`task_spec.bpmn_id`; the engine's own helper specs have
none), its state, and the task it came from. A flow is taken where a passed element led to
an element the process reached; which flow joins the two is read from the diagram's XML.
When the state cannot be read (an instance that failed before its first save, a format the
engine no longer reads), the human-task rows still tell which user tasks were done and
which are open.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.util.task import TaskState as SpiffState

from ..models import ProcessInstance, TaskState
from .serializer import state_from_dict

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_REACHED = SpiffState.READY | SpiffState.STARTED | SpiffState.WAITING | SpiffState.COMPLETED | SpiffState.ERROR


@dataclass
class Trail:
    """Element ids of one instance's diagram, in the order the process met them."""

    done: list[str] = field(default_factory=list)      # passed (completed) elements
    current: list[str] = field(default_factory=list)   # ready or running: where the work is now
    waiting: list[str] = field(default_factory=list)   # events waiting (a timer, a boundary event)
    flows: list[str] = field(default_factory=list)     # sequence flows taken
    from_state: bool = True                            # False: read from the task rows only

    def as_dict(self) -> dict:
        return {"done": self.done, "current": self.current, "waiting": self.waiting, "flows": self.flows}


def _add(seen: list[str], element: str) -> None:
    if element not in seen:
        seen.append(element)


def sequence_flows(bpmn_xml: str) -> dict[tuple[str, str], list[str]]:
    """(source element id, target element id) -> the ids of the sequence flows joining them."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(bpmn_xml.encode(), parser)
    found: dict[tuple[str, str], list[str]] = {}
    for flow in root.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        found.setdefault((flow.get("sourceRef"), flow.get("targetRef")), []).append(flow.get("id"))
    return found


def _element(task) -> str | None:
    return getattr(task.task_spec, "bpmn_id", None)


def _came_from(task):
    """The nearest task above `task` in the tree that runs a BPMN element."""
    parent = task.parent
    while parent is not None and _element(parent) is None:
        parent = parent.parent
    return parent


def of_workflow(workflow, bpmn_xml: str) -> Trail:
    trail = Trail()
    joins = sequence_flows(bpmn_xml)
    tasks = sorted(workflow.get_tasks(state=_REACHED), key=lambda t: (t.last_state_change, str(t.id)))
    for task in tasks:
        element = _element(task)
        if element is None:
            continue
        if task.state == SpiffState.COMPLETED:
            _add(trail.done, element)
        elif task.state == SpiffState.WAITING:
            _add(trail.waiting, element)
        else:
            _add(trail.current, element)
        source = _came_from(task)
        if source is not None and source.state == SpiffState.COMPLETED:
            for flow in joins.get((_element(source), element), []):
                _add(trail.flows, flow)
    # an element passed before and reached again (a plan sent back) is where the work is now
    trail.done = [e for e in trail.done if e not in trail.current]
    return trail


def of_task_rows(instance: ProcessInstance) -> Trail:
    trail = Trail(from_state=False)
    for row in instance.tasks:
        if row.state == TaskState.COMPLETED:
            _add(trail.done, row.element_id)
        elif row.state == TaskState.READY:
            _add(trail.current, row.element_id)
    trail.done = [e for e in trail.done if e not in trail.current]
    return trail


def of_instance(instance: ProcessInstance) -> Trail:
    """The trail of a stored instance (read only: nothing runs, nothing is saved)."""
    try:
        workflow = state_from_dict(instance.state, instance.definition, None)
    except Exception:  # noqa: BLE001 - any unreadable state falls back to the task rows
        return of_task_rows(instance)
    return of_workflow(workflow, instance.definition.bpmn_xml)
