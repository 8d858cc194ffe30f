"""Checks of the process's shape: flows that point nowhere, elements no token reaches, tasks
with several ways out, gateway flows without a condition, and exclusive gateways whose
conditions miss an answer of the field they test (the problem would be stuck there for good)."""
from __future__ import annotations

from .findings import WARNING, Finding, describe
from .graph import GATEWAYS, FlowGraph, local
from .answers import covered_answers, options_of
from .fields import last_setters

# SpiffWorkflow splits the way out of these itself; a task leaves by one flow only
MANY_WAYS_OUT = GATEWAYS | {"startEvent", "intermediateCatchEvent", "boundaryEvent", "eventBasedGateway"}


def check_flows(graph: FlowGraph, findings: list[Finding]) -> set[str]:
    """Flows whose source or target is missing; returns the ids of the broken flows."""
    broken = set()
    for flow_id, flow in graph.flows.items():
        for end, en, zh in (("sourceRef", "source", "起点"), ("targetRef", "target", "终点")):
            ref = flow.get(end)
            if ref in graph.nodes:
                continue
            broken.add(flow_id)
            what_en, what_zh = describe(flow)
            if ref:
                findings.append(Finding(flow_id, flow.sourceline, f"{what_en}: its {en} {ref!r} is not an element of "
                                        "this process; connect the flow to an existing element or delete it",
                                        code=f"flow-missing-{en}", message_zh=f"{what_zh}：其{zh} {ref} 不是本流程中的"
                                        "元素；请把连线接到已有元素上，或删除它"))
            else:
                findings.append(Finding(flow_id, flow.sourceline, f"{what_en} has no {en}",
                                        code=f"flow-missing-{en}", message_zh=f"{what_zh}没有{zh}"))
    return broken


def check_reachable(graph: FlowGraph, findings: list[Finding]) -> None:
    if not graph.starts():
        findings.append(Finding(graph.process.get("id"), graph.process.sourceline,
                                "the process has no start event", code="no-start-event",
                                message_zh="流程没有开始事件"))
        return
    reached = graph.reachable()
    for node_id, node in graph.nodes.items():
        if node_id in reached:
            continue
        en, zh = describe(node)
        findings.append(Finding(node_id, node.sourceline, f"{en} cannot be reached from the start event: no "
                                "sequence flow leads to it, so it never runs", code="unreachable", severity=WARNING,
                                message_zh=f"{zh}从开始事件无法到达：没有顺序流通向它，它永远不会执行"))


def check_ways_out(graph: FlowGraph, findings: list[Finding]) -> None:
    for node_id, node in graph.nodes.items():
        flows = graph.outgoing.get(node_id, [])
        if len(flows) < 2 or local(node) in MANY_WAYS_OUT:
            continue
        en, zh = describe(node)
        ids = ", ".join(f.get("id") for f in flows)
        findings.append(Finding(node_id, node.sourceline, f"{en} has {len(flows)} outgoing flows ({ids}); a task "
                                "leaves by one flow: put an exclusive gateway with conditions (one way) or a parallel "
                                "gateway (all ways) after it", code="task-several-outgoing",
                                message_zh=f"{zh}有 {len(flows)} 条出线（{ids}）；任务只能有一条出线：请在其后加排他网关"
                                "（带条件，走其一）或并行网关（全部都走）"))


def check_gateways(graph: FlowGraph, forms: dict[str, dict], sets: dict[str, set[str]],
                   broken: set[str], findings: list[Finding]) -> None:
    for node_id, gateway in graph.nodes.items():
        kind = local(gateway)
        if kind not in ("exclusiveGateway", "inclusiveGateway"):
            continue
        flows = [f for f in graph.outgoing.get(node_id, []) if f.get("id") not in broken]
        default = gateway.get("default")
        en, zh = describe(gateway)
        if default and default not in {f.get("id") for f in flows}:
            findings.append(Finding(node_id, gateway.sourceline, f"{en}: its default flow {default!r} is not one of "
                                    "its outgoing flows", code="gateway-default-unknown",
                                    message_zh=f"{zh}：默认流 {default} 不是它的出线"))
        if len(flows) < 2:
            continue
        conditions = {}
        for flow in flows:
            text = _condition(flow)
            if text is not None:
                conditions[flow.get("id")] = text
            elif flow.get("id") != default:
                flow_en, flow_zh = describe(flow)
                findings.append(Finding(flow.get("id"), flow.sourceline, f"{flow_en} leaves {en} without a "
                                        "condition and is not its default flow: give it a condition or make it the "
                                        "default", code="gateway-flow-without-condition",
                                        message_zh=f"{flow_zh}从{zh}出发，既无条件也不是默认流：请为它写条件，或设为默认流"))
        if kind == "exclusiveGateway" and not default and len(conditions) == len(flows):
            _check_coverage(graph, gateway, list(conditions.values()), forms, sets, findings)


def _condition(flow) -> str | None:
    element = next((c for c in flow if local(c) == "conditionExpression"), None)
    text = (element.text or "").strip() if element is not None else ""
    return text or None


def _check_coverage(graph, gateway, conditions: list[str], forms, sets, findings) -> None:
    """Every condition tests one select/radio/checkbox field for some answers: the answers the
    form that last set it offers that none covers leave the problem stuck at the gateway."""
    field, covered = covered_answers(conditions)
    if field is None:
        return
    setters = last_setters(graph, sets, gateway.get("id"), field)
    if not setters:
        return
    options, where = options_of(field, forms, setters)
    if not options:
        return
    missing = [value for value in options if value not in covered]
    if not missing:
        return
    en, zh = describe(gateway)
    shown = ", ".join(repr(v) for v in missing)
    tasks = ", ".join(where)
    findings.append(Finding(gateway.get("id"), gateway.sourceline,
                            f"{en} has no default flow and its conditions do not cover {field} = {shown} (an answer "
                            f"of the form of {tasks}): a process answered so would stop here for good; add a flow "
                            "for it or make one flow the default", code="gateway-not-exhaustive",
                            message_zh=f"{zh}没有默认流，其条件未覆盖 {field} = {shown}（{tasks} 表单中的选项）："
                            "如此作答的流程将永远停在这里；请为它加一条出线，或把某条出线设为默认流"))
