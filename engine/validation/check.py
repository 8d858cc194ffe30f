"""Checking a document in full before deploying it: read it safely, Duban's conventions
(engine/workflow/document.py), the static checks of this package, then SpiffWorkflow's parser,
whose refusals are translated. All findings come back together."""
from __future__ import annotations

from dataclasses import dataclass, field

from SpiffWorkflow.spiff.parser import VALIDATOR
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from ..workflow import document, purpose
from . import encoding, fields, flows, plan_approval
from .findings import ERROR, WARNING, DocumentError, Finding, errors, name_and_sentence, warnings
from .graph import FlowGraph
from .parser_errors import translate

SEVERITY_ORDER = {ERROR: 0, WARNING: 1}


@dataclass
class Deployable:
    key: str
    name: str
    xml: str
    checksum: str
    forms: dict[str, dict]
    spec: object
    subprocess_specs: dict = field(default_factory=dict)
    purpose: str | None = None


@dataclass
class Inspection:
    findings: list[Finding]
    deployable: Deployable | None = None

    @property
    def errors(self) -> list[Finding]:
        return errors(self.findings)

    @property
    def warnings(self) -> list[Finding]:
        return warnings(self.findings)


def inspect(content: bytes, lane_roles: set[str] | dict, filename: str = "upload.bpmn",
            attachments: dict[str, bytes] | None = None) -> Inspection:
    """Every finding about the document, and the parsed spec when it has no error. A document
    in another encoding (GBK, UTF-16, Latin-1) is checked, and deployed, as UTF-8."""
    try:
        content = encoding.to_utf8(content) if content and content.strip() else content
        tree = document.read_xml(content)
        process, forms, findings, roles = document.conventions(tree, lane_roles, attachments)
    except DocumentError as error:
        return Inspection(error.findings)
    graph = FlowGraph.of(process)
    broken = flows.check_flows(graph, findings)
    flows.check_reachable(graph, findings)
    flows.check_ways_out(graph, findings)
    setters = fields.check_names(graph, forms, findings)
    plan_approval.check(process, forms, findings)
    flows.check_gateways(graph, forms, setters, broken, findings)
    declared, purpose_findings = purpose.read(process)
    findings += purpose_findings
    # a ladder process leaves the problem's status to the problem's own process
    if declared not in purpose.LADDER and not purpose.sets_problem_status(process):
        undeclared = declared is None and not purpose_findings
        findings.append(Finding(process.get("id"), process.sourceline, "no element sets a problemStatus: the "
                                "problem's status (已交办, 整改中 …) will not follow this process"
                                + (purpose.UNDECLARED if undeclared else ""),
                                code="no-problem-status", severity=WARNING,
                                message_zh="没有任何元素设置 problemStatus：问题状态（已交办、整改中……）不会随本流程变化"
                                           + (purpose.UNDECLARED_ZH if undeclared else "")))
    root = tree.getroot()
    elements = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    lines = {element_id: el.sourceline for element_id, el in elements.items()}
    spec = subprocess_specs = None
    parser = SpiffBpmnParser(validator=VALIDATOR)
    try:
        parser.add_bpmn_xml(tree, filename=filename)
        spec = parser.get_spec(process.get("id"))
        subprocess_specs = parser.get_subprocess_specs(process.get("id"))
        _give_lanes(roles, spec, subprocess_specs)
    except Exception as error:  # noqa: BLE001 - whatever the parser raises is reported, never a 500
        finding = translate(error, root, elements, lines)
        if _new(finding, errors(findings)):
            findings.append(finding)
    name_and_sentence(findings, root)
    findings.sort(key=lambda f: (SEVERITY_ORDER.get(f.severity, 2), f.line or 0))
    if errors(findings) or spec is None:
        return Inspection(findings)
    deployable = Deployable(key=process.get("id"), name=process.get("name") or process.get("id"),
                            xml=document.as_text(content, tree), checksum=document.checksum_of(content, forms),
                            forms=forms, spec=spec, subprocess_specs=subprocess_specs,
                            purpose=declared)
    return Inspection(findings, deployable)


def _give_lanes(roles: dict[str, str], spec, subprocess_specs) -> None:
    """A task in no lane whose camunda:candidateGroups names a role runs as if it lay in the
    lane of that name: the deployed spec carries it, the diagram stays as drawn."""
    for task_id, lane in roles.items():
        for owner in (spec, *subprocess_specs.values()):
            task_spec = owner.task_specs.get(task_id)
            if task_spec is not None and not task_spec.lane:
                task_spec.lane = lane


def prepare(content: bytes, lane_roles: set[str] | dict, filename: str = "upload.bpmn",
            attachments: dict[str, bytes] | None = None, accept_warnings: bool = False) -> tuple[Deployable, list]:
    """The deployable version and its (accepted) warnings; DocumentError lists every finding
    when there is an error, or a warning that was not accepted."""
    inspection = inspect(content, lane_roles, filename, attachments)
    if inspection.errors or (inspection.warnings and not accept_warnings) or inspection.deployable is None:
        raise DocumentError(inspection.findings)
    return inspection.deployable, inspection.warnings


def _new(finding: Finding, found: list[Finding]) -> bool:
    """Whether the parser's refusal says something the checks before it did not: when they
    found errors, the parser often stumbles on the same element (or anywhere, after it)."""
    if not found:
        return True
    if finding.code == "engine-refused":
        return False
    return all(f.element != finding.element and f.code != finding.code for f in found)
