from __future__ import annotations

from flask import request, session as cookie
from flask_babel import force_locale
from marshmallow import Schema, fields

from engine import notifications
from engine.models import Notification

from ..ui.layout import DEFAULT_LANGUAGE, LANGUAGES
from ..ui.notice_words import worded
from .common import BEARER, Blueprint, caller_id, duban, reply, reply_json
from .schemas import Page, PerPage

blp = Blueprint("notifications", __name__, url_prefix="/api", description="The caller's notifications (站内通知)")


class NotificationQuery(Schema):
    unread = fields.Boolean(load_default=False, metadata={"description": "only the unread ones"})
    page = Page()
    per_page = PerPage(20, 100)


class NotificationOut(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "escalation (督办通知), task_assigned (新待办), task_sent_back (退回), "
                                            "process_notice (a BPMN element's notify), extension_requested, "
                                            "organisation_gap (a rung held for want of a head)..."})
    subject = fields.Function(lambda n: worded(n)[0], metadata={"type": "string",
        "description": "in the caller's language (Accept-Language: zh-CN or en; Chinese by default)"})
    body = fields.Function(lambda n: worded(n)[1], metadata={"type": "string", "description": "in the caller's language"})
    problem_id = fields.Integer(allow_none=True)
    problem_code = fields.Function(lambda n: n.problem.code if n.problem else None)
    payload = fields.Raw()
    created_at = fields.AwareDateTime()
    read_at = fields.AwareDateTime(allow_none=True)
    unread = fields.Boolean()


class NotificationPage(Schema):
    items = fields.List(fields.Nested(NotificationOut))
    total = fields.Integer()
    unread = fields.Integer(metadata={"description": "all of the caller's unread notifications"})
    page = fields.Integer()
    per_page = fields.Integer()


def language() -> str:
    """The caller's language: the page's choice for a signed-in browser, else Accept-Language."""
    chosen = cookie.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return "en" if request.accept_languages.best_match(["zh-CN", "zh", "en"]) == "en" else DEFAULT_LANGUAGE


@blp.get("/notifications")
@blp.arguments(NotificationQuery, location="query")
@blp.response(200, NotificationPage)
@blp.doc(security=BEARER)
def list_notifications(query):
    """The caller's in-app notifications, newest first, with the number still unread."""
    app = duban()
    with app.db.reading() as session:
        viewer = app.actor(session, caller_id())
        found = notifications.inbox(session, viewer, unread_only=query["unread"], page=query["page"],
                                    per_page=query["per_page"])
        with force_locale(language()):
            return reply(NotificationPage(), {"items": found.items, "total": found.total, "unread": found.unread,
                                              "page": query["page"], "per_page": query["per_page"]})


@blp.post("/notifications/<int:notification_id>/read")
@blp.response(200, NotificationOut)
@blp.doc(security=BEARER)
def read_notification(notification_id: int):
    """Mark one of the caller's notifications read; someone else's is not found (404)."""
    return reply_json(duban().mark_notification_read(
        caller_id(), notification_id,
        answer=lambda session, marked: _dump(session.get(Notification, marked))))


def _dump(row: Notification) -> dict:
    with force_locale(language()):
        return NotificationOut().dump(row)
