"""Expressions that name a field nothing sets: a condition (or a timer expression) reads the
process data, which holds the start data and what the forms and scripts before it set. A
name that no form or script on some path from the start sets, and that is not start data,
is a typing mistake that would stop the process at run time (NameError).

The analysis is a "may" one: a field counts as set before an element when it is set on at
least one path from the start to it; a call activity, a service or business rule task may
set anything, and nothing is claimed after one."""
from __future__ import annotations

import ast
import difflib

from ..workflow import forms as task_forms
from ..workflow.sandbox import ExpressionRefused, check_expression
from ..workflow.sandbox.whitelist import SAFE_FUNCTIONS, TIMER_FUNCTIONS
from .findings import Finding, describe
from .graph import CONTAINERS, FlowGraph, local

# what a process the escalation ladder starts is given (engine/escalation/firing.py
# _start_processes); a problem's own process starts with none
START_DATA = frozenset({"problem_code", "problem_title", "level", "level_name", "rule", "deadline",
                        "overdue_working_days", "target_names", "official_name", "official_title",
                        "allowed_party_forms", "allowed_government_forms"})
ANYTHING = "*"
OPAQUE = frozenset({"callActivity", "serviceTask", "businessRuleTask"})
SCRIPTS = frozenset({"script", "preScript", "postScript"})


def setters(graph: FlowGraph, forms: dict[str, dict]) -> dict[str, set[str]]:
    """node id -> the fields it sets (its form's keys, its scripts' assignments, a message's variable)."""
    found: dict[str, set[str]] = {}
    for node_id, node in graph.nodes.items():
        names = set()
        if node_id in forms:
            names |= {c["key"] for c in task_forms.inputs(forms[node_id]) if c.get("key")}
        for element in node.iter():
            kind = local(element)
            if kind in SCRIPTS:
                names |= _assigned(element.text or "")
            elif kind == "messageVariable" and (element.text or "").strip():
                names.add(element.text.strip())
            elif kind == "serviceTaskOperator" and element.get("resultVariable"):
                names.add(element.get("resultVariable"))
        if local(node) in OPAQUE:
            names.add(ANYTHING)
        found[node_id] = names
    return found


def known_everywhere(process) -> set[str]:
    """Names the process declares for itself: data objects, inputs and outputs, loop items."""
    names = set()
    for element in process.iter():
        kind = local(element)
        if kind in ("dataObject", "dataObjectReference", "dataInput", "dataOutput", "dataStoreReference"):
            names |= {v for v in (element.get("id"), element.get("name")) if v}
        elif kind in ("inputDataItem", "outputDataItem", "loopDataInputRef", "loopDataOutputRef"):
            names |= {v for v in (element.get("name"), (element.text or "").strip()) if v}
    return names


def available(graph: FlowGraph, sets: dict[str, set[str]]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(fields set before each node, fields set once it is done), on some path from the start."""
    before = {node_id: set() for node_id in graph.nodes}
    after = {node_id: set() for node_id in graph.nodes}
    inside = {node_id: set() for node_id in graph.nodes}   # what a subprocess's elements set
    for node_id, node in graph.nodes.items():
        container = graph.container(node)
        while container is not None:
            inside[container.get("id")] |= sets[node_id]
            container = graph.container(container)
    everything = set().union(*sets.values()) if sets else set()
    changed = True
    while changed:
        changed = False
        for node_id, node in graph.nodes.items():
            incoming = set()
            for flow in graph.incoming.get(node_id, []):
                incoming |= after.get(flow.get("sourceRef"), set())
            if local(node) == "boundaryEvent":
                incoming |= before.get(node.get("attachedToRef"), set())
            container = graph.container(node)
            if local(node) == "startEvent" and container is not None:
                incoming |= everything if graph.is_event_subprocess(container) else before[container.get("id")]
            out = incoming | sets[node_id] | (inside[node_id] if local(node) in CONTAINERS else set())
            if incoming - before[node_id] or out - after[node_id]:
                before[node_id] |= incoming
                after[node_id] |= out
                changed = True
    return before, after


def check_names(graph: FlowGraph, forms: dict[str, dict], findings: list[Finding]) -> dict[str, set[str]]:
    """Every condition and timer expression names only fields set before it; returns the
    fields each node sets (for the gateway coverage check)."""
    sets = setters(graph, forms)
    before, after = available(graph, sets)
    declared = known_everywhere(graph.process) | START_DATA
    for flow_id, flow in graph.flows.items():
        condition = next((c for c in flow if local(c) == "conditionExpression"), None)
        source = flow.get("sourceRef")
        if condition is None or source not in graph.nodes:
            continue
        _check(flow, condition, after[source] | declared, "condition", "条件", findings)
    for node_id, node in graph.nodes.items():
        for definition in (c for c in node if local(c) == "timerEventDefinition"):
            place = node.get("attachedToRef") if local(node) == "boundaryEvent" else node_id
            for timer in definition:
                _check(node, timer, before.get(place, set()) | declared, "timer", "定时器", findings)
    return sets


def last_setters(graph: FlowGraph, sets: dict[str, set[str]], node_id: str, field: str) -> list[str] | None:
    """The elements that set `field` last on the paths from the start to `node_id` (None when
    something else may have set it: start data, a call activity, a subprocess)."""
    if field in START_DATA:
        return None
    found, seen, todo = [], set(), _predecessors(graph, node_id)
    while todo:
        current = todo.pop()
        if current in seen or current not in graph.nodes:
            continue
        seen.add(current)
        if ANYTHING in sets[current]:
            return None
        if field in sets[current]:
            found.append(current)
        else:
            todo.extend(_predecessors(graph, current))
    return sorted(found)


def _predecessors(graph: FlowGraph, node_id: str) -> list[str]:
    node = graph.nodes[node_id]
    found = [f.get("sourceRef") for f in graph.incoming.get(node_id, [])]
    if local(node) == "boundaryEvent" and node.get("attachedToRef") in graph.nodes:
        found += _predecessors(graph, node.get("attachedToRef"))
    container = graph.container(node)
    if local(node) == "startEvent" and container is not None and not graph.is_event_subprocess(container):
        found += _predecessors(graph, container.get("id"))
    return found


def _check(owner, element, known: set[str], what_en: str, what_zh: str, findings: list[Finding]) -> None:
    text = (element.text or "").strip()
    if not text or ANYTHING in known:
        return
    try:
        tree = check_expression(text)
    except ExpressionRefused:
        return  # refused on its own (document.py names the construct)
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    names = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called]
    functions = SAFE_FUNCTIONS | TIMER_FUNCTIONS | {"True", "False", "None"}
    for name in dict.fromkeys(names):
        if name in known or name in functions:
            continue
        en, zh = describe(owner)
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint_en = f"; did you mean {close[0]!r}?" if close else ""
        hint_zh = f"；是否应为 {close[0]}？" if close else ""
        findings.append(Finding(owner.get("id"), element.sourceline,
                                f"the {what_en} of {en} names {name!r}, which no form or script before it sets and "
                                f"which is not start data{hint_en}", code=f"{what_en}-unknown-field",
                                message_zh=f"{zh}的{what_zh}引用了 {name}，但它之前没有任何表单或脚本设置该字段，"
                                f"它也不是流程启动数据{hint_zh}"))


def _assigned(script: str) -> set[str]:
    try:
        tree = ast.parse(script)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
