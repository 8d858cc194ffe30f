"""SpiffWorkflow's refusals said as Duban says things: a sentence naming the element, never
a memory address, a Python exception's repr or a syntax error of Python."""
from __future__ import annotations

import re

from .findings import Finding, describe

_ADDRESS = re.compile(r"<Element \{[^}]*\}(\w+) at 0x[0-9a-f]+>|<[^<>]* at 0x[0-9a-f]+>")
_NAMESPACE = re.compile(r"\{http://www\.omg\.org/spec/BPMN/20100524/MODEL\}")

# (pattern of SpiffWorkflow's message, code, English, Chinese); {what}/{zh} name the element
_KNOWN = [
    (r"Multiple outgoing flows are not supported", "task-several-outgoing",
     "{what} has several outgoing flows; a task leaves by one flow: put a gateway after it",
     "{zh}有多条出线；任务只能有一条出线：请在其后加网关"),
    (r"Cannot resolve data(Input|Output)Association", "data-association-unknown",
     "{what} reads or writes a data object that is not in this process",
     "{zh}读写的数据对象不在本流程中"),
    (r"we found two items, perhaps a form has the same ID", "flow-missing-target",
     "{what} has an outgoing flow to an element that is not in this process",
     "{zh}有一条出线指向本流程中不存在的元素"),
    (r"No start event found", "no-start-event", "{what} has no start event", "{zh}没有开始事件"),
    (r"There is no support implemented for this task type", "unsupported-element",
     "{what} is of a kind the workflow engine does not run", "{zh}的类型不受流程引擎支持"),
    (r"Time Specification Error|Unknown Time Specification", "timer-not-iso",
     "{what} has a timer that is not ISO 8601 (P5D, R/P1M, 2026-12-31T18:00:00+08:00)",
     "{zh}的定时器不是 ISO 8601 格式（P5D、R/P1M、2026-12-31T18:00:00+08:00）"),
    (r"A SubWorkflow Must contain an End event", "subprocess-without-end",
     "{what} has no end event", "{zh}没有结束事件"),
    (r"Element '(?P<tag>[^']+)': This element is not expected", "bpmn-schema",
     "{what}: the element {tag} is not allowed at this place by the BPMN 2.0 schema (check the order of its "
     "child elements)", "{zh}：BPMN 2.0 规范不允许元素 {tag} 出现在此处（请检查子元素的顺序）"),
    (r"Duplicate process ID", "duplicate-process", "{what}: the process id is used twice", "{zh}：流程 id 重复"),
]


def translate(error, root, elements: dict, lines: dict) -> Finding:
    """A Finding for SpiffWorkflow's ValidationException (or anything its parser raised)."""
    element_id = getattr(error, "id", "") or ""
    text = str(error).split("\n")[0]
    line = lines.get(element_id) or _line(getattr(error, "line_number", None))
    element = elements.get(element_id)
    if element is None and line:  # an XML Schema error carries only its line
        element = _owner_at(root, line)
        element_id = element.get("id") if element is not None else ""
    what, zh = describe(element) if element is not None else ("the document", "文档")
    for pattern, code, english, chinese in _KNOWN:
        found = re.search(pattern, text)
        if found:
            tag = _NAMESPACE.sub("bpmn:", found.group("tag")) if "tag" in found.groupdict() else ""
            return Finding(element_id or "document", line, english.format(what=what, tag=tag),
                           code=code, message_zh=chinese.format(zh=zh, tag=tag))
    clean = _NAMESPACE.sub("bpmn:", _ADDRESS.sub(lambda m: f"bpmn:{m.group(1)}" if m.group(1) else "an element", text))
    if type(error).__name__ != "ValidationException" or clean.startswith(("SyntaxError", "NameError")) or \
            re.match(r"^\w+Error\(", clean):
        clean = "the workflow engine could not read it"
        clean_zh = "流程引擎无法读取它"
    else:
        clean_zh = f"流程引擎拒绝：{clean}"
    return Finding(element_id or "document", line, f"{what}: {clean}", code="engine-refused",
                   message_zh=f"{zh}：{clean_zh}")


def _owner_at(root, line: int):
    """The element with an id that holds what stands on `line` (a flow for its condition)."""
    found = next((el for el in root.iter() if isinstance(el.tag, str) and el.sourceline == line), None)
    while found is not None and not found.get("id"):
        found = found.getparent()
    return found if found is not None and found is not root else None


def _line(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
