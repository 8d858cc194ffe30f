"""通知: the bell with the unread count in the top bar, the page of the user's notices (filters
in the address, mark one or all read), and the 待办 panel that puts a user's ready tasks at the
top of their home page."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from flask import Flask, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy.orm import joinedload

from engine import clock, notifications, paging, tasks
from engine.models import HumanTask
from .layout import current_user, duban, page_blueprint, page_number
from .notice_words import worded

bp = page_blueprint("notices", __name__)
# the bell's own blueprint: its polling must not be redirected to the sign-in page (htmx would
# put that page into the top bar) once the session has ended
bell_bp = page_blueprint("bell", __name__, public=True)

PER_PAGE = 20
PANEL_SIZE = 5
SHOWS = ("all", "unread")
KIND_PATTERN = re.compile(r"[a-z_]{1,40}")
KIND_LABELS = {"task_assigned": _l("新待办"), "task_sent_back": _l("退回"), "escalation": _l("督办"),
               "process_notice": _l("流程通知"), "extension_requested": _l("延期申请"),
               "extension_decided": _l("延期审批结果"), "organisation_gap": _l("组织缺口")}


def kind_label(kind: str) -> str:
    return str(KIND_LABELS[kind]) if kind in KIND_LABELS else kind


def _filters() -> dict:
    """The list's filters from the address: show (all, unread), kind, since and until (dates,
    Beijing time, both included); a 400 page naming the argument at fault."""
    show = request.args.get("show", "").strip() or "all"
    if show not in SHOWS:
        abort(400, _("参数 show 无效：应为 all 或 unread。"))
    kind = request.args.get("kind", "").strip()
    if kind and not KIND_PATTERN.fullmatch(kind):
        abort(400, _("参数 kind 无效：应为通知类别的代码。"))
    given = {"show": show, "kind": kind, "since": _day("since"), "until": _day("until")}
    if given["since"] and given["until"] and given["until"] < given["since"]:
        abort(400, _("参数 until 无效：截止日期早于起始日期。"))
    return given


def _day(name: str) -> date | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    abort(400, _("参数 %(name)s 无效：应为日期，如 2026-03-09。", name=name))


def _moment(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(0), clock.SHANGHAI)


def _address_args(given: dict) -> dict:
    """The filters as they go back into the address (the defaults left out)."""
    args = {"show": given["show"] if given["show"] != "all" else None, "kind": given["kind"] or None,
            "since": given["since"].isoformat() if given["since"] else None,
            "until": given["until"].isoformat() if given["until"] else None}
    return {key: value for key, value in args.items() if value}


def _list_context(given: dict, number: int) -> dict:
    app, user = duban(), current_user()
    with app.db.reading() as db:
        viewer = app.actor(db, user.id)
        found = notifications.inbox(
            db, viewer, unread_only=given["show"] == "unread", kind=given["kind"] or None, page=number,
            per_page=PER_PAGE, since=_moment(given["since"]),
            until=_moment(given["until"] + timedelta(days=1)) if given["until"] else None)
        leads = notifications.destinations(db, found.items)
        rows = [_row(item, leads[item.id]) for item in found.items]
        kinds = notifications.kinds(db, viewer)
    args = _address_args(given)
    return {"rows": rows, "total": found.total, "unread": found.unread, "page": number, "per_page": PER_PAGE,
            "given": given, "args": args, "kinds": kinds, "kind_label": kind_label,
            "here": url_for("notices.notice_list", page=number if number > 1 else None, **args)}


def _row(item, lead: notifications.Destination) -> dict:
    if lead.task_id is not None:
        link, link_label = url_for("inbox.task_page", task_id=lead.task_id), _("办理任务")
    elif lead.problem_id is not None:
        link, link_label = url_for("ledger.problem_page", problem_id=lead.problem_id), _("查看问题")
    else:
        link, link_label = None, None
    subject, body = worded(item, marked=True)
    # a notice without codes (older, or a process author's own words) shows its stored Chinese
    return {"id": item.id, "kind": item.kind, "subject": subject, "body": body,
            "stored_subject": not isinstance(subject, Markup), "stored_body": not isinstance(body, Markup),
            "created_at": item.created_at, "read": item.read_at is not None, "link": link, "link_label": link_label,
            "problem_code": item.problem.code if item.problem else None}


@bp.get("/notifications")
def notice_list():
    given, number = _filters(), page_number()
    context = _list_context(given, number)
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "notice-list":
        response = make_response(render_template("notices/_notice_list.html", **context))
        response.headers["HX-Push-Url"] = context["here"]  # the address without the empty filters
        return response
    return render_template("notices/notice_list.html", **context)


@bell_bp.get("/notifications/bell")
def bell():
    """The bell alone, for the top bar's polling (one COUNT on an index); 204, nothing to
    swap, once nobody is signed in."""
    if current_user() is None:
        return "", 204
    return render_template("notices/_bell.html", unread=_unread())


def _unread() -> int:
    user = current_user()
    if user is None:
        return 0
    with duban().db.reading() as db:
        return notifications.unread_count(db, user.id)


@bp.post("/notifications/<int:notification_id>/read")
def mark_read(notification_id: int):
    """Mark one notice read. The form's address carries the list's filters: htmx gets the row
    again and the bell (out of band), a plain form goes back to that list."""
    given, number = _filters(), page_number()
    duban().mark_notification_read(current_user().id, notification_id)
    if request.headers.get("HX-Request"):
        with duban().db.reading() as db:
            item = notifications.own(db, duban().actor(db, current_user().id), notification_id)
            row = _row(item, notifications.destinations(db, [item])[item.id])
        return render_template("notices/_marked.html", row=row, unread=_unread(), kind_label=kind_label,
                               args=_address_args(given), page=number)
    return redirect(url_for("notices.notice_list", page=number if number > 1 else None, **_address_args(given)))


@bp.post("/notifications/read-all")
def mark_all_read():
    """Mark every unread notice read: htmx gets the list again (its filters kept) and the bell."""
    given, number = _filters(), page_number()
    count = duban().mark_all_notifications_read(current_user().id)
    if request.headers.get("HX-Request"):
        return render_template("notices/_notice_list.html", oob_bell=True, **_list_context(given, number))
    flash(_("已将 %(count)s 条通知标为已读。", count=count))
    return redirect(url_for("notices.notice_list", page=number if number > 1 else None, **_address_args(given)))


def ready_panel() -> dict | None:
    """The signed-in user's ready tasks for the 待办 panel of a home page: the first few,
    soonest due first, and how many there are; None when there are none."""
    user = current_user()
    if user is None:
        return None
    app = duban()
    with app.db.reading() as db:
        viewer = app.actor(db, user.id)
        found, total = paging.page(db, tasks.query(viewer), 1, PANEL_SIZE, joinedload(HumanTask.problem))
        if not total:
            return None
        rows = [{"id": t.id, "name": t.name, "due_at": t.due_at, "light": t.light, "problem_code": t.problem.code,
                 "problem_title": t.problem.title} for t in found]
    return {"rows": rows, "total": total}


def install(app: Flask) -> None:
    """What base.html and the home pages call: the unread count (only when a page draws its
    top bar) and the 待办 panel."""
    app.add_template_global(_unread, "unread_notices")
    app.add_template_global(ready_panel, "ready_panel")
