"""The executable process as a graph: its flow nodes (at any depth), its sequence flows, what
each node's way in and way out is, for the flow checks and the fields analysis."""
from __future__ import annotations

from dataclasses import dataclass, field

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"

FLOW_NODES = frozenset({
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "task", "userTask", "manualTask", "serviceTask", "scriptTask", "sendTask", "receiveTask", "businessRuleTask",
    "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway"})
CONTAINERS = frozenset({"subProcess", "transaction", "adHocSubProcess"})
GATEWAYS = frozenset({"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway",
                      "complexGateway"})


def local(element) -> str:
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


@dataclass
class FlowGraph:
    process: object
    nodes: dict = field(default_factory=dict)       # id -> element
    flows: dict = field(default_factory=dict)       # id -> sequenceFlow element
    outgoing: dict = field(default_factory=dict)    # node id -> [flow]
    incoming: dict = field(default_factory=dict)    # node id -> [flow]
    boundaries: dict = field(default_factory=dict)  # activity id -> [boundary event]

    @classmethod
    def of(cls, process) -> "FlowGraph":
        graph = cls(process)
        for element in process.iter():
            kind = local(element)
            if kind in FLOW_NODES and element.get("id"):
                graph.nodes[element.get("id")] = element
            elif kind == "sequenceFlow" and element.get("id"):
                graph.flows[element.get("id")] = element
        for flow in graph.flows.values():
            graph.outgoing.setdefault(flow.get("sourceRef"), []).append(flow)
            graph.incoming.setdefault(flow.get("targetRef"), []).append(flow)
        for node in graph.nodes.values():
            if local(node) == "boundaryEvent":
                graph.boundaries.setdefault(node.get("attachedToRef"), []).append(node)
        return graph

    def container(self, node):
        """The subprocess a node lies in (None at the process level)."""
        parent = node.getparent()
        return parent if parent is not None and local(parent) in CONTAINERS else None

    def starts(self, container=None) -> list:
        """The start events directly inside `container` (the process itself when None)."""
        owner = self.process if container is None else container
        return [child for child in owner if local(child) == "startEvent"]

    def is_event_subprocess(self, node) -> bool:
        return local(node) in CONTAINERS and node.get("triggeredByEvent") == "true"

    def successors(self, node_id: str) -> list[str]:
        """Where a token can go from a node: its flows, its boundary events, into a subprocess."""
        node = self.nodes[node_id]
        found = [f.get("targetRef") for f in self.outgoing.get(node_id, [])]
        found += [b.get("id") for b in self.boundaries.get(node_id, [])]
        if local(node) in CONTAINERS and not self.is_event_subprocess(node):
            found += [s.get("id") for s in self.starts(node)]
        return [n for n in found if n in self.nodes]

    def roots(self) -> list[str]:
        """Where tokens begin: the process's start events, and those of event subprocesses
        (triggered by their event, wherever the process stands)."""
        found = [s.get("id") for s in self.starts()]
        for node in self.nodes.values():
            if self.is_event_subprocess(node):
                found += [s.get("id") for s in self.starts(node)]
        return found

    def reachable(self) -> set[str]:
        seen: set[str] = set()
        todo = list(self.roots())
        while todo:
            node_id = todo.pop()
            if node_id in seen or node_id not in self.nodes:
                continue
            seen.add(node_id)
            todo.extend(self.successors(node_id))
        # a subprocess whose inside was reached is reached (an event subprocess through its start)
        for node_id in list(seen):
            container = self.container(self.nodes[node_id])
            while container is not None:
                seen.add(container.get("id"))
                container = self.container(container)
        return seen
