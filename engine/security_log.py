"""The security log (安全审计日志, 等保 2.0 安全审计): what happens to accounts and to the
system's configuration, as security events with time, kind, subject, object, source address,
method and result.

Append-only (the database refuses an UPDATE) and chained by hash like the ledger: each event
holds the hash of the one before it, and `verify` walks the chain. Events are kept at least
`DUBAN_SECURITY_LOG_DAYS` (180, the Cybersecurity Law's six months); `purge` removes older
ones and is itself an event, holding the hash of the last one removed, from which the chain
goes on. An event never holds a password or a token; a sign-in with a name no account has is
logged under the name's digest (people type passwords into the name field).

Events are recorded in the caller's transaction (an account change commits with its event);
a refused sign-in's event commits with the failure count before the refusal is answered.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from . import chain_digest, clock, log_reading, request_id
from .models import SecurityEvent, User

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x6475_6261_6E01  # serializes appends on PostgreSQL (the ledger's is ...00)


class Kind(enum.StrEnum):
    SIGN_IN = "sign_in"                    # result success or failure (details: reason)
    SIGN_OUT = "sign_out"
    SECOND_FACTOR_ENROLLED = "second_factor_enrolled"
    SECOND_FACTOR_FAILED = "second_factor_failed"    # a wrong code after a right password
    SECOND_FACTOR_RESET = "second_factor_reset"      # by the security administrator
    LOCKED = "locked"                      # a user name locked after repeated failures
    UNLOCKED = "unlocked"                  # by the security administrator
    TOKEN_ISSUED = "token_issued"          # an API token
    TOKENS_REVOKED = "tokens_revoked"      # every API token of an account made worthless (details: because)
    PASSWORD_CHANGED = "password_changed"  # by its owner
    PASSWORD_RESET = "password_reset"      # by an administrator
    ACCOUNT_CREATED = "account_created"
    ACCOUNT_DISABLED = "account_disabled"
    ACCOUNT_ENABLED = "account_enabled"
    ROLE_GRANTED = "role_granted"
    ROLE_REVOKED = "role_revoked"
    PROCESS_DEPLOYED = "process_deployed"
    RULES_CHANGED = "rules_changed"        # the escalation ladder
    CALENDAR_CHANGED = "calendar_changed"
    LEDGER_EXPORTED = "ledger_exported"
    SECURITY_LOG_EXPORTED = "security_log_exported"
    ACTION_LOG_EXPORTED = "action_log_exported"      # the ledger's entries, by the audit administrator
    SECURITY_LOG_PURGED = "security_log_purged"
    POLICY_CHANGED = "policy_changed"      # the session and password policy
    SESSION_ENDED = "session_ended"        # a page session ended other than by signing out (details: reason)


LABELS = {Kind.SIGN_IN: "登录", Kind.SIGN_OUT: "退出", Kind.SECOND_FACTOR_ENROLLED: "绑定动态口令",
          Kind.SECOND_FACTOR_FAILED: "动态口令错误", Kind.SECOND_FACTOR_RESET: "重置动态口令", Kind.LOCKED: "锁定", Kind.UNLOCKED: "解锁", Kind.TOKEN_ISSUED: "签发令牌",
          Kind.TOKENS_REVOKED: "吊销令牌",
          Kind.PASSWORD_CHANGED: "修改密码", Kind.PASSWORD_RESET: "重置密码", Kind.ACCOUNT_CREATED: "创建账号",
          Kind.ACCOUNT_DISABLED: "停用账号", Kind.ACCOUNT_ENABLED: "启用账号", Kind.ROLE_GRANTED: "授予角色",
          Kind.ROLE_REVOKED: "撤销角色", Kind.PROCESS_DEPLOYED: "部署流程", Kind.RULES_CHANGED: "修改督办规则",
          Kind.CALENDAR_CHANGED: "修改工作日历", Kind.LEDGER_EXPORTED: "导出台账",
          Kind.SECURITY_LOG_EXPORTED: "导出安全日志", Kind.ACTION_LOG_EXPORTED: "导出操作日志", Kind.SECURITY_LOG_PURGED: "清理过期安全日志",
          Kind.POLICY_CHANGED: "修改会话与口令策略", Kind.SESSION_ENDED: "会话结束"}
SUCCESS, FAILURE = "success", "failure"
RESULTS = (SUCCESS, FAILURE)
KEPT_DAYS = 180


def record(session: Session, kind: Kind, *, actor: User | None = None, subject: str | None = None,
           result: str = SUCCESS, object: str | None = None, method: str | None = None,
           details: dict | None = None) -> SecurityEvent:
    """Append an event in the caller's transaction, chained to the last one under the lock
    that serializes appends (PostgreSQL: an advisory lock until the transaction ends; SQLite:
    the write lock every write transaction holds)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    head = session.execute(select(SecurityEvent.hash).order_by(SecurityEvent.id.desc()).limit(1)
                           .execution_options(autoflush=False)).scalar()
    digest = chain_digest.of(session)
    event = SecurityEvent(
        at=clock.now(), kind=str(kind), result=result,
        subject_id=actor.id if actor is not None else None,
        subject=(actor.username if actor is not None else subject or "system")[:100],
        object=object[:200] if object else None, source=request_id.source(), method=method,
        details=json.loads(_canonical(details or {})), request_id=request_id.current(),
        prev_hash=head or GENESIS)
    event.hash = event_hash(event, digest)
    session.add(event)
    session.flush()
    return event


def typed_name(session: Session, username: str) -> str:
    """How a name typed at sign-in is logged: as typed when an account has it, else by its digest."""
    from .sign_in import _account, name_digest

    if _account(session, username) is not None:
        return username
    return f"unknown name #{name_digest(username)[:12]}"


def event_hash(event: SecurityEvent, digest: str = chain_digest.DEFAULT) -> str:
    body = {"at": event.at.isoformat(), "kind": event.kind, "result": event.result, "subject_id": event.subject_id,
            "subject": event.subject, "object": event.object, "source": event.source, "method": event.method,
            "details": event.details, "request_id": event.request_id, "prev_hash": event.prev_hash}
    return chain_digest.hasher(digest)(_canonical(body).encode())


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


# -- reading ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Filter:
    since: datetime | None = None
    until: datetime | None = None
    kind: str | None = None
    subject: str | None = None
    result: str | None = None

    def apply(self, statement):
        if self.since is not None:
            statement = statement.where(SecurityEvent.at >= self.since)
        if self.until is not None:
            statement = statement.where(SecurityEvent.at < self.until)
        if self.kind:
            statement = statement.where(SecurityEvent.kind == self.kind)
        if self.subject:
            statement = statement.where(SecurityEvent.subject == self.subject)
        if self.result:
            statement = statement.where(SecurityEvent.result == self.result)
        return statement


def page(session: Session, where: Filter, number: int, per_page: int) -> tuple[list[SecurityEvent], int]:
    """One page of the events `where` selects, newest first, and how many it selects in all."""
    return log_reading.page(session, SecurityEvent, where, number, per_page)


def every(session: Session, where: Filter):
    """The events `where` selects, oldest first, read a batch at a time (for an export)."""
    return log_reading.every(session, SecurityEvent, where)


COLUMNS = ("编号", "时间（北京时间）", "类型", "结果", "主体", "对象", "来源地址", "方式", "详情", "请求编号", "哈希")


def workbook(events) -> bytes:
    """The events as an .xlsx sheet (安全审计日志), one row each, in the order given."""
    import io

    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("安全审计日志")
    sheet.append(list(COLUMNS))
    for event in events:
        sheet.append([event.id, event.at.astimezone(clock.SHANGHAI).replace(tzinfo=None), LABELS.get(event.kind, event.kind),
                      "成功" if event.result == SUCCESS else "失败", event.subject, event.object, event.source,
                      event.method, _canonical(event.details) if event.details else None, event.request_id,
                      event.hash])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- keeping and checking ----------------------------------------------------------------------------

def purge(session: Session, kept_days: int = KEPT_DAYS, actor: User | None = None) -> int:
    """Remove the events older than `kept_days` (never fewer than 180); the removal is itself an
    event holding the last removed one's hash, from which the chain goes on. How many went."""
    days = max(int(kept_days), KEPT_DAYS)
    cutoff = clock.now() - timedelta(days=days)
    last = session.execute(select(SecurityEvent.id, SecurityEvent.hash).where(SecurityEvent.at < cutoff)
                           .order_by(SecurityEvent.id.desc()).limit(1)).first()
    if last is None:
        return 0
    count = session.scalar(select(func.count()).select_from(SecurityEvent).where(SecurityEvent.id <= last.id))
    record(session, Kind.SECURITY_LOG_PURGED, actor=actor, method="retention",
           details={"before": cutoff.isoformat(), "kept_days": days, "removed": count, "anchor": last.hash,
                    "last_removed_id": last.id})
    session.execute(delete(SecurityEvent).where(SecurityEvent.id <= last.id))
    return count


def purged_lately(session: Session, within: timedelta = timedelta(days=1)) -> bool:
    """Whether a purge ran within `within` (the scheduler purges once a day, not at every sweep)."""
    return session.scalar(select(SecurityEvent.id).where(
        SecurityEvent.kind == str(Kind.SECURITY_LOG_PURGED), SecurityEvent.at > clock.now() - within).limit(1)) \
        is not None


@dataclass(frozen=True)
class Verification:
    events: int
    broken_id: int | None = None
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_id is None


def verify(session: Session, batch: int = 2000) -> Verification:
    """Walk the chain from its first event (GENESIS, or the anchor a purge left); stop at the
    first event whose hash or link is wrong."""
    anchors = {GENESIS} | {d.get("anchor") for d in session.scalars(
        select(SecurityEvent.details).where(SecurityEvent.kind == str(Kind.SECURITY_LOG_PURGED)))}
    previous, count, after = None, 0, 0
    digest = chain_digest.of(session)
    while True:
        rows = session.scalars(select(SecurityEvent).where(SecurityEvent.id > after)
                               .order_by(SecurityEvent.id).limit(batch)).all()
        if not rows:
            return Verification(events=count)
        for event in rows:
            expected_ok = event.prev_hash in anchors if previous is None else event.prev_hash == previous
            if not expected_ok:
                return Verification(count, event.id, "its link to the event before is broken "
                                                     "(an event was deleted or changed)")
            if event_hash(event, digest) != event.hash:
                return Verification(count, event.id, "its content no longer matches its hash (it was edited)")
            previous, count, after = event.hash, count + 1, event.id
        session.expunge_all()
