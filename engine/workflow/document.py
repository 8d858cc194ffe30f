"""Reading a BPMN document safely and checking it against Duban's conventions
(see bpmn/README.md) before SpiffWorkflow parses it.

Every problem found names the element id and the line, so that an administrator can find it
in the modeler or the file. engine/validation/ adds the static checks and the parser's own.
"""
from __future__ import annotations

import hashlib
import json

from lxml import etree

from ..models import ProblemStatus
from ..validation import encoding, juel
from ..validation.findings import WARNING, DocumentError, Finding
from . import camunda, task_roles
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


_SAFE_PARSER = dict(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                    huge_tree=False, remove_comments=False)


def read_xml(content: bytes) -> etree._ElementTree:
    """Parse with entities, DTDs and the network off; a document with a DOCTYPE is refused.
    `content` is read in its encoding (engine/validation/encoding.py) and parsed as UTF-8."""
    if not content or not content.strip():
        raise DocumentError([Finding("document", None, "the document is empty", code="document-empty", message_zh="文档为空")])
    content = encoding.to_utf8(content)
    try:
        tree = etree.ElementTree(etree.fromstring(content, etree.XMLParser(**_SAFE_PARSER)))
    except etree.XMLSyntaxError as error:
        if "encoding" in (error.msg or "").lower():
            raise DocumentError([Finding("document", error.lineno, (
                f"the document's encoding: {error.msg}; declare the encoding the file is written in "
                "(<?xml version=\"1.0\" encoding=\"GBK\"?>, UTF-8, UTF-16 with its byte order mark, ISO-8859-1)"), code="document-encoding")]) from None
        raise DocumentError([Finding("document", error.lineno, f"not well-formed XML: {error.msg}", code="xml-malformed", message_zh=f"不是格式正确的 XML：{error.msg}")]) from None
    if tree.docinfo.doctype:
        raise DocumentError([Finding("document", 1, "a DOCTYPE is not allowed in a BPMN document", code="doctype", message_zh="BPMN 文档中不允许 DOCTYPE")])
    root = tree.getroot()
    if root.tag != f"{{{BPMN}}}definitions":
        raise DocumentError([Finding("document", root.sourceline,
                                     f"the root element must be bpmn:definitions ({BPMN}), not {root.tag}", code="not-bpmn", message_zh=f"根元素必须是 bpmn:definitions，而不是 {root.tag}")])
    return tree


def properties_of(element) -> dict[str, str]:
    return {p.get("name"): p.get("value", "") for p in
            element.iterfind("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)}


def conventions(tree, lane_roles: set[str] | dict, attachments: dict[str, bytes] | None = None):
    """(the executable process, its forms by task id, the findings, the roles of tasks in no
    lane) of Duban's conventions; the timers are rewritten in place into what SpiffWorkflow
    evaluates. A document without a process to check raises DocumentError.

    `lane_roles` are the lane names of config/roles.toml (with their roles, when a dict).
    `attachments` are files deployed with the document: the JSON Schema forms that
    SpiffArena-style diagrams name in a `formJsonSchemaFilename` property."""
    root = tree.getroot()
    findings: list[Finding] = []
    lane_roles = lane_roles if isinstance(lane_roles, dict) else dict.fromkeys(lane_roles)

    executable = root.findall("bpmn:process[@isExecutable='true']", NS)
    if not executable:
        executable = _not_executable(root, findings)
    if len(executable) > 1:
        raise DocumentError([Finding(p.get("id"), p.sourceline, "one executable process per document; "
                                     f"this one has {len(executable)}", code="several-executable-processes",
                                     message_zh=f"每个文档只能有一个可执行流程，此文档有 {len(executable)} 个")
                             for p in executable])
    process = executable[0]

    lanes = {}
    for lane in process.iter(f"{{{BPMN}}}lane"):
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            lanes[(ref.text or "").strip()] = lane
    _check_lengths(process, findings)
    _check_ids(process, findings)
    roles: dict[str, str] = {}
    forms = _check_user_tasks(process, lanes, lane_roles, attachments or {}, findings, roles)
    _check_records(process, forms, findings)
    _check_shows_data(process, forms, findings)
    _check_properties(process, findings)
    _rewrite_timers(process, findings)
    _check_scripts(process, findings)
    findings.extend(camunda.unhonoured(process))
    return process, forms, findings, roles


def _not_executable(root, findings) -> list:
    """A document whose processes are all marked not executable (Camunda 7 writes
    isExecutable="false"): its one process is checked with an error saying how to mark it;
    with several, the administrator must choose one."""
    processes = root.findall("bpmn:process", NS)
    if not processes:
        raise DocumentError([Finding("document", root.sourceline, "the document holds no process (only a "
                                     "collaboration or other definitions): draw the process in the pool",
                                     code="not-executable", message_zh="文档中没有流程（只有协作图或其他定义）：请在池中绘制流程")])
    text = ("the process is not marked executable (isExecutable=\"true\"): tick Executable on the "
            "process (or on its pool) in the modeler")
    text_zh = "流程未标记为可执行（isExecutable=\"true\"）：请在编辑器中勾选流程（或其所在池）的“可执行”"
    if len(processes) > 1:
        raise DocumentError([Finding(p.get("id") or "document", p.sourceline, text + "; mark exactly one of "
                                     f"{', '.join(p.get('id') or '?' for p in processes)}", code="not-executable",
                                     message_zh=text_zh + f"；请只标记 {'、'.join(p.get('id') or '?' for p in processes)} 中的一个")
                             for p in processes])
    findings.append(Finding(processes[0].get("id") or "document", processes[0].sourceline, text,
                            code="not-executable", message_zh=text_zh, fix="true"))
    return processes


def checksum_of(content: bytes, forms: dict) -> str:
    """The forms belong to the version: a changed form file is a new version."""
    return hashlib.sha256(content + json.dumps(forms, sort_keys=True).encode()).hexdigest()


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
                                f"the process id is {len(key)} characters long; at most {MAX_KEY}", code="too-long"))
    if len(name) > MAX_NAME:
        findings.append(Finding(key[:MAX_KEY], process.sourceline,
                                f"the process name is {len(name)} characters long; at most {MAX_NAME}", code="too-long"))
    for element in process.iter():
        if not isinstance(element.tag, str) or element is process:
            continue
        element_id = element.get("id") or ""
        if len(element_id) > MAX_ELEMENT_ID:
            findings.append(Finding(element_id[:40] + "…", element.sourceline,
                                    f"the id is {len(element_id)} characters long; at most {MAX_ELEMENT_ID}", code="too-long"))
        elif element.tag in (f"{{{BPMN}}}userTask", f"{{{BPMN}}}manualTask") and len(element.get("name") or "") > MAX_NAME:
            findings.append(Finding(element_id, element.sourceline,
                                    f"the task name is {len(element.get('name'))} characters long; at most {MAX_NAME}", code="too-long"))


def _check_ids(process, findings) -> None:
    for element in process.iter():
        element_id = element.get("id") if isinstance(element.tag, str) else None
        if element_id and (element_id in RESERVED_IDS or element_id.endswith(RESERVED_SUFFIXES)):
            findings.append(Finding(element_id, element.sourceline,
                                    f"the id {element_id!r} is reserved by the workflow engine; rename the element", code="id-reserved", message_zh=f"id {element_id} 为流程引擎保留，请给元素改名"))


def _task_form(task, attachments: dict[str, bytes], findings) -> dict | None:
    """The task's form-js schema: inline (duban:form) or a JSON Schema file deployed with it."""
    task_id = task.get("id")
    form_element = task.find("bpmn:extensionElements/duban:form", NS)
    if form_element is not None:
        line, text, convert = form_element.sourceline, form_element.text or "", task_forms.check_form
    elif (generated := camunda.form_of(task)) is not None:
        text = generated if isinstance(generated, str) else json.dumps(generated, ensure_ascii=False)
        line, convert = task.sourceline, task_forms.check_form
    else:
        name = properties_of(task).get("formJsonSchemaFilename")
        if not name:
            return None
        line = task.sourceline
        if name not in attachments:
            findings.append(Finding(task_id, line, f"the form file {name!r} was not deployed with the diagram "
                                    "(send it as another multipart file)", code="form-file-missing", message_zh=f"表单文件 {name} 未随流程图一起上传"))
            return None
        text = attachments[name].decode("utf-8", errors="replace")
        convert = task_forms.from_json_schema
    try:
        schema = json.loads(text)
        result = convert(schema)
        return result if result is not None else schema
    except json.JSONDecodeError as error:
        findings.append(Finding(task_id, line, f"the form is not valid JSON: {error}", code="form-invalid", message_zh=f"表单不是有效的 JSON：{error}"))
    except task_forms.FormError as error:
        findings.extend(Finding(task_id, line, f"form: {p}", code="form-invalid") for p in error.problems)
    return None


def _check_user_tasks(process, lanes, lane_roles, attachments, findings, roles) -> dict[str, dict]:
    forms = {}
    tasks = list(process.iter(f"{{{BPMN}}}userTask", f"{{{BPMN}}}manualTask"))
    task_roles.check(tasks, lanes, lane_roles, findings, roles)
    for task in tasks:
        task_id = task.get("id")
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
                                            f"field ({', '.join(sorted(PLAN_FIELDS))})", code="updates-problem"))
                elif name not in keys:
                    findings.append(Finding(task_id, task.sourceline,
                                            f"updatesProblem names {name!r} but the form has no such field", code="updates-problem", message_zh=f"updatesProblem 指定了 {name}，但表单中没有该字段"))
    return forms


def _check_shows_data(process, forms, findings) -> None:
    """`showsData` on a user task: the earlier fields its page shows first (engine.task_case);
    a name no form of the process has is most likely misspelt (a warning: the page still shows
    the case, in its plain order)."""
    keys = {c["key"] for schema in forms.values() for c in task_forms.inputs(schema)}
    for task in process.iter(f"{{{BPMN}}}userTask"):
        listed = properties_of(task).get("showsData") or ""
        for name in (n.strip() for n in listed.split(",")):
            if name and name not in keys:
                findings.append(Finding(task.get("id"), task.sourceline,
                                        f"showsData names {name!r} but no form of the process has such a field",
                                        code="shows-data", severity=WARNING,
                                        message_zh=f"showsData 指定了 {name}，但流程中没有表单含有该字段"))


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
                                    f"records {kind!r} is not one of {', '.join(RECORDS)}", code="records"))
        elif element.tag != f"{{{BPMN}}}userTask" or element_id not in forms:
            findings.append(Finding(element_id, element.sourceline,
                                    f"records={kind} belongs on a user task with a form", code="records"))
        elif kind == DECISION:
            keys = {c["key"]: c for c in task_forms.inputs(forms[element_id])}
            named = [key for key in FIELDS.values() if key in keys]
            if not named:
                findings.append(Finding(element_id, element.sourceline,
                                        f"records={kind}: the form needs a field {' or '.join(FIELDS.values())} "
                                        "for the form of accountability chosen", code="records"))
            for key in named:
                if keys[key]["type"] not in ("select", "radio", "checklist"):
                    findings.append(Finding(element_id, element.sourceline,
                                            f"records={kind}: {key} must be a select, radio or checklist", code="records"))
            if "decision_date" in keys and keys["decision_date"]["type"] != "datetime":
                findings.append(Finding(element_id, element.sourceline,
                                        f"records={kind}: decision_date must be a date field", code="records"))
        else:  # an appeal, or its review: the field that says which way it went
            keys = {c["key"]: c for c in task_forms.inputs(forms[element_id])}
            key, values = _RECORDED_CHOICE[kind]
            offered = {str(v.get("value")) for v in keys.get(key, {}).get("values") or []}
            if key not in keys or keys[key]["type"] not in ("select", "radio"):
                findings.append(Finding(element_id, element.sourceline,
                                        f"records={kind}: the form needs a select or radio field {key} "
                                        f"with the values {', '.join(values)}", code="records"))
            elif not offered <= set(values) or not offered:
                findings.append(Finding(element_id, element.sourceline,
                                        f"records={kind}: {key} may offer only {', '.join(values)}", code="records"))


# the field a `records` task of an appeal decides by, and the values it may take (engine/appeals.py)
_RECORDED_CHOICE = {"accountability_appeal": ("appeal", ("appeal", "accept")),
                    "appeal_decision": ("appeal_outcome", ("upheld", "revoked", "changed"))}


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
                                    f"problemStatus {status!r} is not one of {', '.join(sorted(statuses))}", code="problem-status-unknown", message_zh=f"problemStatus “{status}”不是以下之一：{'、'.join(sorted(statuses))}"))
        event = props.get("escalationEvent")
        if event is not None and event not in EVENTS:
            findings.append(Finding(element.get("id"), element.sourceline,
                                    f"escalationEvent {event!r} is not one of {', '.join(EVENTS)}", code="escalation-event-unknown"))
        for target in filter(None, (t.strip() for t in props.get("notify", "").split(","))):
            if target not in NOTIFY_TARGETS:
                findings.append(Finding(element.get("id"), element.sourceline,
                                        f"notify: unknown target {target!r}; known: {', '.join(NOTIFY_TARGETS)}", code="notify-unknown-target", message_zh=f"notify：未知的通知对象 {target}；可用：{'、'.join(NOTIFY_TARGETS)}"))
        due = props.get("due")
        if due is not None and due != "deadline" and not is_iso_duration(due):
            findings.append(Finding(element.get("id"), element.sourceline,
                                    f"due {due!r} is neither an ISO 8601 duration (P30D) nor 'deadline'", code="due-invalid", message_zh=f"due “{due}”既不是 ISO 8601 时长（P30D），也不是 deadline"))
        if props.get("calendar", "calendar") not in CALENDARS:
            findings.append(Finding(element.get("id"), element.sourceline,
                                    f"calendar must be 'working' or 'calendar', not {props['calendar']!r}", code="calendar-invalid"))
        if due and props.get("calendar") == "working" and due != "deadline" and not due.rstrip("D")[1:].isdigit():
            findings.append(Finding(element.get("id"), element.sourceline,
                                    f"a working-day due counts whole days (P30D), not {due!r}", code="due-invalid"))


def _rewrite_timers(process, findings) -> None:
    from ..validation.timer_text import guess_duration

    for definition in process.iter(f"{{{BPMN}}}timerEventDefinition"):
        event = definition.getparent()
        working = properties_of(event).get("calendar") == "working"
        for kind in ("timeDuration", "timeDate", "timeCycle"):
            element = definition.find(f"bpmn:{kind}", NS)
            if element is None:
                continue
            text = (element.text or "").strip()
            guess = guess_duration(text)
            try:
                element.text = timer_expression(kind, element.text or "", working)
                if guess and element.text == text and guess[0] != text.strip("'\""):  # 'p5d', '5天'
                    raise TimerTextError(f"{text!r} is not an ISO 8601 duration")
                check_expression(element.text)
            except (TimerTextError, ExpressionRefused) as error:
                findings.append(_timer_finding(event, element, kind, text, working, error, guess))


_TIMER_WORDS = {"timeDuration": ("duration", "时长", "P5D, PT2H"),
                "timeDate": ("date-time", "时刻", "2026-12-31T18:00:00+08:00"),
                "timeCycle": ("cycle", "周期", "R/P1M, R3/PT1H")}


def _timer_finding(event, element, kind, text, working, error, guess) -> Finding:
    what, what_zh, example = _TIMER_WORDS[kind]
    if isinstance(error, TimerTextError) and "working-day" in str(error):
        return Finding(event.get("id"), element.sourceline, f"timer: {error}", code="timer-not-iso",
                       message_zh=f"定时器：按工作日计的定时器只能是整天数（P5D），不能是 {text}")
    if guess and kind == "timeDuration":
        fix, counts_working = guess
        advice = f"write {fix}" + (" with the property calendar=working" if counts_working and not working else "")
        advice_zh = f"应写作 {fix}" + ("，并加属性 calendar=working" if counts_working and not working else "")
        return Finding(event.get("id"), element.sourceline,
                       f"timer: {text!r} is not an ISO 8601 duration, {advice}", code="timer-not-iso",
                       message_zh=f"定时器：“{text}”不是 ISO 8601 时长，{advice_zh}")
    if isinstance(error, ExpressionRefused) and str(error).startswith("not a valid expression"):
        return Finding(event.get("id"), element.sourceline,
                       f"timer: {text!r} is neither an ISO 8601 {what} ({example}) nor an expression Duban can "
                       "evaluate", code="timer-not-iso",
                       message_zh=f"定时器：“{text}”既不是 ISO 8601 {what_zh}（{example}），也不是可计算的表达式")
    return Finding(event.get("id"), element.sourceline, f"timer: {error}", code="timer-not-iso",
                   message_zh=f"定时器：“{text}”不是 ISO 8601 {what_zh}（{example}）" if isinstance(error, TimerTextError)
                   else None)


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
        if juel.is_juel(element.text) or juel.is_feel(element.text):
            findings.append(juel.finding(owner, element))
            continue
        try:
            check_expression(element.text)
        except ExpressionRefused as error:
            what = EXPRESSIONS[etree.QName(element).localname]
            findings.append(Finding(owner.get("id") or "document", element.sourceline, f"{what}: {error}", code="expression-refused"))
    for element in process.iter(*SCRIPTS):
        if not (element.text or "").strip():
            continue
        foreign = camunda.script_language(element)
        if foreign is not None:
            findings.append(foreign)
            continue
        errors = script_errors(element.text)
        if errors:
            findings.append(Finding(_owner(element).get("id") or "document", element.sourceline,
                                    f"{SCRIPTS[element.tag]}: {'; '.join(errors)}", code="script-refused"))


def _owner(element):
    """The nearest enclosing element with an id (the flow, task or event the text belongs to)."""
    while element is not None and not element.get("id"):
        element = element.getparent()
    return element if element is not None else etree.Element("none")
