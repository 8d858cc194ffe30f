from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine import notifications
from engine.models import Notification

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
                                            "process_notice (a BPMN element's notify), extension_requested..."})
    subject = fields.String()
    body = fields.String()
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
        return reply(NotificationPage(), {"items": found.items, "total": found.total, "unread": found.unread,
                                          "page": query["page"], "per_page": query["per_page"]})


@blp.post("/notifications/<int:notification_id>/read")
@blp.response(200, NotificationOut)
@blp.doc(security=BEARER)
def read_notification(notification_id: int):
    """Mark one of the caller's notifications read; someone else's is not found (404)."""
    return reply_json(duban().mark_notification_read(
        caller_id(), notification_id,
        answer=lambda session, marked: NotificationOut().dump(session.get(Notification, marked))))
