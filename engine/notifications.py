"""Notifications (通知): written to the outbox in the caller's transaction, sent afterwards.

`notify` writes one row per recipient and channel inside the transaction of the event it
announces (an escalation, a new task), so the event and its notices commit together or not
at all: in-app for every recipient with an account, email where the official has an address
and SMTP is configured, and a webhook row per recipient where a webhook URL is configured.

`deliver_pending` is the sender. It claims one due row at a time in a short transaction
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on SQLite), marking it `sending` with
a lease, sends it with no transaction open, and records the outcome in a second short
transaction: `sent`, or back to `pending` after a backoff of 1, 2, 4, 8 and 16 minutes, or
`failed` after the last attempt. Two senders never send the same row; a sender that dies
mid-send leaves the row to be retried once its lease runs out.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import clock
from .errors import NotFound
from .models import Channel, HumanTask, Notification, NotificationStatus, Official, User
from .settings import NotificationSettings

log = logging.getLogger("duban.notifications")

BACKOFF = [timedelta(minutes=m) for m in (1, 2, 4, 8, 16)]
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(minutes=10)  # a claimed row waits this long for its sender before another may retry it
TIMEOUT = 10  # seconds, for SMTP and the webhook
SIGNATURE_HEADER = "X-Duban-Signature"  # "sha256=" + HMAC-SHA256 of the body with DUBAN_WEBHOOK_SECRET
DELIVERY_HEADER = "X-Duban-Delivery"    # the notification id: a gateway can drop a repeat


# -- writing: in the caller's transaction -------------------------------------------------------

def notify(session: Session, *, officials: Iterable[Official | int] = (), users: Iterable[User | int] = (),
           subject: str, body: str, kind: str, problem_id: int | None = None, payload: dict | None = None,
           channels: NotificationSettings | None = None) -> list[Notification]:
    """Write the notices for these recipients in the caller's transaction; the rows written.

    Officials and users may be given as rows or ids; an official with an account and that
    account are one recipient. `channels` defaults to the environment (DUBAN_SMTP_HOST,
    DUBAN_WEBHOOK_URL...), as `Settings.from_env` reads it."""
    channels = channels or NotificationSettings.from_env()
    now = clock.now()
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
                address=address, problem_id=problem_id, subject=subject[:200], body=body, payload=payload or {},
                created_at=now, attempts=0, next_attempt_at=None if inapp else now, sent_at=now if inapp else None))
    session.add_all(rows)
    session.flush()
    return rows


def task_assigned(session: Session, task: HumanTask) -> list[Notification]:
    """Tell a new task's assignee about it (a task offered to a unit or a role has no one to tell)."""
    if task.assignee_id is None:
        return []
    problem = task.problem
    when = f"，请于{beijing(task.due_at)}（北京时间）前办理。" if task.due_at else "，请及时办理。"
    return notify(session, users=[task.assignee_id], subject=f"新待办：{task.name}",
                  body=f"问题 {problem.code}「{problem.title}」有一项新的待办「{task.name}」{when}",
                  kind="task_assigned", problem_id=problem.id,
                  payload={"task_id": task.id, "element": task.element_id,
                           "due_at": task.due_at.isoformat() if task.due_at else None})


def beijing(moment: datetime) -> str:
    """2026年3月9日 17:30, in Beijing time."""
    local = moment.astimezone(clock.SHANGHAI)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def _recipients(session: Session, officials, users) -> list[tuple[Official | None, User | None]]:
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
    return list(found.values())


# -- the in-app list ----------------------------------------------------------------------------

@dataclass
class Inbox:
    items: list[Notification]
    total: int
    unread: int


def inbox(session: Session, user: User, *, unread_only: bool = False, page: int = 1, per_page: int = 20) -> Inbox:
    """The user's in-app notifications, newest first, and how many are unread."""
    mine = select(Notification).where(Notification.user_id == user.id, Notification.channel == Channel.INAPP)
    unread = session.scalar(select(func.count()).select_from(
        mine.where(Notification.read_at.is_(None)).subquery()))
    if unread_only:
        mine = mine.where(Notification.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(mine.subquery()))
    items = session.scalars(mine.order_by(Notification.created_at.desc(), Notification.id.desc())
                            .offset((page - 1) * per_page).limit(per_page)).all()
    return Inbox(list(items), total, unread)


def own(session: Session, user: User, notification_id: int) -> Notification:
    """One of the user's in-app notifications; anyone else's is not found."""
    row = session.get(Notification, notification_id)
    if row is None or row.user_id != user.id or row.channel != Channel.INAPP:
        raise NotFound(f"no notification with id {notification_id}")
    return row


def mark_read(session: Session, user: User, notification_id: int) -> Notification:
    """Mark one of the user's own in-app notifications read (again is harmless)."""
    row = own(session, user, notification_id)
    if row.read_at is None:
        row.read_at = clock.now()
    return row


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
class _Outgoing:
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
    def of(cls, row: Notification) -> "_Outgoing":
        official, user = row.official, row.user
        return cls(id=row.id, channel=row.channel, attempts=row.attempts, address=row.address,
                   name=official.name if official else (user.display_name if user else ""),
                   username=user.username if user else None, official_id=row.official_id,
                   mobile=official.mobile if official else None, email=official.email if official else None,
                   subject=row.subject, body=row.body, kind=row.kind, problem_id=row.problem_id,
                   problem_code=row.problem.code if row.problem else None, payload=row.payload or {},
                   created_at=row.created_at)


def deliver_pending(duban_or_db, settings, now: datetime | None = None) -> Delivery:
    """Send every email and webhook row due by `now` (default: the engine's clock, read at each
    step); safe to run from several processes or hosts at once. `settings` is a Settings or a
    NotificationSettings."""
    db = getattr(duban_or_db, "db", duban_or_db)
    channels: NotificationSettings = getattr(settings, "notifications", settings)
    moment = (lambda: now) if now is not None else clock.now
    done = Delivery()
    while (outgoing := _claim(db, moment())) is not None:
        try:
            _send(outgoing, channels, moment())
            error = None
        except Exception as exc:  # noqa: BLE001 - any failure of a send is retried, then recorded
            error = f"{type(exc).__name__}: {exc}"[:2000]
            log.warning("notification %s (%s) attempt %s failed: %s", outgoing.id, outgoing.channel.value,
                        outgoing.attempts, error)
        outcome = _record(db, outgoing, moment(), error)
        if outcome is not None:
            setattr(done, outcome, getattr(done, outcome) + 1)
    return done


def _claim(db, now: datetime) -> _Outgoing | None:
    with db.transaction() as session:
        row = session.scalars(
            select(Notification)
            .where(Notification.status.in_((NotificationStatus.PENDING, NotificationStatus.SENDING)),
                   Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at, Notification.id).limit(1)
            .with_for_update(skip_locked=True)).first()
        if row is None:
            return None
        row.status, row.attempts, row.next_attempt_at = NotificationStatus.SENDING, row.attempts + 1, now + LEASE
        return _Outgoing.of(row)


def _record(db, outgoing: _Outgoing, now: datetime, error: str | None) -> str | None:
    with db.transaction() as session:
        row = session.get(Notification, outgoing.id, with_for_update=True)
        if row is None or row.status != NotificationStatus.SENDING or row.attempts != outgoing.attempts:
            return None  # the lease ran out and another sender took the row over
        if error is None:
            row.status, row.sent_at, row.next_attempt_at = NotificationStatus.SENT, now, None
            return "sent"
        row.last_error = error
        if row.attempts >= MAX_ATTEMPTS:
            row.status, row.next_attempt_at = NotificationStatus.FAILED, None
            return "failed"
        row.status, row.next_attempt_at = NotificationStatus.PENDING, now + BACKOFF[row.attempts - 1]
        return "retrying"


def _send(outgoing: _Outgoing, channels: NotificationSettings, now: datetime) -> None:
    if outgoing.channel == Channel.EMAIL:
        send_email(outgoing, channels, now)
    elif outgoing.channel == Channel.WEBHOOK:
        send_webhook(outgoing, channels)
    else:
        raise ValueError(f"nothing sends {outgoing.channel.value} notifications")


def send_email(outgoing: _Outgoing, channels: NotificationSettings, now: datetime) -> None:
    if not channels.email_enabled:
        raise RuntimeError("SMTP is not configured (DUBAN_SMTP_HOST)")
    if not outgoing.address:
        raise ValueError("no email address")
    message = EmailMessage()
    message["Subject"] = outgoing.subject
    message["From"] = channels.mail_from
    message["To"] = Address(display_name=outgoing.name, addr_spec=outgoing.address)
    message["Date"] = format_datetime(now.astimezone(clock.SHANGHAI))
    message["Message-ID"] = make_msgid(f"duban.{outgoing.id}", channels.mail_from.rpartition("@")[2] or None)
    message.set_content(outgoing.body, charset="utf-8")
    with smtplib.SMTP(channels.smtp_host, channels.smtp_port, timeout=TIMEOUT) as smtp:
        if channels.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if channels.smtp_user:
            smtp.login(channels.smtp_user, channels.smtp_password or "")
        smtp.send_message(message)


def webhook_document(outgoing: _Outgoing) -> dict:
    """What the webhook receives: enough for an SMS or WeCom gateway to reach the person."""
    return {"id": outgoing.id, "kind": outgoing.kind, "subject": outgoing.subject, "body": outgoing.body,
            "problem_id": outgoing.problem_id, "problem_code": outgoing.problem_code,
            "recipient": {"name": outgoing.name, "mobile": outgoing.mobile, "email": outgoing.email,
                          "official_id": outgoing.official_id, "username": outgoing.username},
            "payload": outgoing.payload, "created_at": outgoing.created_at.isoformat()}


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(outgoing: _Outgoing, channels: NotificationSettings) -> None:
    if not channels.webhook_enabled:
        raise RuntimeError("no webhook is configured (DUBAN_WEBHOOK_URL)")
    body = json.dumps(webhook_document(outgoing), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "duban-notifier",
               DELIVERY_HEADER: str(outgoing.id)}
    if channels.webhook_secret:
        headers[SIGNATURE_HEADER] = sign(channels.webhook_secret, body)
    request = urllib.request.Request(channels.webhook_url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # 4xx and 5xx raise HTTPError
        if not 200 <= response.status < 300:
            raise RuntimeError(f"the webhook answered {response.status}")
