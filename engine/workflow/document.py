"""Reading a BPMN document safely and checking it against Duban's conventions
(see bpmn/README.md) before SpiffWorkflow parses it.

Every problem found names the element id and the line, so that an administrator can find it
in the modeler or the file.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser import VALIDATOR
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from ..models import ProblemStatus
from . import forms as task_forms
from .sandbox import ExpressionRefused, check_expression, script_errors
from .timers import TimerTextError, is_iso_duration, timer_expression

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
DUBAN = "urn:duban:bpmn:1.0"
NS = {"bpmn": BPMN, "spiffworkflow": SPIFF, "duban": DUBAN}

PLAN_FIELDS = {"target", "measures", "deadline_kind", "deadline"}
# names SpiffWorkflow gives its own task specs: an element with one of these ids would be lost
RESERVED_IDS = {"Start", "End", "Root"}
RESERVED_SUFFIXES = (".EndJoin", ".BoundaryEventSplit", ".BoundaryEventJoin", ".StartEventSplit", ".StartEventJoin")
CALENDARS = {"working", "calendar"}
# the database's column sizes (models/process.py, models/escalation.py)
MAX_KEY, MAX_NAME, MAX_ELEMENT_ID = 100, 200, 100


@dataclass
class Finding:
    element: str
    line: int | None
    message: str

    def text(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class DocumentError(Exception):
    """The document cannot be deployed; `findings` says exactly where and why."""

    def __init__(self, findings: list[Finding]):
        super().__init__("; ".join(f"{f.element}: {f.text()}" for f in findings))
        self.findings = findings

    def by_element(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for finding in self.findings:
            grouped.setdefault(finding.element, []).append(finding.text())
        return grouped


@dataclass
class Deployable:
    key: str
    name: str
    xml: str
    checksum: str
    forms: dict[str, dict]
    spec: object
    subprocess_specs: dict = field(default_factory=dict)


_SAFE_PARSER = dict(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                    huge_tree=False, remove_comments=False)


def read_xml(content: bytes) -> etree._ElementTree:
    """Parse with entities, DTDs and the network off; a document with a DOCTYPE is refused."""
    if not content or not content.strip():
        raise DocumentError([Finding("document", None, "the document is empty")])
    try:
        tree = etree.ElementTree(etree.fromstring(content, etree.XMLParser(**_SAFE_PARSER)))
    except etree.XMLSyntaxError as error:
        if "encoding" in (error.msg or "").lower():
            raise DocumentError([Finding("document", error.lineno, (
                f"the document's encoding: {error.msg}; declare the encoding the file is written in "
                "(<?xml version=\"1.0\" encoding=\"GBK\"?>, UTF-8, UTF-16 with its byte order mark, ISO-8859-1)"))]) from None
        raise DocumentError([Finding("document", error.lineno, f"not well-formed XML: {error.msg}")]) from None
    if tree.docinfo.doctype:
        raise DocumentError([Finding("document", 1, "a DOCTYPE is not allowed in a BPMN document")])
    root = tree.getroot()
    if root.tag != f"{{{BPMN}}}definitions":
        raise DocumentError([Finding("document", root.sourceline,
                                     f"the root element must be bpmn:definitions ({BPMN}), not {root.tag}")])
    return tree


def properties_of(element) -> dict[str, str]:
    return {p.get("name"): p.get("value", "") for p in
            element.iterfind("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)}


def prepare(content: bytes, lane_roles: set[str], filename: str = "upload.bpmn",
            attachments: dict[str, bytes] | None = None) -> Deployable:
    """Check a document and parse it into a spec; DocumentError lists every problem found.

    `attachments` are files deployed with the document: the JSON Schema forms that
    SpiffArena-style diagrams name in a `formJsonSchemaFilename` property."""
    tree = read_xml(content)
    root = tree.getroot()
    findings: list[Finding] = []

    executable = root.findall("bpmn:process[@isExecutable='true']", NS)
    if not executable:
        processes = root.findall("bpmn:process", NS)
        raise DocumentError([Finding("document", root.sourceline,
                                     "no executable process (isExecutable=\"true\") in this document"
                                     + (f"; it holds {', '.join(p.get('id') for p in processes)}" if processes else ""))])
    if len(executable) > 1:
        raise DocumentError([Finding(p.get("id"), p.sourceline, "one executable process per document; "
                                     f"this one has {len(executable)}") for p in executable])
    process = executable[0]
    key = process.get("id")

    lanes = {}
    for lane in process.iter(f"{{{BPMN}}}lane"):
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            lanes[(ref.text or "").strip()] = lane
    _check_lengths(process, findings)
    _check_ids(process, findings)
    forms = _check_user_tasks(process, lanes, lane_roles, attachments or {}, findings)
    _check_records(process, forms, findings)
    _check_properties(process, findings)
    _rewrite_timers(process, findings)
    _check_scripts(process, findings)
    if findings:
        raise DocumentError(findings)

    lines = {el.get("id"): el.sourceline for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    parser = SpiffBpmnParser(validator=VALIDATOR)
    try:
        parser.add_bpmn_xml(tree, filename=filename)
        spec = parser.get_spec(key)
        subprocess_specs = parser.get_subprocess_specs(key)
    except ValidationException as error:
        element = error.id or "document"
        raise DocumentError([Finding(element, lines.get(error.id) or error.line_number or None,
                                     str(error).split("\n")[0])]) from None
    xml = as_text(content, tree)
    # the forms belong to the version: a changed form file is a new version
    checksum = hashlib.sha256(content + json.dumps(forms, sort_keys=True).encode()).hexdigest()
    return Deployable(key=key, name=process.get("name") or key, xml=xml, checksum=checksum, forms=forms, spec=spec,
                      subprocess_specs=subprocess_specs)


def as_text(content: bytes | str, tree) -> str:
    """The document as stored: the upload itself when it is UTF-8, else the same document
    serialised without its declaration (GBK, GB18030, Latin-1, UTF-16 read as declared)."""
    if isinstance(content, str):
        return content
    if (tree.docinfo.encoding or "").upper().replace("-", "") in ("UTF8", ""):
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError:
            pass  # a UTF-16 byte order mark without a declaration: lxml read it, so do we
    fresh = etree.ElementTree(etree.fromstring(content, etree.XMLParser(**_SAFE_PARSER)))
    return etree.tostring(fresh, encoding="unicode")


def _check_lengths(process, findings) -> None:
    """What the database stores of a process must fit its columns."""
    key, name = process.get("id") or "", process.get("name") or ""
    if len(key) > MAX_KEY:
        findings.append(Finding(key[:40] + "…", process.sourceline,
                                f"the process id is {len(key)} characters long; at most {MAX_KEY}"))
    if len(name) > MAX_NAME:
        findings.append(Finding(key[:MAX_KEY], process.sourceline,
                                f"the process name is {len(name)} characters long; at most {MAX_NAME}"))
    for element in process.iter():
        if not isinstance(element.tag, str) or element is process:
            continue
        element_id = element.get("id") or ""
        if len(element_id) > MAX_ELEMENT_ID:
            findings.append(Finding(element_id[:40] + "…", element.sourceline,
                                    f"the id is {len(element_id)} characters long; at most {MAX_ELEMENT_ID}"))
        elif element.tag in (f"{{{BPMN}}}userTask", f"{{{BPMN}}}manualTask") and len(element.get("name") or "") > MAX_NAME:
            findings.append(Finding(element_id, element.sourceline,
                                    f"the task name is {len(element.get('name'))} characters long; at most {MAX_NAME}"))


def _check_ids(process, findings) -> None:
    for element in process.iter():
        element_id = element.get("id") if isinstance(element.tag, str) else None
        if element_id and (element_id in RESERVED_IDS or element_id.endswith(RESERVED_SUFFIXES)):
            findings.append(Finding(element_id, element.sourceline,
                                    f"the id {element_id!r} is reserved by the workflow engine; rename the element"))


def _task_form(task, attachments: dict[str, bytes], findings) -> dict | None:
    """The task's form-js schema: inline (duban:form) or a JSON Schema file deployed with it."""
    task_id = task.get("id")
    form_element = task.find("bpmn:extensionElements/duban:form", NS)
    if form_element is not None:
        line, text, convert = form_element.sourceline, form_element.text or "", task_forms.check_form
    else:
        name = properties_of(task).get("formJsonSchemaFilename")
        if not name:
            return None
        line = task.sourceline
        if name not in attachments:
            findings.append(Finding(task_id, line, f"the form file {name!r} was not deployed with the diagram "
                                    "(send it as another multipart file)"))
            return None
        text = attachments[name].decode("utf-8", errors="replace")
        convert = task_forms.from_json_schema
    try:
        schema = json.loads(text)
        result = convert(schema)
        return result if result is not None else schema
    except json.JSONDecodeError as error:
        findings.append(Finding(task_id, line, f"the form is not valid JSON: {error}"))
    except task_forms.FormError as error:
        findings.extend(Finding(task_id, line, f"form: {p}") for p in error.problems)
    return None


def _check_user_tasks(process, lanes, lane_roles, attachments, findings) -> dict[str, dict]:
    forms = {}
    for task in process.iter(f"{{{BPMN}}}userTask", f"{{{BPMN}}}manualTask"):
        task_id = task.get("id")
        lane = lanes.get(task_id)
        if lane is None:
            findings.append(Finding(task_id, task.sourceline,
                                    "a user task must lie in a lane; the lane's name says who does it"))
        elif (lane.get("name") or "").strip() not in lane_roles:
            findings.append(Finding(task_id, lane.sourceline, f"lane {lane.get('name')!r} is not a known role; "
                                    f"known lanes: {', '.join(sorted(lane_roles))}"))
        schema = _task_form(task, attachments, findings)
        if schema is None:
            continue
        forms[task_id] = schema
        updates = properties_of(task).get("updatesProblem")
        if updates:
            keys = {c["key"] for c in task_forms.inputs(schema)}
            for name in (n.strip() for n in updates.split(",")):
                if name not in PLAN_FIELDS:
                    findings.append(Finding(task_id, task.sourceline, f"updatesProblem: {name!r} is not a plan "
                                            f"field ({', '.join(sorted(PLAN_FIELDS))})"))
                elif name not in keys:
                    findings.append(Finding(task_id, task.sourceline,
                                            f"updatesProblem names {name!r} but the form has no such field"))
    return forms


def _check_records(process, forms, findings) -> None:
    """`records`: what completing the task writes besides the workflow (accountability_decision:
    the 问责决定 in the official's record, read from the form's party_form / government_form)."""
    from ..accountability import DECISION, FIELDS, RECORDS

    for element in process.iter():
        if not isinstance(element.tag, str) or not element.get("id"):
            continue
        kind = properties_of(element).get("records")
        if kind is None:
            continue
        element_id = element.get("id")
        if kind not in RECORDS:
            findings.append(Finding(element_id, element.sourceline,
                                    f"records {kind!r} is not one of {', '.join(RECORDS)}"))
        elif element.tag != f"{{{BPMN}}}userTask" or element_id not in forms:
            findings.append(Finding(element_id, element.sourceline,
                                    f"records={kind} belongs on a user task with a form"))
        elif kind == DECISION:
            keys = {c["key"]: c for c in task_forms.inputs(forms[element_id])}
            named = [key for key in FIELDS.values() if key in keys]
            if not named:
                findings.append(Finding(element_id, element.sourceline,
                                        f"records={kind}: the form needs a field {' or '.join(FIELDS.values())} "
                                        "for the form of accountability chosen"))
            for key in named:
                if keys[key]["type"] not in ("select", "radio", "checklist"):
                    findings.append(Finding(element_id, element.sourceline,
                                            f"records={kind}: {key} must be a select, radio or checklist"))
            if "decision_date" in keys and keys["decision_date"]["type"] != "datetime":
                findings.append(Finding(element_id, element.sourceline,
                                        f"records={kind}: decision_date must be a date field"))


def _check_properties(process, findings) -> None:
    from ..escalation.rules import EVENTS
    from ..escalation.targets import NOTIFY_TARGETS

    statuses = {s.value for s in ProblemStatus}
    for element in process.iter():
        if not isinstance(element.tag, str) or not element.get("id"):
            continue
        props = properties_of(element)
        status = props.get("problemStatus")
        if status is not None and status not in statuses:
            findings.append(Finding(element.get("id"), element.sourceline,
                                    f"problemStatus {status!r} is not one of {', '.join(sorted(statuses))}"))
        event = props.get("escalationEvent")
        if event is not None and event not in EVENTS:
            findings.append(Finding(element.get("id"), element.sourceline,
                                    f"escalationEvent {event!r} is not one of {', '.join(EVENTS)}"))
        for target in filter(None, (t.strip() for t in props.get("notify", "").split(","))):
            if target not in NOTIFY_TARGETS:
                findings.append(Finding(element.get("id"), element.sourceline,
                                        f"notify: unknown target {target!r}; known: {', '.join(NOTIFY_TARGETS)}"))
        due = props.get("due")
        if due is not None and due != "deadline" and not is_iso_duration(due):
            findings.append(Finding(element.get("id"), element.sourceline,
                                    f"due {due!r} is neither an ISO 8601 duration (P30D) nor 'deadline'"))
        if props.get("calendar", "calendar") not in CALENDARS:
            findings.append(Finding(element.get("id"), element.sourceline,
                                    f"calendar must be 'working' or 'calendar', not {props['calendar']!r}"))
        if due and props.get("calendar") == "working" and due != "deadline" and not due.rstrip("D")[1:].isdigit():
            findings.append(Finding(element.get("id"), element.sourceline,
                                    f"a working-day due counts whole days (P30D), not {due!r}"))


def _rewrite_timers(process, findings) -> None:
    for definition in process.iter(f"{{{BPMN}}}timerEventDefinition"):
        event = definition.getparent()
        working = properties_of(event).get("calendar") == "working"
        for kind in ("timeDuration", "timeDate", "timeCycle"):
            element = definition.find(f"bpmn:{kind}", NS)
            if element is None:
                continue
            try:
                element.text = timer_expression(kind, element.text or "", working)
                check_expression(element.text)
            except (TimerTextError, ExpressionRefused) as error:
                findings.append(Finding(event.get("id"), element.sourceline, f"timer: {error}"))


# elements whose text SpiffWorkflow evaluates as an expression, and what to call them
EXPRESSIONS = {"conditionExpression": "condition", "completionCondition": "completion condition",
               "loopCondition": "loop condition", "loopCardinality": "loop cardinality", "condition": "condition",
               "messagePath": "correlation", "formalExpression": "correlation"}
SCRIPTS = {f"{{{BPMN}}}script": "script", f"{{{SPIFF}}}preScript": "preScript",
           f"{{{SPIFF}}}postScript": "postScript"}


def _check_scripts(process, findings) -> None:
    """Every expression must pass the evaluator's whitelist, and every script RestrictedPython,
    before anything runs: the finding names the element, the line and the construct."""
    root = process.getroottree().getroot()
    for element in root.iter(*(f"{{{BPMN}}}{tag}" for tag in EXPRESSIONS)):
        if not (element.text or "").strip():
            continue
        owner = _owner(element)
        try:
            check_expression(element.text)
        except ExpressionRefused as error:
            what = EXPRESSIONS[etree.QName(element).localname]
            findings.append(Finding(owner.get("id") or "document", element.sourceline, f"{what}: {error}"))
    for element in process.iter(*SCRIPTS):
        if not (element.text or "").strip():
            continue
        errors = script_errors(element.text)
        if errors:
            findings.append(Finding(_owner(element).get("id") or "document", element.sourceline,
                                    f"{SCRIPTS[element.tag]}: {'; '.join(errors)}"))


def _owner(element):
    """The nearest enclosing element with an id (the flow, task or event the text belongs to)."""
    while element is not None and not element.get("id"):
        element = element.getparent()
    return element if element is not None else etree.Element("none")
