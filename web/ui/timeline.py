"""Timelines (时间线) of a problem or a case: audit ledger entries (留痕) in words a reader
understands: who did what, when, and the detail that matters for each kind of entry. The
problem page and the accountability case page show them with templates/_timeline.html."""
from __future__ import annotations

from datetime import date, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.models import LedgerEntry, ProblemStatus, ProcessDefinition, User

from .layout import EVENT_LABELS

LABELS = {
    "problem.registered": _l("登记交办"),
    "problem.status_changed": _l("状态变更"),
    "problem.plan_updated": _l("更新整改方案"),
    "problem.plan_submitted": _l("提交整改方案（待审核）"),
    "problem.plan_returned": _l("整改方案退回"),
    "evidence.uploaded": _l("上传佐证材料"),
    "evidence.deleted": _l("删除佐证材料草稿"),
    "evidence.submitted": _l("提交佐证材料"),
    "instance.started": _l("启动流程"),
    "instance.completed": _l("流程结束"),
    "instance.failed": _l("流程出错"),
    "instance.timer_fired": _l("定时事件到期"),
    "incident.opened": _l("流程异常"),
    "incident.retried": _l("异常重试未成功"),
    "incident.resolved": _l("异常已排除"),
    "instance.moved": _l("流程跳转"),
    "instance.migrated": _l("迁移流程版本"),
    "instance.cancelled": _l("终止流程"),
    "task.assigned": _l("派发任务"),
    "task.completed": _l("办理任务"),
    "task.sent_back": _l("退回"),
    "task.cancelled": _l("任务撤销"),
    "task.due_recomputed": _l("办理时限重算"),
    "permission.denied": _l("拒绝访问"),
    "escalation.fired": _l("触发督办"),
    "escalation.event_raised": _l("流程上报督办事件"),
    "escalation.held": _l("督办暂缓（缺党政主要负责人）"),
    "accountability.decided": _l("问责决定"),
    "extension.requested": _l("申请延期"),
    "extension.approved": _l("批准延期"),
    "extension.refused": _l("不予批准延期"),
}

# the head post an organisation gap lacks
SIDE_LABELS = {"party": _l("党委（党组）书记"), "government": _l("行政主要负责人")}

# the kind of mark a timeline entry carries (its CSS class)
TONES = {"escalation.held": "warn", "task.sent_back": "warn", "escalation.fired": "alarm", "escalation.event_raised": "alarm",
         "accountability.decided": "alarm", "extension.refused": "warn", "instance.failed": "alarm",
         "incident.opened": "alarm", "incident.retried": "warn", "incident.resolved": "done",
         "instance.moved": "warn", "instance.migrated": "warn", "instance.cancelled": "alarm",
         "permission.denied": "warn", "task.completed": "done", "instance.completed": "done",
         "extension.approved": "done"}

PLAN_FIELDS = {"target": _l("整改目标"), "measures": _l("整改措施"), "deadline_kind": _l("时限类型"),
               "deadline": _l("整改时限")}
STATUS_LABELS = {status.value: status.label for status in ProblemStatus}


def _day(value) -> str:
    """An ISO date or moment from a payload, as a reader writes it."""
    if not value:
        return "—"
    try:
        if isinstance(value, str) and "T" in value:
            return datetime.fromisoformat(value).astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M")
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        return str(value)


def _detail(entry: LedgerEntry, process_names: dict[str, str], people: dict[str, str]) -> str:
    p = entry.payload or {}
    action = entry.action
    if action == "problem.registered":
        return _("牵头单位：%(unit)s；责任人：%(person)s；整改时限：%(deadline)s", unit=p.get("lead_unit") or "—",
                 person=p.get("responsible") or "—", deadline=_day(p.get("deadline")))
    if action == "problem.status_changed":
        return _("%(before)s → %(after)s", before=STATUS_LABELS.get(p.get("from"), p.get("from") or "—"),
                 after=p.get("to_label") or STATUS_LABELS.get(p.get("to"), p.get("to") or "—"))
    if action in ("problem.plan_updated", "problem.plan_submitted", "problem.plan_returned"):
        return "；".join(f"{PLAN_FIELDS.get(key, key)}：{value}" for key, value in p.items())
    if action in ("evidence.uploaded", "evidence.deleted"):
        return p.get("filename", "")
    if action == "evidence.submitted":
        return "、".join(f.get("filename", "") for f in p.get("files", []))
    if action == "instance.started":
        key = p.get("process", "")
        return _("%(name)s（第 %(version)s 版）", name=process_names.get(key, key), version=p.get("version", "?"))
    if action == "instance.timer_fired":
        return p.get("timer", "")
    if action == "task.assigned":
        holder = (people.get(p["assignee"], p["assignee"]) if p.get("assignee")
                  else p.get("candidate_unit") or p.get("lane") or "—")
        text = _("「%(name)s」交 %(holder)s 办理", name=p.get("name", ""), holder=holder)
        if p.get("due_at"):
            text += _("，时限 %(due)s", due=_day(p["due_at"]))
        return text
    if action == "task.completed":
        data = p.get("data") or {}
        text = _("「%(name)s」", name=p.get("name", ""))
        opinion = next((data[k] for k in ("reason", "opinion", "comment", "summary", "note") if data.get(k)), None)
        if opinion:
            text += _("：%(opinion)s", opinion=opinion)
        return text
    if action == "task.sent_back":
        return _("从「%(source)s」退回至「%(target)s」", source=p.get("from_name", ""), target=p.get("to_name", ""))
    if action == "task.cancelled":
        return _("「%(name)s」", name=p.get("name", ""))
    if action == "task.due_recomputed":
        if str(p.get("reason", "")).startswith("migrated"):
            return _("「%(name)s」：%(before)s → %(after)s（迁移到新版本）", name=p.get("name", ""),
                     before=_day(p.get("from")), after=_day(p.get("to")))
        return _("「%(name)s」：%(before)s → %(after)s（工作日历调整）", name=p.get("name", ""),
                 before=_day(p.get("from")), after=_day(p.get("to")))
    if action == "instance.moved":
        return _("从 %(source)s 跳转到 %(target)s；理由：%(reason)s", source=p.get("from", ""), target=p.get("to", ""),
                 reason=p.get("reason") or "—")
    if action == "instance.migrated":
        return _("第 %(before)s 版 → 第 %(after)s 版；理由：%(reason)s", before=p.get("from_version", "?"),
                 after=p.get("to_version", "?"), reason=p.get("reason") or "—")
    if action == "instance.cancelled":
        return _("理由：%(reason)s", reason=p.get("reason") or "—")
    if action == "incident.resolved" and p.get("note"):
        return _("理由：%(reason)s", reason=p["note"])
    if action == "permission.denied":
        return p.get("action", "")
    if action == "escalation.fired":
        return _("第 %(level)s 级 %(name)s；对象：%(targets)s", level=p.get("level", "?"), name=p.get("name", ""),
                 targets="、".join(p.get("targets") or []) or "—")
    if action == "escalation.held":
        return _("第 %(level)s 级；缺：%(missing)s", level=p.get("level", "?"),
                 missing="、".join(f"{m.get('name', '')}（{SIDE_LABELS.get(m.get('side'), m.get('side', ''))}）"
                                  for m in p.get("missing") or []) or "—")
    if action == "escalation.event_raised":
        return str(EVENT_LABELS.get(p.get("event"), p.get("event", "")))
    if action == "accountability.decided":
        return _("%(official)s：%(form)s", official=p.get("official", ""), form=p.get("form_label", ""))
    if action == "extension.requested":
        return _("%(before)s → %(after)s；理由：%(reason)s", before=_day(p.get("from")), after=_day(p.get("to")),
                 reason=p.get("reason") or "—")
    if action == "extension.approved":
        text = _("整改时限 %(before)s → %(after)s", before=_day(p.get("from")), after=_day(p.get("to")))
        if p.get("note"):
            text += _("；说明：%(note)s", note=p["note"])
        return text
    if action == "extension.refused":
        return _("说明：%(note)s", note=p.get("note") or "—")
    return ""


def lines(db: Session, entries: list[LedgerEntry]) -> list[dict]:
    """The timeline of `entries`, with process keys and the usernames they name read as names."""
    usernames = {e.payload.get("assignee") for e in entries if e.action == "task.assigned" and e.payload} - {None}
    people = dict(db.execute(select(User.username, User.display_name).where(User.username.in_(usernames))).all()
                  ) if usernames else {}
    keys = {e.payload.get("process") for e in entries if e.action == "instance.started" and e.payload} - {None}
    names = dict(db.execute(select(ProcessDefinition.key, ProcessDefinition.name)
                            .where(ProcessDefinition.key.in_(keys))).all()) if keys else {}
    return [describe(entry, names, people) for entry in entries]


def describe(entry: LedgerEntry, process_names: dict[str, str], people: dict[str, str]) -> dict:
    """One timeline line: when, who, what (a label), the detail, and its tone. `people` maps
    the usernames the entries name to the names shown."""
    return {"id": entry.id, "at": entry.at, "actor": entry.actor_name, "action": entry.action,
            "label": LABELS.get(entry.action, entry.action), "detail": _detail(entry, process_names, people),
            "tone": TONES.get(entry.action, "")}
