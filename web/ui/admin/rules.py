"""督办规则: the escalation ladder in force, its earlier versions, and a form to store a new
version (one block per rung: trigger conditions, targets under 党政同责, action)."""
from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from engine.errors import Invalid
from engine.escalation import rules as ladder_rules
from engine.escalation.rules import EVENTS, TRIGGER_KINDS
from engine.escalation.targets import TARGETS
from engine.models import Escalation, User
from engine.text import ID_MAX
from engine.workflow import definitions as deployed

from ..layout import EVENT_LABELS, current_user, duban
from . import bp

TARGET_LABELS = {
    "responsible_person": _l("责任人"),
    "lead_unit_heads": _l("牵头单位党政主要负责人"),
    "leading_official": _l("责任领导"),
    "region_heads": _l("属地党委、政府主要负责人"),
    "cooperating_unit_heads": _l("配合单位党政主要负责人"),
    "industry_unit_heads": _l("行业主管部门党政主要负责人"),
    "chain": _l("责任链条上的全部人员"),
}
HEAD_TARGETS = {"lead_unit_heads", "region_heads", "cooperating_unit_heads", "industry_unit_heads", "chain"}
TRIGGER_LABELS = {
    "before_deadline": _l("时限前（工作日）"),
    "overdue": _l("逾期（工作日）"),
    "repeat": _l("累计次数"),
    "event": _l("流程报告事件"),
}
PROCESS_ACTIONS = {
    "escalation": _l("启动督办流程（书面说明 / 专函督办、挂牌督办）"),
    "interview": _l("启动约谈流程"),
    "accountability": _l("启动问责流程（移送纪委监委）"),
}
FIELD_LABELS = {"code": _l("代码"), "level": _l("级别"), "name": _l("名称"), "triggers": _l("触发条件"),
                "action": _l("动作"), "process": _l("流程"), "targets": _l("对象"), "kind": _l("类型"),
                "working_days": _l("工作日数"), "count": _l("次数"), "event": _l("事件"), "note": _l("说明")}
MAX_VERSION = 2**31 - 1   # a database integer
BLANK_TRIGGERS = 1      # empty trigger rows offered under each rung
NEW_RULE_TRIGGERS = 2   # ... and under the block for a new rung


# -- reading ---------------------------------------------------------------------------------

@bp.get("/rules")
def rules():
    wanted = _version_argument()
    app = duban()
    in_force = app.escalation_rules()  # seeds version 1 on first use
    with app.db.reading() as db:
        history = [_version_row(db, row) for row in ladder_rules.history(db)]
        if wanted is None or wanted == in_force.version:
            shown = {"version": in_force.version, "rules": in_force.rules}
        else:
            row = ladder_rules.stored(db, wanted)
            if row is None:
                abort(404, _("没有第 %(version)s 版督办规则。", version=wanted))
            shown = {"version": row.version, "rules": row.rules}
        processes = _process_names(db)
    shown["rows"] = [describe(rule, processes) for rule in sorted(shown["rules"], key=lambda r: (r["level"], r["code"]))]
    version_info = next(v for v in history if v["version"] == shown["version"])
    return render_template("admin/rules.html", shown=shown, info=version_info, history=history,
                           in_force=in_force.version, target_labels=TARGET_LABELS)


@bp.get("/rules/edit")
def rules_edit():
    source = _version_argument("from")
    app = duban()
    in_force = app.escalation_rules()
    start = in_force.rules
    if source is not None and source != in_force.version:
        with app.db.reading() as db:
            row = ladder_rules.stored(db, source)
            if row is None:
                abort(404, _("没有第 %(version)s 版督办规则。", version=source))
            start = row.rules
    blocks = [_block(index, rule) for index, rule in enumerate(start)]
    return _render_edit(blocks, in_force.version, source or in_force.version, note="")


@bp.post("/rules")
def rules_save():
    app = duban()
    in_force = app.escalation_rules()
    blocks, data, where = _read_form(request.form)
    note = request.form.get("note", "").strip()
    based_on = request.form.get("based_on", type=int) or in_force.version
    if not 1 <= based_on <= ID_MAX:
        based_on = in_force.version
    errors: dict[str, list[str]] = {}
    if not note:
        errors["note"] = [_("请填写修改说明（为何调整督办规则），它记入版本历史和留痕。")]
    elif len(note) > 500:
        errors["note"] = [_("修改说明不超过500字。")]
    try:
        checked = ladder_rules.validate_ladder({"rules": data})
    except Invalid as failure:
        errors.update(_placed(failure.errors, where))
        checked = None
    if errors:
        return _render_edit(blocks, in_force.version, based_on, note, errors, status=400)
    if checked["rules"] == in_force.rules:
        flash(_("规则没有改动，未保存新版本（现行第 %(version)s 版）。", version=in_force.version), "info")
        return redirect(url_for("admin.rules"))
    saved = app.replace_escalation_rules(current_user().id, {"rules": checked["rules"], "note": note})
    flash(_("已保存督办规则第 %(version)s 版，此后的督办按新规则触发。", version=saved.version), "success")
    return redirect(url_for("admin.rules"))


def describe(rule: dict, processes: dict[str, str] | None = None) -> dict:
    """One rung as the table shows it: 级别, 名称, 触发条件, 对象, 动作 (in words)."""
    return {
        "code": rule["code"], "level": rule["level"], "name": rule["name"],
        "triggers": [trigger_words(trigger) for trigger in rule["triggers"]],
        "targets": [{"code": t, "label": TARGET_LABELS.get(t, t), "both_sides": t in HEAD_TARGETS}
                    for t in rule["targets"]],
        "action": action_words(rule["action"], processes or {}),
    }


def trigger_words(trigger: dict) -> str:
    kind = trigger["kind"]
    if kind == "before_deadline":
        return _("整改时限前 %(days)s 个工作日起", days=trigger["working_days"])
    if kind == "overdue":
        if trigger["working_days"] == 0:
            return _("超过整改时限（时限当日结束时）")
        return _("逾期满 %(days)s 个工作日", days=trigger["working_days"])
    if kind == "repeat":
        return _("第 %(level)s 级督办累计 %(count)s 次", level=trigger["level"], count=trigger["count"])
    if kind == "event":
        return str(EVENT_LABELS.get(trigger["event"], trigger["event"]))
    return kind


def action_words(action: dict, processes: dict[str, str]) -> str:
    if action["kind"] == "notify":
        return _("发送督办通知")
    process = action.get("process", "")
    if process in PROCESS_ACTIONS:
        return str(PROCESS_ACTIONS[process])
    return _("启动流程「%(name)s」（%(key)s）", name=processes.get(process, process), key=process)


def _version_argument(name: str = "version") -> int | None:
    text = request.args.get(name)
    if text is None or text == "":
        return None
    if not re.fullmatch(r"\d{1,10}", text) or int(text) < 1:
        abort(400, _("版本号应为正整数：%(text)s", text=text[:40]))
    if int(text) > MAX_VERSION:
        abort(404, _("没有第 %(version)s 版督办规则。", version=text[:40]))
    return int(text)


def _version_row(db, row) -> dict:
    author = db.get(User, row.created_by_id) if row.created_by_id else None
    fired = db.scalar(select(func.count()).select_from(Escalation).where(Escalation.rule_version == row.version))
    return {"version": row.version, "created_at": row.created_at, "note": row.note, "rules": len(row.rules),
            "author": author.display_name if author else _("系统（默认配置）"), "fired": fired}


def _process_names(db) -> dict[str, str]:
    names: dict[str, str] = {}
    for definition in deployed.versions(db):
        names.setdefault(definition.key, definition.name)  # newest version first
    return names


# -- the edit form ---------------------------------------------------------------------------

def _block(index: int, rule: dict | None, triggers: int = BLANK_TRIGGERS) -> dict:
    """One rung as the form shows it (strings, as typed)."""
    rule = rule or {}
    action = rule.get("action") or {}
    rows = [{key: "" if trigger.get(key) is None else str(trigger.get(key)) for key in
             ("kind", "working_days", "level", "count", "event")} for trigger in rule.get("triggers", [])]
    rows += [{"kind": "", "working_days": "", "level": "", "count": "", "event": ""} for _ in range(triggers)]
    return {"index": index, "code": rule.get("code", ""), "level": str(rule.get("level", "")),
            "name": rule.get("name", ""), "targets": list(rule.get("targets", [])),
            "action": "notify" if action.get("kind") == "notify" else
                      f"process:{action['process']}" if action.get("process") else "",
            "triggers": rows, "remove": False, "new": not rule}


def _render_edit(blocks: list[dict], in_force: int, based_on: int, note: str, errors: dict | None = None,
                 status: int = 200):
    blocks = [b for b in blocks if not b["new"]]
    blocks.append(_block(max((b["index"] for b in blocks), default=-1) + 1, None, NEW_RULE_TRIGGERS))
    with duban().db.reading() as db:
        processes = _process_names(db)
    chosen = {b["action"][len("process:"):] for b in blocks if b["action"].startswith("process:")}
    actions = [("notify", _("发送督办通知"))] + [
        (f"process:{key}", action_words({"kind": "start_process", "process": key}, processes))
        for key in sorted(set(processes) | chosen)]
    for block in blocks:  # the rung's own targets first, in its order, so that an unchanged form saves unchanged
        order = [t for t in block["targets"] if t in TARGETS] + [t for t in TARGETS if t not in block["targets"]]
        block["choices"] = [(t, TARGET_LABELS[t], t in HEAD_TARGETS) for t in order]
    errors = errors or {}
    return render_template(
        "admin/rules_edit.html", blocks=blocks, in_force=in_force, based_on=based_on, note=note, errors=errors,
        summary=[message for messages in errors.values() for message in messages],
        actions=actions, known_targets=TARGETS,
        trigger_kinds=[(k, TRIGGER_LABELS[k]) for k in TRIGGER_KINDS],
        events=[(e, EVENT_LABELS[e]) for e in EVENTS]), status


_FIELD = re.compile(r"^rules-(\d+)-(code|level|name|action|targets|remove)$")
_TRIGGER = re.compile(r"^rules-(\d+)-triggers-(\d+)-(kind|working_days|level|count|event)$")


def _read_form(form) -> tuple[list[dict], list[dict], list[tuple[int, list[int], str]]]:
    """(the blocks as typed, the ladder data for the engine, and for each rule in that data
    where it came from: its block index, its trigger rows' indices and its title)."""
    raw: dict[int, dict] = {}
    for key in form:
        if match := _FIELD.match(key):
            index, name = int(match.group(1)), match.group(2)
            block = raw.setdefault(index, {"triggers": {}})
            block[name] = form.getlist(key) if name == "targets" else form.get(key, "").strip()
        elif match := _TRIGGER.match(key):
            index, row, name = int(match.group(1)), int(match.group(2)), match.group(3)
            raw.setdefault(index, {"triggers": {}})["triggers"].setdefault(row, {})[name] = form.get(key, "").strip()
    blocks, data, where = [], [], []
    for index in sorted(raw):
        typed = raw[index]
        rows = [{name: typed["triggers"][row].get(name, "") for name in ("kind", "working_days", "level", "count",
                                                                          "event")}
                for row in sorted(typed["triggers"])]
        block = {"index": index, "code": typed.get("code", ""), "level": typed.get("level", ""),
                 "name": typed.get("name", ""), "targets": typed.get("targets", []),
                 "action": typed.get("action", ""), "triggers": rows, "remove": bool(typed.get("remove")),
                 "new": False}
        filled_rows = [(number, row) for number, row in zip(sorted(typed["triggers"]), rows) if row["kind"]]
        if not (block["code"] or block["name"] or block["level"] or filled_rows or block["targets"]):
            continue  # the empty block for a new rung, left empty
        blocks.append(block)
        if block["remove"]:
            continue
        rule = {"code": block["code"], "level": _number(block["level"]), "name": block["name"],
                "triggers": [_trigger(row) for _line, row in filled_rows],
                "action": _action(block["action"]), "targets": block["targets"]}
        data.append(rule)
        title = _("第 %(level)s 级「%(name)s」", level=block["level"] or "?", name=block["name"] or block["code"] or "?")
        where.append((index, [number for number, _row in filled_rows], title))
    return blocks, data, where


def _number(text: str):
    return int(text) if re.fullmatch(r"-?\d{1,6}", text) else text


def _trigger(row: dict) -> dict:
    wanted = {"before_deadline": ("working_days",), "overdue": ("working_days",), "repeat": ("level", "count"),
              "event": ("event",)}.get(row["kind"], ())
    trigger = {"kind": row["kind"]}
    for name in wanted:
        if row[name] != "":
            trigger[name] = row[name] if name == "event" else _number(row[name])
    return trigger


def _action(value: str) -> dict:
    if value == "notify":
        return {"kind": "notify"}
    if value.startswith("process:"):
        return {"kind": "start_process", "process": value[len("process:"):]}
    return {"kind": value}


def _placed(errors: dict[str, list[str]], where: list[tuple[int, list[int], str]]) -> dict[str, list[str]]:
    """The engine's errors ("rules.2.triggers.0.working_days") keyed by the form field they
    belong to ("rules-3-triggers-1-working_days"), each message saying which rung and field."""
    placed: dict[str, list[str]] = {}
    for key, messages in errors.items():
        parts = key.split(".")
        if parts[0] != "rules" or len(parts) < 3 or not parts[1].isdigit() or int(parts[1]) >= len(where):
            placed.setdefault("general", []).extend(_chinese(m) for m in messages)
            continue
        block, rows, title = where[int(parts[1])]
        name = parts[2]
        if name == "triggers" and len(parts) >= 4 and parts[3].isdigit() and int(parts[3]) < len(rows):
            row = rows[int(parts[3])]
            param = parts[4] if len(parts) > 4 else "kind"
            field = f"rules-{block}-triggers-{row}-{param}"
            label = _("%(title)s · 触发条件%(n)s · %(field)s", title=title, n=int(parts[3]) + 1,
                      field=FIELD_LABELS.get(param, param))
        else:
            field = f"rules-{block}-{'action' if name == 'action' else name}"
            label = _("%(title)s · %(field)s", title=title, field=FIELD_LABELS.get(name, name))
        placed.setdefault(field, []).extend(f"{label}：{_chinese(m)}" for m in messages)
    return placed


_MESSAGES = [
    (re.compile(r"^Missing data for required field\.$"), _l("必填。")),
    (re.compile(r"^Not a valid integer\.$"), _l("应为整数。")),
    (re.compile(r"^Shorter than minimum length 1\.$"), _l("至少需要一项。")),
    (re.compile(r"^Must be one of: .*$"), _l("不是可选的值。")),
    (re.compile(r"^lowercase letters, digits and _$"), _l("只能用小写字母、数字和下划线，以字母开头。")),
    (re.compile(r"^a \w+ trigger needs (\w+)$"), _l("该类触发条件需要填写此项。")),
    (re.compile(r"^start_process names the BPMN process id to start$"), _l("请选择要启动的流程。")),
    (re.compile(r"^unknown target"), _l("不是可选的对象。")),
]
_RANGE = re.compile(r"^Must be greater than or equal to (-?\d+) and less than or equal to (-?\d+)\.$")
_TWICE = re.compile(r"^rule code (.+) is used twice$")


def _chinese(message: str) -> str:
    if match := _RANGE.match(message):
        return _("应在 %(low)s 到 %(high)s 之间。", low=match.group(1), high=match.group(2))
    if match := _TWICE.match(message):
        return _("规则代码 %(codes)s 重复。", codes=match.group(1))
    for pattern, words in _MESSAGES:
        if pattern.match(message):
            return str(words)
    return message
