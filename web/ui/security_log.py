"""安全审计日志: the security log for the audit administrator (审计管理员): sign-ins and their
failures with the address they came from, lockouts, account and role changes, tokens,
deployments, rule and calendar changes, exports; filtered by day, kind, user and result,
newest first, and exported as .xlsx with the same filters (the export is itself an event).
The same `Duban.security_events` and `Duban.export_security_events` as the API."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine import clock
from engine.errors import Forbidden
from engine.action_log import Filter as ActionFilter
from engine.security_log import RESULTS, Filter, Kind

from ..downloads import attachment
from .layout import current_user, duban, page_blueprint, page_number

bp = page_blueprint("security_log", __name__)
PER_PAGE = 50
KIND_LABELS = {Kind.SIGN_IN: _l("登录"), Kind.SIGN_OUT: _l("退出"), Kind.LOCKED: _l("锁定"), Kind.UNLOCKED: _l("解锁"),
               Kind.SECOND_FACTOR_ENROLLED: _l("绑定动态口令"), Kind.SECOND_FACTOR_FAILED: _l("动态口令错误"),
               Kind.SECOND_FACTOR_RESET: _l("重置动态口令"),
               Kind.TOKEN_ISSUED: _l("签发令牌"), Kind.TOKENS_REVOKED: _l("吊销令牌"), Kind.PASSWORD_CHANGED: _l("修改密码"),
               Kind.PASSWORD_RESET: _l("重置密码"), Kind.ACCOUNT_CREATED: _l("创建账号"),
               Kind.ACCOUNT_DISABLED: _l("停用账号"), Kind.ACCOUNT_ENABLED: _l("启用账号"),
               Kind.ROLE_GRANTED: _l("授予角色"), Kind.ROLE_REVOKED: _l("撤销角色"),
               Kind.PROCESS_DEPLOYED: _l("部署流程"), Kind.RULES_CHANGED: _l("修改督办规则"),
               Kind.CALENDAR_CHANGED: _l("修改工作日历"), Kind.LEDGER_EXPORTED: _l("导出台账"),
               Kind.SECURITY_LOG_EXPORTED: _l("导出安全日志"), Kind.ACTION_LOG_EXPORTED: _l("导出操作日志"),
               Kind.SECURITY_LOG_PURGED: _l("清理过期安全日志"),
               Kind.POLICY_CHANGED: _l("修改会话与口令策略"), Kind.SESSION_ENDED: _l("会话结束")}
RESULT_LABELS = {"success": _l("成功"), "failure": _l("失败")}
METHOD_LABELS = {"password": _l("口令"), "password+totp": _l("口令和动态口令"),
                 "password+recovery code": _l("口令和恢复码"), "totp": _l("动态口令"), "shipped": _l("随版本发布"), "retention": _l("保存期限到期"),
                 "command line": _l("命令行")}
DETAIL_LABELS = {"door": _l("入口"), "was_locked": _l("原已锁定"), "reason": _l("原因"), "because": _l("原因"), "minutes": _l("锁定分钟数"), "role": _l("角色"),
                 "roles": _l("角色"), "outcome": _l("结果"), "draft": _l("草稿"), "file": _l("文件"),
                 "version": _l("版本"), "moved": _l("调整的日期"), "rows": _l("行数"), "removed": _l("清理条数"),
                 "kept_days": _l("保存天数"), "before": _l("清理此前的事件"), "kind": _l("类型"), "result": _l("结果"),
                 "subject": _l("用户名"), "since": _l("从"), "until": _l("至"), "changed": _l("修改"),
                 "count": _l("个数"), "max_sessions": _l("在线会话数上限")}
VALUE_LABELS = {"api": _l("接口"), "page": _l("页面"), "wrong name or password": _l("用户名或口令错误"),
                "second factor needed": _l("需要动态口令"), "second factor wrong": _l("动态口令错误"),
                "second factor unreadable": _l("动态口令密钥无法解开（数据密钥不符）"),
                "enrolment needed": _l("须先绑定动态口令"), "totp": _l("动态口令"), "recovery code": _l("恢复码"),
                "locked": _l("已锁定"), "created": _l("新版本"), "replaced": _l("替换草稿"), "True": _l("是"),
                "False": _l("否"), "password_expired": _l("密码已过期"),
                "password_change_required": _l("须先修改管理员设置的密码"), "session limit": _l("在线会话已达上限"),
                "session_limit": _l("在线会话超过上限"), "idle": _l("闲置超时"), "expired": _l("超过最长时间"),
                "ended_by_user": _l("本人在其他会话中结束"), "all_ended": _l("修改密码或停用账号"),
                "signed_out": _l("退出"), "current password wrong": _l("当前密码错误"), **RESULT_LABELS}


def _value(value) -> str:
    from .layout import ROLE_LABELS

    if isinstance(value, list):
        return "、".join(_value(v) for v in value)
    text = str(value)
    for role, label in ROLE_LABELS.items():
        if text == role.value:
            return str(label)
    if text in VALUE_LABELS:
        return str(VALUE_LABELS[text])
    if text in {k.value for k in Kind}:
        return str(KIND_LABELS[Kind(text)])
    return text


def details_pairs(event) -> list[tuple[str, str]]:
    """An event's details in the page's language, (label, value): known keys and codes named,
    the rest as stored (the hash a purge keeps is left out: the export has it)."""
    return [(str(DETAIL_LABELS.get(key, key)), _value(value)) for key, value in (event.details or {}).items()
            if key not in ("anchor", "last_removed_id")]


def method_text(event) -> str:
    return str(METHOD_LABELS.get(event.method, event.method or ""))


def _day(name: str) -> date | None:
    text = (request.args.get(name) or "").strip()
    if not text:
        return None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        abort(400, _("参数 %(name)s 无效：应为日期 YYYY-MM-DD。", name=name))
    try:
        return date.fromisoformat(text)
    except ValueError:
        abort(400, _("参数 %(name)s 无效：应为日期 YYYY-MM-DD。", name=name))


def _filter() -> tuple[Filter, dict]:
    """The filters of the query string (days in Beijing time, both included), and the
    arguments to keep in the pager's and the export's links."""
    first, last = _day("from"), _day("to")
    kind = (request.args.get("kind") or "").strip() or None
    result = (request.args.get("result") or "").strip() or None
    subject = (request.args.get("subject") or "").strip()[:100] or None
    if kind is not None and kind not in {k.value for k in Kind}:
        abort(400, _("参数 kind 无效。"))
    if result is not None and result not in RESULTS:
        abort(400, _("参数 result 无效。"))
    since = datetime.combine(first, time(), clock.SHANGHAI) if first else None
    until = datetime.combine(last + timedelta(days=1), time(), clock.SHANGHAI) if last else None
    args = {k: v for k, v in (("from", first and first.isoformat()), ("to", last and last.isoformat()),
                              ("kind", kind), ("result", result), ("subject", subject)) if v}
    return Filter(since=since, until=until, kind=kind, subject=subject, result=result), args


def _refused():
    abort(403, _("只有审计管理员可以查看和导出安全审计日志。"))


@bp.get("/security-log")
def event_list():
    user = current_user()
    where, args = _filter()
    page = page_number()
    try:
        items, total = duban().security_events(user.id, where, page, PER_PAGE)
    except Forbidden:
        _refused()
    return render_template("security_log/list.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           args=args, kinds=KIND_LABELS, results=RESULT_LABELS, details_pairs=details_pairs,
                           method_text=method_text)


@bp.get("/security-log/export.xlsx")
def export():
    user = current_user()
    where, _args = _filter()
    try:
        content = duban().export_security_events(user.id, where)
    except Forbidden:
        _refused()
    return attachment(content, f"安全审计日志-{clock.local_now():%Y%m%d}.xlsx", f"security-log-{clock.local_now():%Y%m%d}.xlsx")


# -- the action log (操作日志: the ledger's entries) -----------------------------------------------


def _action_filter() -> tuple[ActionFilter, dict]:
    first, last = _day("from"), _day("to")
    action = (request.args.get("action") or "").strip()[:40] or None
    actor = (request.args.get("actor") or "").strip()[:60] or None
    since = datetime.combine(first, time(), clock.SHANGHAI) if first else None
    until = datetime.combine(last + timedelta(days=1), time(), clock.SHANGHAI) if last else None
    args = {k: v for k, v in (("from", first and first.isoformat()), ("to", last and last.isoformat()),
                              ("action", action), ("actor", actor)) if v}
    return ActionFilter(since=since, until=until, action=action, actor=actor), args


def _not_auditor():
    abort(403, _("只有审计管理员可以查看和导出操作日志。"))


@bp.get("/action-log")
def action_list():
    where, args = _action_filter()
    page = page_number()
    try:
        items, total = duban().action_log(current_user().id, where, page, PER_PAGE)
    except Forbidden:
        _not_auditor()
    return render_template("action_log/list.html", items=items, total=total, page=page, per_page=PER_PAGE, args=args)


@bp.get("/action-log/export.xlsx")
def action_export():
    where, _args = _action_filter()
    try:
        content = duban().export_action_log(current_user().id, where)
    except Forbidden:
        _not_auditor()
    return attachment(content, f"操作日志-{clock.local_now():%Y%m%d}.xlsx", f"action-log-{clock.local_now():%Y%m%d}.xlsx")
