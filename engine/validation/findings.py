"""What a check reports: one Finding per problem, and DocumentError carrying all of them."""
from __future__ import annotations

from dataclasses import dataclass

ERROR, WARNING = "error", "warning"


@dataclass
class Finding:
    """One problem: `element` is the BPMN element id ("document" for the file as a whole),
    `line` the line of the XML, `message` English and `message_zh` Chinese."""

    element: str
    line: int | None
    message: str
    code: str = "convention"
    severity: str = ERROR
    message_zh: str | None = None
    name: str | None = None
    fix: str | None = None  # the text that would mend it (a condition, a lane name), when known

    def text(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message

    def as_dict(self) -> dict:
        return {"severity": self.severity, "code": self.code, "element_id": self.element,
                "element_name": self.name, "line": self.line, "message": self.message,
                "message_zh": self.message_zh or self.message, **({"fix": self.fix} if self.fix is not None else {})}


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == ERROR]


def warnings(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == WARNING]


class DocumentError(Exception):
    """The document cannot be deployed; `findings` says exactly where and why (the errors,
    and the warnings when they were not accepted)."""

    def __init__(self, findings: list[Finding]):
        super().__init__("; ".join(f"{f.element}: {f.text()}" for f in findings))
        self.findings = findings

    def by_element(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for finding in self.findings:
            grouped.setdefault(finding.element, []).append(finding.text())
        return grouped

    @property
    def errors(self) -> list[Finding]:
        return errors(self.findings)

    @property
    def warnings(self) -> list[Finding]:
        return warnings(self.findings)


# how an element is called in a sentence, by its BPMN tag
KINDS = {
    "userTask": ("user task", "用户任务"), "manualTask": ("manual task", "人工任务"), "task": ("task", "任务"),
    "scriptTask": ("script task", "脚本任务"), "serviceTask": ("service task", "服务任务"),
    "sendTask": ("send task", "发送任务"), "receiveTask": ("receive task", "接收任务"),
    "businessRuleTask": ("business rule task", "业务规则任务"), "callActivity": ("call activity", "调用活动"),
    "subProcess": ("subprocess", "子流程"), "transaction": ("transaction", "事务"),
    "startEvent": ("start event", "开始事件"), "endEvent": ("end event", "结束事件"),
    "intermediateCatchEvent": ("intermediate event", "中间事件"),
    "intermediateThrowEvent": ("intermediate event", "中间事件"), "boundaryEvent": ("boundary event", "边界事件"),
    "exclusiveGateway": ("exclusive gateway", "排他网关"), "inclusiveGateway": ("inclusive gateway", "包容网关"),
    "parallelGateway": ("parallel gateway", "并行网关"), "eventBasedGateway": ("event-based gateway", "事件网关"),
    "complexGateway": ("complex gateway", "复杂网关"), "sequenceFlow": ("sequence flow", "顺序流"),
    "lane": ("lane", "泳道"), "process": ("process", "流程"),
}


def describe(element) -> tuple[str, str]:
    """('user task "签收" (Task_sign)', '用户任务“签收”（Task_sign）') for an lxml element."""
    tag = element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else "element"
    en, zh = KINDS.get(tag, (tag, tag))
    name, element_id = (element.get("name") or "").strip(), element.get("id") or "?"
    if name:
        return f'{en} "{name}" ({element_id})', f"{zh}“{name}”（{element_id}）"
    return f"{en} {element_id}", f"{zh} {element_id}"


def name_and_sentence(findings: list[Finding], root) -> None:
    """Fill each finding's element name and make its sentences name the element."""
    elements = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    for finding in findings:
        element = elements.get(finding.element)
        if element is None:
            if finding.message_zh is None:
                finding.message_zh = finding.message
            continue
        finding.name = (element.get("name") or "").strip() or None
        en, zh = describe(element)
        original = finding.message
        if finding.element not in finding.message:
            finding.message = f"{en}: {finding.message}"
        if finding.message_zh is None:
            finding.message_zh = f"{zh}：{original}"
        elif finding.element not in finding.message_zh:
            finding.message_zh = f"{zh}：{finding.message_zh}"
