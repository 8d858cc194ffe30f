"""What Duban reads of a diagram made in Camunda Modeler, and what it tells the administrator
it cannot honour.

Read: `camunda:candidateGroups` naming a role (a lane name of config/roles.toml, or the role's
key: 环督办, office) is the role of a user task that lies in no lane, and is offered as the
name of a lane whose name is no role when all its tasks name that role; a generated task form
(`camunda:formData`) is the task's form. Warned about, naming the element: what changes
behaviour in Camunda and is not done here (assignee, formKey, async continuations, listeners,
service task implementations, input/output mappings). Everything else of the camunda
namespace (historyTimeToLive, versionTag …) is ignored.

Camunda 8 diagrams (the zeebe namespace) are read the same way: the candidate groups of
`zeebe:assignmentDefinition`, and an embedded form-js form (`zeebe:userTaskForm`, which is
the form format Duban uses) named by `zeebe:formDefinition`."""
from __future__ import annotations

import re

from ..validation.findings import WARNING, Finding

CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
C = f"{{{CAMUNDA}}}"
ZEEBE = "http://camunda.org/schema/zeebe/1.0"
Z = f"{{{ZEEBE}}}"

# attribute -> (English, Chinese) of what Duban does instead
_ATTRIBUTES = {
    "assignee": ("the assignee is not used: who does a task comes from its lane (its role)",
                 "不采用指定办理人：任务由其泳道（角色）决定办理人"),
    "candidateUsers": ("candidate users are not used: who does a task comes from its lane (its role)",
                       "不采用候选用户：任务由其泳道（角色）决定办理人"),
    "formKey": ("the form at formKey is not shown: give the task a form in Duban's modeler (编辑表单)",
                "不显示 formKey 指向的表单：请在督办的编辑器中为任务编辑表单"),
    "formRef": ("the linked form is not shown: give the task a form in Duban's modeler (编辑表单)",
                "不显示关联的表单：请在督办的编辑器中为任务编辑表单"),
    "asyncBefore": ("asynchronous continuation is not used: Duban runs the step at once",
                    "不支持异步延续：督办立即执行该步骤"),
    "asyncAfter": ("asynchronous continuation is not used: Duban runs the step at once",
                   "不支持异步延续：督办立即执行该步骤"),
    "class": ("the Java class is not called", "不会调用 Java 类"),
    "delegateExpression": ("the delegate expression is not evaluated", "不会计算委托表达式"),
    "expression": ("the expression is not evaluated", "不会计算该表达式"),
    "type": ("the external task type is not used", "不采用外部任务类型"),
    "topic": ("no external worker fetches this topic", "没有外部任务处理者领取该主题"),
    "resultVariable": ("the result variable is not set", "不会设置结果变量"),
    "dueDate": ("the due date is not used: give the task the property due (P30D)",
                "不采用该到期日：请为任务设置属性 due（如 P30D）"),
    "followUpDate": ("the follow-up date is not used", "不采用跟进日期"),
    "decisionRef": ("the decision (DMN) is not evaluated", "不会执行决策（DMN）"),
    "calledElementBinding": ("the called process's version binding is not used", "不采用被调用流程的版本绑定"),
}
# extension elements -> (English, Chinese)
_EXTENSIONS = {
    "taskListener": ("the task listener is not called", "不会调用任务监听器"),
    "executionListener": ("the execution listener is not called", "不会调用执行监听器"),
    "inputOutput": ("the input/output mapping is not applied", "不会执行输入/输出映射"),
    "connector": ("the connector is not called", "不会调用连接器"),
    "in": ("the call activity's variable mapping is not applied", "不会执行调用活动的变量映射"),
    "out": ("the call activity's variable mapping is not applied", "不会执行调用活动的变量映射"),
}
# zeebe extension elements (and attributes of them) -> (English, Chinese)
_ZEEBE = {
    "taskDefinition": ("no job worker works this task type", "没有作业处理者处理该任务类型"),
    "ioMapping": ("the input/output mapping is not applied", "不会执行输入/输出映射"),
    "taskHeaders": ("the task headers are not used", "不采用任务头"),
    "executionListeners": ("the execution listeners are not called", "不会调用执行监听器"),
    "taskListeners": ("the task listeners are not called", "不会调用任务监听器"),
    "calledDecision": ("the decision (DMN) is not evaluated", "不会执行决策（DMN）"),
    "script": ("the FEEL script is not run", "不会运行 FEEL 脚本"),
}
_FIELD_TYPES = {"string": {"type": "textfield"}, "long": {"type": "number"}, "boolean": {"type": "checkbox"},
                "date": {"type": "datetime", "subtype": "date"}}


def known_roles(lane_roles: dict) -> str:
    """The roles a candidateGroups may name, for a message: 环督办 (office), 责任单位 …"""
    return ", ".join(f"{lane} ({role})" if role else lane for lane, role in lane_roles.items())


def role_lane(groups: str | None, lane_roles: dict) -> tuple[str | None, list[str]]:
    """(the lane name of the one role `candidateGroups` names, the groups that name no role)."""
    by_role = {}
    for lane, role in lane_roles.items():
        if role is not None:
            by_role.setdefault(str(getattr(role, "value", role)), lane)
    lanes, unknown = [], []
    for group in filter(None, (g.strip() for g in (groups or "").split(","))):
        lane = group if group in lane_roles else by_role.get(group)
        if lane is None:
            unknown.append(group)
        elif (lane_roles.get(lane) or lane) not in [lane_roles.get(known) or known for known in lanes]:
            lanes.append(lane)
    return (lanes[0] if len(lanes) == 1 else None), unknown


def candidate_groups(task) -> str | None:
    """camunda:candidateGroups, or zeebe:assignmentDefinition's (a list or a FEEL list of text)."""
    groups = task.get(f"{C}candidateGroups")
    if groups is not None:
        return groups
    assignment = task.find(f"{{{BPMN}}}extensionElements/{Z}assignmentDefinition")
    groups = assignment.get("candidateGroups") if assignment is not None else None
    if groups and groups.strip().startswith("="):
        return ",".join(re.findall(r'"([^"]*)"', groups))
    return groups


def task_role(task, lane_roles: dict, findings: list[Finding]) -> str | None:
    """The role (a lane name) of a user task in no lane, from its candidateGroups; a finding
    when it names none, an unknown group or several roles."""
    task_id, groups = task.get("id"), candidate_groups(task)
    if not (groups or "").strip():
        findings.append(Finding(task_id, task.sourceline,
                                "a user task must lie in a lane (or name a role in camunda:candidateGroups); the "
                                "lane's name says who does it", code="task-outside-lane",
                                message_zh="用户任务必须位于泳道中（或在 camunda:candidateGroups 中写明角色），泳道名称说明由谁办理"))
        return None
    lane, unknown = role_lane(groups, lane_roles)
    if lane is not None and not unknown:
        return lane
    if lane is None and not unknown:
        findings.append(Finding(task_id, task.sourceline, f"camunda:candidateGroups {groups!r} names several roles; "
                                "a task has one: put it in a lane instead", code="candidate-groups-unknown-role",
                                message_zh=f"camunda:candidateGroups “{groups}”指定了多个角色；任务只能有一个：请将它放入泳道"))
        return None
    findings.append(Finding(task_id, task.sourceline, f"camunda:candidateGroups {', '.join(unknown)!r} is not a "
                            f"known role; known roles: {known_roles(lane_roles)}", code="candidate-groups-unknown-role",
                            message_zh=f"camunda:candidateGroups “{'、'.join(unknown)}”不是已知角色；已知角色："
                            f"{'、'.join(known_roles(lane_roles).split(', '))}"))
    return None


def lane_offer(lane, tasks: list, lane_roles: dict) -> str | None:
    """The role name to give a lane whose name is no role: the one all its tasks' candidateGroups name."""
    offers = {role_lane(candidate_groups(t), lane_roles)[0] for t in tasks}
    return offers.pop() if len(offers) == 1 and None not in offers and tasks else None


def form_of(task) -> dict | str | None:
    """A Camunda generated task form (`camunda:formData`) as a form-js schema, or the text of
    a Camunda 8 embedded form (form-js JSON), or None."""
    embedded = _embedded_form(task)
    if embedded is not None:
        return embedded
    data = task.find(f"{{{BPMN}}}extensionElements/{C}formData")
    if data is None:
        return None
    components = []
    for field in data.iterfind(f"{C}formField"):
        kind = field.get("type") or "string"
        if kind == "enum":
            component = {"type": "radio", "values": [{"label": v.get("name") or v.get("id"), "value": v.get("id")}
                                                     for v in field.iterfind(f"{C}value")]}
        else:
            component = dict(_FIELD_TYPES.get(kind, {"type": "textfield"}))
        rules = {}
        for constraint in field.iterfind(f"{C}validation/{C}constraint"):
            name, config = constraint.get("name"), constraint.get("config")
            if name == "required" and component["type"] != "checkbox":
                rules["required"] = True
            elif name in ("minlength", "maxlength") and (config or "").isdigit():
                rules["minLength" if name == "minlength" else "maxLength"] = int(config)
            elif name in ("min", "max") and _number(config) is not None:
                rules[name] = _number(config)
        key = field.get("id") or ""
        components.append({"key": key, "label": field.get("label") or key, **component,
                           **({"validate": rules} if rules else {})})
    return {"type": "default", "id": f"{task.get('id')}_form", "components": components}


def script_language(script) -> Finding | None:
    """An error for a script task written in another language (scriptFormat groovy,
    javascript …): Duban runs Python only, and Python's syntax error would say nothing useful."""
    task = script.getparent()
    language = (task.get("scriptFormat") or "").strip() if task is not None else ""
    if not language or language.lower() in ("python", "python3", "py"):
        return None
    return Finding(task.get("id") or "document", script.sourceline,
                   f"the script is written in {language} (scriptFormat); Duban runs scripts in Python only: rewrite it "
                   "in Python over the process data, or remove the script task", code="script-language",
                   message_zh=f"脚本使用 {language} 编写（scriptFormat）；督办只运行 Python 脚本：请用 Python 改写（操作流程数据），或删除该脚本任务")


def _embedded_form(task) -> str | None:
    """`zeebe:formDefinition formKey="camunda-forms:bpmn:ID"` → the `zeebe:userTaskForm id="ID"`."""
    definition = task.find(f"{{{BPMN}}}extensionElements/{Z}formDefinition")
    key = definition.get("formKey") if definition is not None else None
    if not key or not key.startswith("camunda-forms:bpmn:"):
        return None
    form_id = key.rsplit(":", 1)[1]
    process = task
    while process.getparent() is not None and process.tag != f"{{{BPMN}}}process":
        process = process.getparent()
    for form in process.iterfind(f"{{{BPMN}}}extensionElements/{Z}userTaskForm"):
        if form.get("id") == form_id:
            return form.text or ""
    return None


def unhonoured(process) -> list[Finding]:
    """A warning for each Camunda setting that changes behaviour there and is not done here."""
    found = []
    for element in process.iter():
        if not isinstance(element.tag, str) or not element.get("id"):
            continue
        for attribute, (english, chinese) in _ATTRIBUTES.items():
            value = element.get(f"{C}{attribute}")
            if value is not None and value.strip():
                found.append(Finding(element.get("id"), element.sourceline, f"camunda:{attribute}={value!r}: {english}",
                                     code="camunda-unsupported", severity=WARNING,
                                     message_zh=f"camunda:{attribute}=“{value}”：{chinese}"))
        extensions = element.find(f"{{{BPMN}}}extensionElements")
        for child in extensions if extensions is not None else ():
            local = child.tag[len(C):] if isinstance(child.tag, str) and child.tag.startswith(C) else None
            if local in _EXTENSIONS:
                english, chinese = _EXTENSIONS[local]
                found.append(Finding(element.get("id"), child.sourceline, f"camunda:{local}: {english}",
                                     code="camunda-unsupported", severity=WARNING,
                                     message_zh=f"camunda:{local}：{chinese}"))
            found.extend(_zeebe_warnings(element, child))
    return found


def _zeebe_warnings(element, child) -> list[Finding]:
    if not (isinstance(child.tag, str) and child.tag.startswith(Z)):
        return []
    local = child.tag[len(Z):]
    said = []
    if local in _ZEEBE:
        said.append((f"zeebe:{local}", *_ZEEBE[local]))
    elif local == "assignmentDefinition" and (child.get("assignee") or "").strip():
        said.append((f"zeebe:assignee={child.get('assignee')!r}", *_ATTRIBUTES["assignee"]))
    elif local == "formDefinition" and not (child.get("formKey") or "").startswith("camunda-forms:bpmn:"):
        said.append(("zeebe:formDefinition", *_ATTRIBUTES["formRef"]))
    return [Finding(element.get("id"), child.sourceline, f"{what}: {english}", code="camunda-unsupported",
                    severity=WARNING, message_zh=f"{what}：{chinese}") for what, english, chinese in said]


def _number(text: str | None):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return int(value) if value.is_integer() else value
