"""Notifications (通知): written to the outbox in the caller's transaction, sent afterwards.

`notify` writes one row per recipient and channel inside the transaction of the event it
announces (an escalation, a new task, a process reaching an element that says `notify`), so
the event and its notices commit together or not at all: in-app for every recipient with an
active account, email where the official has an address and SMTP is configured, and a
webhook row per recipient where a webhook URL is configured. Which channels exist is decided
when the row is written: without DUBAN_SMTP_HOST no email is ever queued.

`deliver_pending` is the sender. It claims one due row at a time in a short transaction
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock that every SQLite write transaction
takes when it begins), marking it `sending` with a lease, sends it with no transaction open,
and records the outcome in a second short transaction: `sent`, or back to `pending` after a
backoff of 1, 2, 4, 8 and 16 minutes, or `failed` after the sixth attempt. Two senders never
send the same row; a sender that dies mid-send leaves the row to be retried once its lease
runs out, and its late answer is then ignored.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Iterable

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.util import identity_key

from . import clock
from .errors import NotFound
from .escalation.targets import resolve
from .models import (Channel, DeadlineKind, Escalation, HumanTask, Notification, NotificationStatus, Official, Post,
                     ProcessInstance, TaskState, Unit, User, UserRole)
from .organization import unit_heads
from .settings import NotificationSettings

log = logging.getLogger("duban.notifications")

BACKOFF = [timedelta(minutes=m) for m in (1, 2, 4, 8, 16)]
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(minutes=10)  # a claimed row waits this long for its sender before another may retry it
TIMEOUT = 10  # seconds, for SMTP and the webhook
SIGNATURE_HEADER = "X-Duban-Signature"  # "sha256=" + HMAC-SHA256 of the body with DUBAN_WEBHOOK_SECRET
DELIVERY_HEADER = "X-Duban-Delivery"    # the notification id: a gateway can drop a repeat
SUBJECT_LENGTH = 200


# -- wording: a notice is stored as codes with parameters, worded in the reader's language ------

# Each code's Chinese wording (the source language; the pages translate the same sentence from
# the catalog). Parameters ending in `_at` are moments (ISO), shown in Beijing time; `_on` are
# days (ISO). A notice keeps its wording in `payload["words"]`: {"subject": [[code, params]],
# "body": [[code, params], ...]}; the stored subject and body are the Chinese, for the email,
# the webhook and the rows written before codes existed.
NOTICES = {
    "task.subject": "新待办：%(task)s（%(code)s）",
    "task.body": "问题 %(code)s「%(title)s」有一项新的待办「%(task)s」，",
    "task.sent_back.subject": "退回：%(task)s（%(code)s）",
    "task.sent_back.body": "问题 %(code)s「%(title)s」的「%(step)s」将工作退回到「%(task)s」，请根据意见重新办理，",
    "task.due": "请于%(due_at)s（北京时间）前办理。",
    "task.soon": "请及时办理。",
    "process.subject": "%(element)s：%(code)s %(title)s",
    "process.level_subject": "【%(rule)s】%(element)s：%(code)s %(title)s",
    "process.level": "【%(rule)s】",
    "process.done": "问题 %(code)s「%(title)s」的「%(element)s」已于%(now_at)s办理完成（%(process)s）。",
    "process.reached": "问题 %(code)s「%(title)s」的%(process)s流程已于%(now_at)s到达「%(element)s」。",
    "extension.requested.subject": "延期申请：%(code)s",
    "extension.requested.body": ("%(who)s 申请将问题 %(code)s「%(title)s」的整改时限由 %(from_on)s 延至 %(to_on)s。"
                                 "理由：%(reason)s"),
    "extension.refused.subject": "延期申请未获批准：%(code)s",
    "extension.refused.body": "问题 %(code)s「%(title)s」的延期申请未获批准，整改时限仍为 %(deadline_on)s。",
    "extension.approved.subject": "延期申请已批准：%(code)s",
    "extension.approved.body": "问题 %(code)s「%(title)s」的整改时限由 %(from_on)s 延至 %(to_on)s。",
    "extension.note": "说明：%(note)s",
    "escalation.subject": "【%(rule)s】%(code)s %(title)s",
    "escalation.problem": "问题 %(code)s「%(title)s」",
    "escalation.before_deadline": "距整改时限已不足%(days)s个工作日。\n",
    "escalation.overdue_days": "已超过整改时限%(days)s个工作日。\n",
    "escalation.overdue": "已超过整改时限。\n",
    "escalation.repeat": "第%(level)s级督办已累计%(count)s次。\n",
    "escalation.event.listed_case_missed": "挂牌督办期限已过仍未完成整改。\n",
    "escalation.event.commitment_missed": "约谈整改承诺未按期兑现。\n",
    "escalation.event.false_rectification": "经核查存在虚假整改、敷衍整改。\n",
    "escalation.event": "流程报告：%(event)s。\n",
    "escalation.fired": "触发督办。\n",
    "escalation.level": "督办等级：第%(level)s级 %(rule)s\n",
    "escalation.where": "所属区域：%(region)s；牵头单位：%(unit)s；责任人：%(responsible)s\n",
    "escalation.deadline": "整改时限：%(deadline_on)s（%(deadline_kind)s）\n",
    "escalation.deadline_kind": "整改时限：%(deadline_kind)s\n",
    "escalation.no_deadline": "整改时限：未设定\n",
    "escalation.expected.1": "工作要求：请抓紧推进整改，确保在整改时限内完成，并及时报送整改进展。\n",
    "escalation.expected.2": "工作要求：请立即整改，并书面说明逾期原因、下一步措施和完成时间。\n",
    "escalation.expected.3": "工作要求：该问题已专函督办、挂牌督办：请在督办期限内完成整改，逐项报送整改情况。\n",
    "escalation.expected.4": "工作要求：将对党政主要负责同志进行约谈：请按约谈通知准时参加，约谈后30日内提交书面整改承诺。\n",
    "escalation.expected.5": "工作要求：已移送纪委监委追责问责：请配合核实，如实说明情况。\n",
    "escalation.expected": "工作要求：请按督办要求落实整改，并及时报送整改情况。\n",
    "escalation.targets": "督办对象：%(targets)s\n",
    "escalation.fired_at": "发出时间：%(fired_at)s",
    "bulletin.subject": "督察整改工作通报第%(number)s期（%(day)s）已发布",
    "bulletin.body": "%(day)s的督察整改工作通报已生成，请查阅。",
}


def words(key: str, /, **params) -> list:
    """One sentence of a notice: its code and parameters (JSON-ready)."""
    if key not in NOTICES:
        raise KeyError(f"no notice wording {key!r}")
    return [key, params]


def chinese_params(params: dict) -> dict:
    shown = {}
    for key, value in params.items():
        if isinstance(value, str) and key.endswith("_at"):
            value = beijing(datetime.fromisoformat(value))
        elif isinstance(value, str) and key.endswith("_on"):
            value = chinese_date(datetime.fromisoformat(value).date()) if value else "—"
        elif key == "deadline_kind" and isinstance(value, str):
            value = _deadline_kind(value)
        elif value is None:
            value = "未确定" if key == "responsible" else "—"
        shown[key] = value
    return shown


def _deadline_kind(value: str) -> str:
    try:
        return DeadlineKind(value).label
    except ValueError:
        return value


def say(parts: list) -> str:
    """The Chinese text of a notice's sentences."""
    return "".join(NOTICES[code] % chinese_params(params) for code, params in parts)


# -- writing: in the caller's transaction -------------------------------------------------------

def notify(session: Session, *, officials: Iterable[Official | int] = (), users: Iterable[User | int] = (),
           subject: str | list | None = None, body: str | list | None = None, kind: str,
           problem_id: int | None = None, payload: dict | None = None,
           channels: NotificationSettings | None = None) -> list[Notification]:
    """Write the notices for these recipients in the caller's transaction; the rows written.

    `subject` and `body` are text, or sentences (`words`): those are kept as codes with their
    parameters in the payload, so that each reader sees them in their language.

    Officials and users may be given as rows or ids; an official with an account and that
    account are one recipient, told once. `channels` says which channels besides in-app exist
    (the Duban's settings; the environment when not given)."""
    channels = channels or NotificationSettings.from_env()
    now = clock.now()
    payload = dict(payload or {})
    wording = {}
    if isinstance(subject, list):
        wording["subject"], subject = subject, say(subject)
    if isinstance(body, list):
        wording["body"], body = body, say(body)
    if wording:
        payload["words"] = wording
    subject = _one_line(subject or "")
    body = body or ""
    if len(subject) > SUBJECT_LENGTH:
        subject = subject[:SUBJECT_LENGTH - 1] + "…"
    rows: list[Notification] = []
    for official, user in _recipients(session, officials, users):
        wanted: list[tuple[Channel, str | None]] = []
        if user is not None and user.active:
            wanted.append((Channel.INAPP, None))
        if official is not None and official.email and channels.email_enabled:
            wanted.append((Channel.EMAIL, official.email))
        if channels.webhook_enabled:
            wanted.append((Channel.WEBHOOK, None))
        for channel, address in wanted:
            inapp = channel == Channel.INAPP
            rows.append(Notification(
                channel=channel, status=NotificationStatus.SENT if inapp else NotificationStatus.PENDING,
                kind=kind, user_id=user.id if user else None, official_id=official.id if official else None,
                address=address, problem_id=problem_id, subject=subject, body=body, payload=payload,
                created_at=now, attempts=0, next_attempt_at=None if inapp else now, sent_at=now if inapp else None))
    session.add_all(rows)  # written with the action's next flush or its commit
    return rows


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _recipients(session: Session, officials, users) -> list[tuple[Official | None, User | None]]:
    officials, users = list(officials), list(users)
    # those given by id, each with its account or official, in a few queries instead of some per
    # recipient (held here: the session keeps only weak references to what it loaded)
    loaded = [*_by_id(session, Official, officials, selectinload(Official.user)),
              *_by_id(session, User, users, selectinload(User.official))]
    found: dict[tuple[str, int], tuple[Official | None, User | None]] = {}
    for item in officials:
        official = session.get(Official, item) if isinstance(item, int) else item
        if official is not None:
            found.setdefault(("official", official.id), (official, official.user))
    for item in users:
        user = session.get(User, item) if isinstance(item, int) else item
        if user is None:
            continue
        key = ("official", user.official_id) if user.official_id else ("user", user.id)
        found.setdefault(key, (user.official, user))
    # held until the transaction ends: the next notice of the same action or batch (a task for
    # the same role, the same unit's heads) finds them in the session instead of reading them again
    session.info.setdefault(_HELD, set()).update([*loaded, *(row for pair in found.values() for row in pair if row)])
    return list(found.values())


_HELD = "notifications.held"  # session.info
_AUDIENCES = "notifications.audiences"  # session.info: a unit's or a role's audience, read once a transaction


@event.listens_for(Session, "after_transaction_end")
def _let_go(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_HELD, None)
        session.info.pop(_AUDIENCES, None)


def _by_id(session: Session, model, items: list, option) -> list:
    """The rows of `model` given by id that the session does not hold yet, when there are
    several (one is read as before, by its key)."""
    ids = sorted({item for item in items if isinstance(item, int)
                  and identity_key(model, item) not in session.identity_map})
    return list(session.scalars(select(model).where(model.id.in_(ids)).options(option))) if len(ids) > 1 else []


def beijing(moment: datetime) -> str:
    """2026年3月9日 17:30, in Beijing time."""
    local = moment.astimezone(clock.SHANGHAI)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def chinese_date(day) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


# -- a new task (待办) --------------------------------------------------------------------------

def task_assigned(session: Session, task: HumanTask, channels: NotificationSettings | None = None, *,
                  official_id: int | None = None, sent_back_from: HumanTask | None = None) -> list[Notification]:
    """Tell the people who may do a new task about it.

    A task with an assignee tells the assignee only (the others of its candidate unit see it
    in their list but are not disturbed). A task for a named official without an account
    (`official_id`) tells that official by email or webhook, and the heads of the unit it was
    offered to, in-app. A task offered to a unit with no one named tells the unit's heads
    (Party and government alike), or everyone with a post there when it has no head. A task
    offered to a role (the office 环督办, the discipline office 纪委监委) tells every active
    user with that role."""
    users, officials = task_audience(session, task, official_id)
    if not users and not officials:
        return []
    problem = task.problem
    when = words("task.due", due_at=task.due_at.isoformat()) if task.due_at else words("task.soon")
    named = {"task": task.name, "code": problem.code}
    if sent_back_from is not None:
        subject = [words("task.sent_back.subject", **named)]
        body = [words("task.sent_back.body", **named, title=problem.title, step=sent_back_from.name), when]
        kind = "task_sent_back"
    else:
        subject = [words("task.subject", **named)]
        body = [words("task.body", **named, title=problem.title), when]
        kind = "task_assigned"
    return notify(session, officials=officials, users=users, subject=subject, body=body, kind=kind,
                  problem_id=problem.id, channels=channels,
                  payload={"task_id": task.id, "element": task.element_id, "instance_id": task.instance_id,
                           "due_at": task.due_at.isoformat() if task.due_at else None})


def task_audience(session: Session, task: HumanTask, official_id: int | None = None) -> tuple[list[int], list[int]]:
    """(user ids, official ids) a new task is announced to (see `task_assigned`)."""
    if task.assignee_id is not None:
        return [task.assignee_id], []
    users: list[int] = []
    officials: list[int] = [official_id] if official_id is not None else []
    # read once a transaction: a batch of timers opens many tasks for the same units and roles
    known = session.info.setdefault(_AUDIENCES, {})
    if task.candidate_unit_id is not None:
        key = ("unit", task.candidate_unit_id)
        if key not in known:
            unit = session.get(Unit, task.candidate_unit_id)
            heads = [o.id for o in unit_heads(session, unit).officials()]
            known[key] = heads or list(session.scalars(select(Post.official_id).where(Post.unit_id == unit.id)
                                                       .distinct().order_by(Post.official_id)))
        officials += known[key]
    if task.candidate_role is not None:
        key = ("role", task.candidate_role)
        if key not in known:
            known[key] = list(session.scalars(select(User.id).join(UserRole).where(
                UserRole.role == task.candidate_role, User.active.is_(True)).order_by(User.id)))
        users += known[key]
    return users, officials


# -- a process reaching an element that says `notify` -------------------------------------------

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,60})\}")


def fill(template: str, values: dict) -> str:
    """`{key}` replaced by the value of `key` (lists joined with 、); unknown keys stay as written.
    Only plain names are read: no attribute or item access, whatever the template says."""
    def one(match: re.Match) -> str:
        key = match.group(1)
        if key not in values or values[key] is None:
            return match.group(0)
        value = values[key]
        if isinstance(value, bool):
            return "是" if value else "否"
        if isinstance(value, (list, tuple)):
            return "、".join(str(v) for v in value)
        return str(value)

    return _PLACEHOLDER.sub(one, template)


def element_notice(session: Session, instance: ProcessInstance, *, element_id: str, element_name: str | None,
                   targets: list[str], message: str | None, data: dict, was_task: bool,
                   channels: NotificationSettings | None = None) -> list[Notification]:
    """The notice of a BPMN element with the `notify` property, to the officials its targets
    name for this instance's problem (党政同责: a *_heads target is both heads;
    `subject_official` is the official an accountability case or interview is about)."""
    problem = instance.problem
    found = resolve(session, problem, [t for t in targets if t != "subject_official"])
    officials = [t["official_id"] for t in found]
    if "subject_official" in targets and instance.subject_official_id is not None:
        officials.append(instance.subject_official_id)
    if not officials:
        return []
    escalation = session.get(Escalation, instance.escalation_id) if instance.escalation_id else None
    name = element_name or element_id
    process = instance.definition.name or instance.definition.key
    values = {**{k: v for k, v in data.items() if isinstance(k, str)},
              "problem_code": problem.code, "problem_title": problem.title, "element": name, "process": process,
              "region": problem.region.name, "lead_unit": problem.lead_unit.name,
              "deadline": chinese_date(problem.deadline) if problem.deadline else "未设定",
              "now": beijing(clock.now())}
    if escalation is not None:
        values.setdefault("level_name", escalation.rule_name)
    named = {"element": name, "code": problem.code, "title": problem.title}
    if escalation is not None:
        subject = [words("process.level_subject", rule=escalation.rule_name, level=escalation.level, **named)]
    else:
        subject = [words("process.subject", **named)]
    if message:  # the process author's own words
        body = fill(message, values)
    else:
        body = [words("process.done" if was_task else "process.reached", **named, process=process,
                      now_at=clock.now().isoformat())]
        if escalation is not None:
            body.insert(0, words("process.level", rule=escalation.rule_name, level=escalation.level))
    return notify(session, officials=officials, subject=subject, body=body, kind="process_notice",
                  problem_id=problem.id, channels=channels,
                  payload={"instance_id": instance.id, "process": instance.definition.key, "element": element_id,
                           "escalation_id": instance.escalation_id,
                           "subject_official_id": instance.subject_official_id})


# -- the in-app list ----------------------------------------------------------------------------

@dataclass
class Inbox:
    items: list[Notification]
    total: int
    unread: int


def _mine(user: User):
    return select(Notification).where(Notification.user_id == user.id, Notification.channel == Channel.INAPP)


def unread_count(session: Session, user: User | int) -> int:
    """How many of the user's in-app notices are unread: one COUNT on the index
    (user_id, channel, read_at), cheap enough for the bell every page polls."""
    user_id = user if isinstance(user, int) else user.id
    return session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.channel == Channel.INAPP, Notification.read_at.is_(None)))


def inbox(session: Session, user: User, *, unread_only: bool = False, page: int = 1, per_page: int = 20,
          kind: str | None = None, since: datetime | None = None, until: datetime | None = None) -> Inbox:
    """The user's in-app notifications, newest first, and how many are unread (of them all,
    whatever the filters): only the unread ones, one `kind`, created from `since` and before
    `until`."""
    mine = _mine(user)
    unread = unread_count(session, user)
    if unread_only:
        mine = mine.where(Notification.read_at.is_(None))
    if kind:
        mine = mine.where(Notification.kind == kind)
    if since is not None:
        mine = mine.where(Notification.created_at >= since)
    if until is not None:
        mine = mine.where(Notification.created_at < until)
    total = session.scalar(select(func.count()).select_from(mine.subquery()))
    items = session.scalars(mine.order_by(Notification.created_at.desc(), Notification.id.desc())
                            .offset((page - 1) * per_page).limit(per_page)).all()
    return Inbox(list(items), total, unread)


def kinds(session: Session, user: User) -> list[str]:
    """The kinds of notice the user has received, for a filter's choices."""
    return list(session.scalars(select(Notification.kind).distinct().where(
        Notification.user_id == user.id, Notification.channel == Channel.INAPP).order_by(Notification.kind)))


@dataclass(frozen=True)
class Destination:
    """Where a notice leads: its task while the task is ready, else its problem; None for neither."""

    task_id: int | None = None
    problem_id: int | None = None


def destinations(session: Session, rows: Iterable[Notification]) -> dict[int, Destination]:
    """For each notice (by id), where it leads: the task it announced while that task is still
    ready (one query for them all), else the problem it concerns (a task already done leads to
    its problem)."""
    rows = list(rows)
    wanted = {n.payload.get("task_id") for n in rows if isinstance(n.payload, dict)} - {None}
    wanted = {t for t in wanted if isinstance(t, int)}
    ready = {}
    if wanted:
        ready = dict(session.execute(select(HumanTask.id, HumanTask.problem_id).where(
            HumanTask.id.in_(wanted), HumanTask.state == TaskState.READY)).all())
    found = {}
    for row in rows:
        task_id = row.payload.get("task_id") if isinstance(row.payload, dict) else None
        if task_id in ready:
            found[row.id] = Destination(task_id=task_id, problem_id=ready[task_id])
        else:
            found[row.id] = Destination(problem_id=row.problem_id)
    return found


def own(session: Session, user: User, notification_id: int) -> Notification:
    """One of the user's in-app notifications; anyone else's is not found."""
    row = session.get(Notification, notification_id)
    if row is None or row.user_id != user.id or row.channel != Channel.INAPP:
        raise NotFound(f"no notification with id {notification_id}", {"notification_id": ["not found"]})
    return row


def mark_read(session: Session, user: User, notification_id: int) -> Notification:
    """Mark one of the user's own in-app notifications read (again is harmless: the first
    reading's time stays)."""
    row = own(session, user, notification_id)
    if row.read_at is None:
        row.read_at = clock.now()
    return row


def mark_all_read(session: Session, user: User) -> int:
    """Mark every unread in-app notice of the user read; how many were."""
    result = session.execute(update(Notification).where(
        Notification.user_id == user.id, Notification.channel == Channel.INAPP, Notification.read_at.is_(None))
        .values(read_at=clock.now()).execution_options(synchronize_session=False))
    return result.rowcount or 0


# -- sending: after the commit, one row at a time -----------------------------------------------

@dataclass
class Delivery:
    """What one run of the sender did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return f"{self.sent} sent, {self.retrying} to retry, {self.failed} failed"


@dataclass(frozen=True)
class Outgoing:
    """A claimed row, read while its transaction was open, sent after it closed."""

    id: int
    channel: Channel
    attempts: int
    address: str | None
    name: str
    username: str | None
    official_id: int | None
    mobile: str | None
    email: str | None
    subject: str
    body: str
    kind: str
    problem_id: int | None
    problem_code: str | None
    payload: dict
    created_at: datetime

    @classmethod
    def of(cls, row: Notification) -> "Outgoing":
        official, user = row.official, row.user
        return cls(id=row.id, channel=row.channel, attempts=row.attempts, address=row.address,
                   name=official.name if official else (user.display_name if user else ""),
                   username=user.username if user else None, official_id=row.official_id,
                   mobile=official.mobile if official else None, email=official.email if official else None,
                   subject=row.subject, body=row.body, kind=row.kind, problem_id=row.problem_id,
                   problem_code=row.problem.code if row.problem else None, payload=row.payload or {},
                   created_at=row.created_at)


class Unreachable(Exception):
    """The channel's server cannot take anything now (refused, timed out, 5xx): the row is
    retried with backoff, and the rest of this run leaves the channel alone."""


def deliver_pending(db, channels: NotificationSettings, now: datetime | None = None) -> Delivery:
    """Send every email and webhook row due by `now` (default: the engine's clock, read at each
    step); safe to run from several processes or hosts at once. `db` is an engine.db.Database."""
    moment = (lambda: now) if now is not None else clock.now
    done = Delivery()
    paused: set[Channel] = set()
    while (outgoing := claim(db, moment(), paused)) is not None:
        try:
            send(outgoing, channels, moment())
            error = None
        except Exception as exc:  # noqa: BLE001 - any failure of a send is retried, then recorded
            cause = exc.__cause__ if isinstance(exc, Unreachable) and exc.__cause__ else exc
            error = f"{type(cause).__name__}: {cause}"[:2000]
            if isinstance(exc, Unreachable):
                paused.add(outgoing.channel)
            log.warning("notification %s (%s) attempt %s failed: %s", outgoing.id, outgoing.channel.value,
                        outgoing.attempts, error)
        outcome = record(db, outgoing, moment(), error)
        if outcome is not None:
            setattr(done, outcome, getattr(done, outcome) + 1)
    return done


def claim(db, now: datetime, skip: Iterable[Channel] = ()) -> Outgoing | None:
    """Take the next due row for this sender: `sending` until now + LEASE, one attempt more."""
    with db.transaction() as session:
        due = select(Notification).where(
            Notification.status.in_((NotificationStatus.PENDING, NotificationStatus.SENDING)),
            Notification.next_attempt_at <= now)
        skip = list(skip)
        if skip:
            due = due.where(Notification.channel.not_in(skip))
        row = session.scalars(due.order_by(Notification.next_attempt_at, Notification.id).limit(1)
                              .with_for_update(skip_locked=True)).first()
        if row is None:
            return None
        # compare-and-set: on any database, only one sender moves the row from what it read
        taken = session.execute(
            update(Notification)
            .where(Notification.id == row.id, Notification.status == row.status,
                   Notification.attempts == row.attempts)
            .values(status=NotificationStatus.SENDING, attempts=row.attempts + 1, next_attempt_at=now + LEASE)
            .execution_options(synchronize_session=False)).rowcount
        if taken != 1:
            return None
        session.refresh(row)
        return Outgoing.of(row)


def record(db, outgoing: Outgoing, now: datetime, error: str | None) -> str | None:
    """The outcome of one attempt: "sent", "retrying" or "failed" (None when the lease ran out
    and another sender has taken the row over: its answer counts, not this one)."""
    with db.transaction() as session:
        row = session.get(Notification, outgoing.id, with_for_update=True)
        if row is None or row.status != NotificationStatus.SENDING or row.attempts != outgoing.attempts:
            return None
        if error is None:
            row.status, row.sent_at, row.next_attempt_at, row.last_error = NotificationStatus.SENT, now, None, None
            return "sent"
        row.last_error = error
        if row.attempts >= MAX_ATTEMPTS:
            row.status, row.next_attempt_at = NotificationStatus.FAILED, None
            return "failed"
        row.status, row.next_attempt_at = NotificationStatus.PENDING, now + BACKOFF[row.attempts - 1]
        return "retrying"


def send(outgoing: Outgoing, channels: NotificationSettings, now: datetime) -> None:
    if outgoing.channel == Channel.EMAIL:
        send_email(outgoing, channels, now)
    elif outgoing.channel == Channel.WEBHOOK:
        send_webhook(outgoing, channels)
    else:
        raise ValueError(f"nothing sends {outgoing.channel.value} notifications")


def email_message(outgoing: Outgoing, channels: NotificationSettings, now: datetime) -> EmailMessage:
    message = EmailMessage()  # the default policy: non-ASCII headers are RFC 2047 encoded
    message["Subject"] = outgoing.subject
    message["From"] = channels.mail_from
    message["To"] = Address(display_name=outgoing.name, addr_spec=outgoing.address)
    message["Date"] = format_datetime(now.astimezone(clock.SHANGHAI))
    message["Message-ID"] = make_msgid(f"duban.{outgoing.id}", channels.mail_from.rpartition("@")[2] or None)
    message.set_content(f"{outgoing.body}\n\n—— 督办系统（本邮件自动发送，请勿直接回复）\n", charset="utf-8")
    return message


_SMTP_UNREACHABLE = (smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected, smtplib.SMTPAuthenticationError,
                     smtplib.SMTPNotSupportedError)


def send_email(outgoing: Outgoing, channels: NotificationSettings, now: datetime) -> None:
    if not channels.email_enabled:
        raise Unreachable("SMTP is not configured (DUBAN_SMTP_HOST)")
    if not outgoing.address:
        raise ValueError("no email address")
    message = email_message(outgoing, channels, now)
    try:
        with smtplib.SMTP(channels.smtp_host, channels.smtp_port, timeout=TIMEOUT) as smtp:
            if channels.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if channels.smtp_user:
                smtp.login(channels.smtp_user, channels.smtp_password or "")
            smtp.send_message(message)
    except _SMTP_UNREACHABLE as error:
        raise Unreachable(str(error)) from error
    except smtplib.SMTPException:
        raise  # this message or recipient was refused: the others may still go
    except OSError as error:  # refused, reset, timed out, unknown host
        raise Unreachable(str(error)) from error


def webhook_document(outgoing: Outgoing) -> dict:
    """What the webhook receives: enough for an SMS or WeCom gateway to reach the person."""
    return {"id": outgoing.id, "kind": outgoing.kind, "subject": outgoing.subject, "body": outgoing.body,
            "problem_id": outgoing.problem_id, "problem_code": outgoing.problem_code,
            "recipient": {"name": outgoing.name, "mobile": outgoing.mobile, "email": outgoing.email,
                          "official_id": outgoing.official_id, "username": outgoing.username},
            "payload": outgoing.payload, "created_at": outgoing.created_at.isoformat(),
            "attempt": outgoing.attempts}


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: "sha256=" + the hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a delivery: urllib would follow a 302 with a GET and no body."""

    def redirect_request(self, *args, **kwargs):
        return None


_webhook_opener = urllib.request.build_opener(_NoRedirect)


def send_webhook(outgoing: Outgoing, channels: NotificationSettings) -> None:
    if not channels.webhook_enabled:
        raise Unreachable("no webhook is configured (DUBAN_WEBHOOK_URL)")
    if urllib.parse.urlsplit(channels.webhook_url).scheme not in ("http", "https"):
        raise Unreachable(f"the webhook URL must be http or https: {channels.webhook_url!r}")
    body = json.dumps(webhook_document(outgoing), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "duban-notifier",
               DELIVERY_HEADER: str(outgoing.id)}
    if channels.webhook_secret:
        headers[SIGNATURE_HEADER] = sign(channels.webhook_secret, body)
    request = urllib.request.Request(channels.webhook_url, data=body, method="POST", headers=headers)
    try:
        with _webhook_opener.open(request, timeout=TIMEOUT) as response:
            if not 200 <= response.status < 300:
                raise RuntimeError(f"the webhook answered {response.status}")
    except urllib.error.HTTPError as error:  # 3xx, 4xx and 5xx
        error.close()
        if error.code >= 500 or error.code == 429:
            raise Unreachable(f"the webhook answered {error.code}") from error
        raise RuntimeError(f"the webhook answered {error.code} {error.reason}") from None
    except OSError as error:  # URLError: refused, timed out, unknown host
        raise Unreachable(str(getattr(error, "reason", error))) from error
