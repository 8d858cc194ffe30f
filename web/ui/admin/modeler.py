"""流程定义 › 编辑: the BPMN modeler (bpmn-js with a properties panel for what Duban reads, the
form-js editor for a task's form, bpmnlint), opened on the latest version of a process or on a
new process from a template, and the two JSON doors its script calls with the page session and
the CSRF header: 部署 (the same deployment as POST /api/process-definitions) and 检查 (the
same check as POST /api/process-definitions/check)."""
from __future__ import annotations

from flask import abort, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf

from engine.errors import Conflict
from engine.escalation.rules import EVENTS
from engine.escalation.targets import NOTIFY_TARGETS
from engine.models import ProblemStatus
from engine.workflow import definitions as deployed
from engine.workflow import purpose
from engine.workflow import versions
from engine.workflow.document import PLAN_FIELDS, DocumentError

from ..layout import EVENT_LABELS, current_user, duban
from . import bp
from .definitions import PURPOSE_LABELS
from .modeler_language import bpmn_strings
from .rules import TARGET_LABELS
from .versions import editable

MAX_BPMN_BYTES = 10 * 1024 * 1024
MAX_COMMENT = 2000

ROLE_LABELS = {"responsible_person": _l("责任人"), "lead_unit": _l("牵头单位负责人"),
               "industry_department": _l("行业主管部门负责人"), "leading_official": _l("包抓领导"),
               "office": _l("环督办"), "discipline": _l("纪委监委")}
STATUS_LABELS = {"registered": _l("已交办"), "planning": _l("方案编制"), "rectifying": _l("整改中"),
                 "accepting": _l("验收中"), "public_notice": _l("公示中"), "closed": _l("已销号")}
PLAN_LABELS = {"target": _l("整改目标"), "measures": _l("整改措施"), "deadline_kind": _l("时限类型"),
               "deadline": _l("整改时限")}
EXTRA_TARGET_LABELS = {"subject_official": _l("被问责或被约谈的人员")}
RECORD_LABELS = {"accountability_decision": _l("问责决定（写入问责记录）")}
PLAN_ORDER = ("target", "measures", "deadline_kind", "deadline")


def _strings() -> dict[str, str]:
    return {
        "group": _("督办"), "none": _("（无）"), "workingDays": _("按工作日计算（法定节假日与调休）"),
        "due": _("办理时限 due"), "dueHint": _("ISO 8601 时长（如 P30D），或 deadline 表示问题的整改时限"),
        "durationHelper": _("时长助手"), "cycleHelper": _("周期助手（R/时长）"), "dateHelper": _("日期助手（北京时间）"),
        "amount": _("数量"), "unit": _("单位"), "unitWorkday": _("工作日"), "unitDay": _("自然日"),
        "unitHour": _("小时"), "unitMonth": _("月"), "apply": _("写入"), "useDeadline": _("使用整改时限"),
        "form": _("表单"), "fields": _("字段"), "noForm": _("无表单（办理即确认）"), "editForm": _("编辑表单"),
        "removeForm": _("删除表单"), "formOf": _("表单："), "formUnreadable": _("表单无法读取：") ,
        "laneRole": _("泳道角色"), "laneRoleHint": _("泳道名称决定由谁办理（config/roles.toml）"),
        "chooseRole": _("请选择角色"), "unknownRole": _("未知角色，部署时会被拒绝"),
        "timerKind": _("定时器类型"), "timeDuration": _("时长（timeDuration）"), "timeDate": _("时刻（timeDate）"),
        "timeCycle": _("周期（timeCycle）"), "timerValue": _("定时器"),
        "timerHint": _("ISO 8601：P5D、PT2H、R/P1M、2026-12-31T18:00:00+08:00，或表达式如 working_duration(5)"),
        "condition": _("条件"), "conditionHint": _("流程数据上的表达式，如 decision == \"return\""),
        "fieldsInReach": _("可用字段（此前各任务表单）"), "noFields": _("此网关之前的任务没有表单字段。"),
        "problemStatus": _("问题状态 problemStatus"), "updatesProblem": _("写入整改方案 updatesProblem"),
        "approvesPlan": _("批准整改方案的条件 approvesPlan"),
        "approvesPlanHint": _("本任务表单中批准待审核方案的字段与取值，如 decision=approve；以其他取值办理即退回方案"),
        "approvesPlanChoices": _("本任务表单的可选值"), "noChoices": _("本任务表单没有带可选值的字段。"),
        "records": _("记录 records"), "notify": _("通知 notify"), "notifyMessage": _("通知内容 notifyMessage"),
        "notifyMessageHint": _("可用 {problem_code}、{problem_title}、{deadline} 及表单字段"),
        "escalationEvent": _("督办事件 escalationEvent"),
        "purpose": _("流程用途"),
        "purposeHint": _("问题整改流程才能用于登记问题；督办升级、约谈、问责流程由督办规则启动"),
        "importWarnings": _("流程图已打开，有 %(n)s 条导入警告。"), "importFailed": _("流程图无法打开："),
        "checking": _("正在检查……"), "checked": _("检查完成：%(errors)s 个错误，%(warnings)s 个警告。"),
        "serverCheckFailed": _("服务器端检查失败："),
        "deploying": _("正在部署……"), "deployed": _("已发布 %(key)s 第 %(version)s 版，新问题按此版本办理。"),
        "savingDraft": _("正在保存草稿……"), "draftSaved": _("已保存为 %(key)s 第 %(version)s 版草稿。"),
        "draftReplaced": _("已更新 %(key)s 第 %(version)s 版草稿。"), "openVersions": _("查看版本列表"),
        "draftUnfinished": _("已保存为 %(key)s 第 %(version)s 版草稿（未完成）：有 %(errors)s 个错误，修正后才能发布。"),
        "unfinished": _("这份草稿尚未完成：有 %(errors)s 个错误（见下方检查结果），修正并保存草稿后才能发布。"),

        "unchanged": _("内容与 %(key)s 第 %(version)s 版相同，没有产生新版本。"), "openVersion": _("查看该版本"),
        "notDeployed": _("未部署："), "deployFailed": _("部署失败："),
        "error": _("错误"), "warning": _("警告"), "line": _("行"), "document": _("文档"),
        "applyFix": _("采用建议"), "fixApplied": _("已采用（可撤销）"),
        "executable": _("可执行（isExecutable）"),
        "executableHint": _("部署的流程必须可执行；一个文档只能有一个可执行流程"),
    }


def _vocabulary() -> dict[str, list[dict]]:
    lanes = duban().runtime.lane_roles
    return {
        "roles": [{"lane": lane, "role": str(role), "label": str(ROLE_LABELS.get(str(role), role))}
                  for lane, role in lanes.items()],
        "statuses": [{"value": s.value, "label": f"{STATUS_LABELS.get(s.value, s.value)}（{s.value}）"} for s in ProblemStatus],
        "events": [{"value": e, "label": f"{EVENT_LABELS.get(e, e)}（{e}）"} for e in EVENTS],
        "targets": [{"value": t, "label": str(TARGET_LABELS.get(t) or EXTRA_TARGET_LABELS.get(t, t))} for t in NOTIFY_TARGETS],
        "planFields": [{"value": f, "label": str(PLAN_LABELS[f])} for f in PLAN_ORDER if f in PLAN_FIELDS],
        "records": [{"value": r, "label": str(label)} for r, label in RECORD_LABELS.items()],
        "purposes": [{"value": p, "label": f"{PURPOSE_LABELS[p]}（{p}）"} for p in purpose.PURPOSES],
    }


def _editor(xml: str, key: str | None, name: str, version: int | None, status: str | None = None,
            findings: list[dict] | None = None):
    """The editor's page; `findings`: an unfinished draft's, shown as it opens (what stops its publication)."""
    data = {"xml": xml, "csrf": generate_csrf(), "strings": _strings(), "bpmn": bpmn_strings(), "vocab": _vocabulary(),
            "findings": findings or [],
            "urls": {"deploy": url_for("admin.modeler_deploy"), "check": url_for("admin.modeler_check")}}
    return render_template("admin/definitions_edit.html", data=data, key=key, name=name, version=version,
                           status=status, unfinished=findings is not None, max_comment=MAX_COMMENT)


@bp.get("/definitions/<key>/edit")
def modeler_edit(key: str):
    """The editor on `?version=N`, or on the process's draft if it has one, else its current version."""
    with duban().db.reading() as db:
        rows = deployed.listing(db, key)
        if not rows:
            abort(404, _("没有流程 %(key)s。", key=key))
        wanted = request.args.get("version")
        if wanted:
            chosen = next((r for r in rows if str(r["version"]) == wanted), None)
            if chosen is None:
                abort(404, _("没有流程 %(key)s 的第 %(version)s 版。", key=key, version=wanted[:20]))
        else:
            chosen = editable(rows)
        row = versions.find(db, key, chosen["version"])
        xml, name, version, status, findings = row.bpmn_xml, row.name, row.version, row.status.value, row.findings
    return _editor(xml, key, name, version, status, findings)


@bp.get("/definitions/new")
def modeler_new():
    lanes = list(duban().runtime.lane_roles)
    first = "责任单位" if "责任单位" in lanes else lanes[0]
    second = "环督办" if "环督办" in lanes else lanes[-1]
    xml = render_template("admin/new_process.bpmn", first_lane=first, second_lane=second,
                          name=_("新流程"), start=_("开始"), task=_("办理"), end=_("结束"))
    return _editor(xml, None, _("新流程"), None)


def _body() -> bytes:
    content = request.get_data(cache=True)
    if not content.strip():
        raise _JsonRefusal(400, "invalid", _("请求中没有 BPMN 文档。"), {"document": [_("文档为空")]})
    if len(content) > MAX_BPMN_BYTES:
        raise _JsonRefusal(400, "invalid", _("文档过大"), {"document": [_("不超过 %(n)s MB", n=MAX_BPMN_BYTES // 1024 // 1024)]})
    return content


class _JsonRefusal(Exception):
    def __init__(self, status: int, code: str, message: str, errors: dict):
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors


def _refusal(status: int, code: str, message: str, errors: dict, **extra):
    response = jsonify({"code": code, "message": message, "errors": errors, **extra})
    response.status_code = status
    return response


def _acceptance() -> str | None:
    """The comment accepting the warnings (`accept_warnings` and `comment` in the query string,
    as the API takes them), or None; a refusal naming the field when one is missing."""
    flag = (request.args.get("accept_warnings") or "").strip().lower()
    if flag not in ("true", "1", "yes", "on"):
        return None
    field = "reason" if "reason" in request.args else "comment"   # the reason, when apart from the 版本说明
    comment = (request.args.get(field) or "").strip()
    if not comment:
        raise _JsonRefusal(400, "invalid", _("接受警告须填写理由。"), {field: [_("接受警告时必填")]})
    if len(comment) > MAX_COMMENT:
        raise _JsonRefusal(400, "invalid", _("理由过长"), {field: [_("不超过 %(n)s 个字符", n=MAX_COMMENT)]})
    return comment


def _summary(findings) -> dict:
    body = [f.as_dict() for f in findings]
    return {"findings": body, "errors": sum(f["severity"] == "error" for f in body),
            "warnings": sum(f["severity"] == "warning" for f in body)}


def _version_comment() -> str | None:
    comment = (request.args.get("comment") or "").strip()
    if len(comment) > MAX_COMMENT:
        raise _JsonRefusal(400, "invalid", _("版本说明过长"), {"comment": [_("不超过 %(n)s 个字符", n=MAX_COMMENT)]})
    return comment or None


@bp.post("/definitions/deploy")
def modeler_deploy():
    """The modeler's 保存为草稿 and 发布: the XML as the body, answered like POST
    /api/process-definitions; `comment` (版本说明) and `draft=true` in the query string; its
    warnings are accepted with `accept_warnings=true&reason=…` (or the comment as the reason)."""
    try:
        content, accepted, comment = _body(), _acceptance(), _version_comment()
        draft = (request.args.get("draft") or "").strip().lower() in ("true", "1", "yes", "on")
        if draft:   # kept unfinished while it has errors, to be finished later
            definition, outcome = duban().save_draft(current_user().id, content, "modeler.bpmn", {}, comment)
        else:
            definition, outcome = duban().deploy(current_user().id, content, "modeler.bpmn", {}, accepted, comment)
    except _JsonRefusal as refused:
        return _refusal(refused.status, refused.code, refused.message, refused.errors)
    except DocumentError as error:
        counted = _summary(error.findings)
        first = next((f for f in error.findings if f.severity == "error"), error.findings[0])
        return _refusal(400, "invalid", f"{first.element}: {first.text()}", error.by_element(),
                        findings=counted["findings"], error_count=counted["errors"],
                        warning_count=counted["warnings"])
    except Conflict as error:
        return _refusal(409, error.code, error.message, error.errors)
    body = {"key": definition.key, "version": definition.version, "id": definition.id, "created": bool(outcome),
            "outcome": outcome.value, "status": definition.status.value, "user_tasks": sorted(definition.forms),
            "unfinished": definition.unfinished, "findings": definition.findings or [],
            "url": url_for("admin.definition_version", key=definition.key, version=definition.version),
            "versions_url": url_for("admin.definition_versions", key=definition.key)}
    response = jsonify(body)
    response.status_code = 201 if outcome.value == "created" else 200
    return response


@bp.post("/definitions/check")
def modeler_check():
    """The modeler's 检查 on the server: every finding of engine.validation, nothing deployed."""
    try:
        content = _body()
    except _JsonRefusal as refused:
        return _refusal(refused.status, refused.code, refused.message, refused.errors)
    return jsonify(_summary(duban().check_definition(content, "modeler.bpmn", {}).findings))
