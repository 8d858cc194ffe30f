"""The security log (安全审计日志) for the audit administrator (审计管理员) alone: sign-ins,
lockouts, account and role changes, tokens, deployments, rule and calendar changes, exports
(engine/security_log.py); and the action log (操作日志: the ledger's entries, engine/action_log.py)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine import clock
from engine.action_log import Filter as ActionFilter
from engine.models import Role
from engine.security_log import RESULTS, Filter, Kind

from ..downloads import XLSX, attachment
from .common import BEARER, Blueprint, caller_id, duban, only, reply
from .schemas import Page, PageOf, PerPage

blp = Blueprint("security-events", __name__, url_prefix="/api",
                description="The security log (安全审计日志): the audit administrator's alone")
only(blp, Role.AUDIT_ADMIN, "security_event", "read the security log or the action log")


class SecurityFilterQuery(Schema):
    since = fields.AwareDateTime(default_timezone=clock.SHANGHAI,
                                 metadata={"description": "events at or after (ISO 8601; Beijing time when no zone)"})
    until = fields.AwareDateTime(default_timezone=clock.SHANGHAI, metadata={"description": "events before"})
    kind = fields.String(validate=validate.OneOf([k.value for k in Kind]))
    subject = fields.String(validate=validate.Length(min=1, max=100),
                            metadata={"description": "the user name acting (exactly)"})
    result = fields.String(validate=validate.OneOf(RESULTS))


class SecurityPageQuery(SecurityFilterQuery):
    page = Page()
    per_page = PerPage(50, 200)


class SecurityEventOut(Schema):
    id = fields.Integer(required=True)
    at = fields.AwareDateTime(required=True)
    kind = fields.String(required=True, metadata={"description": "sign_in, locked, role_granted, ..."})
    result = fields.String(required=True, metadata={"description": "success or failure"})
    subject_id = fields.Integer(allow_none=True, required=True, metadata={"description": "the account acting"})
    subject = fields.String(required=True, metadata={
        "description": "its user name; a name typed at a failed sign-in that no account has, by its digest"})
    object = fields.String(allow_none=True, required=True, metadata={"description": "what was acted on"})
    source = fields.String(allow_none=True, required=True, metadata={"description": "the client's address"})
    method = fields.String(allow_none=True, required=True)
    details = fields.Dict(required=True)
    request_id = fields.String(allow_none=True, required=True)
    hash = fields.String(required=True)


SecurityEventPage = PageOf(SecurityEventOut, "SecurityEventPage")


def _filter(query: dict) -> Filter:
    return Filter(since=query.get("since"), until=query.get("until"), kind=query.get("kind"),
                  subject=query.get("subject"), result=query.get("result"))


@blp.get("/security-events")
@blp.arguments(SecurityPageQuery, location="query")
@blp.response(200, SecurityEventPage)
@blp.doc(security=BEARER)
def list_security_events(query):
    """The security log, newest first, filtered by time, kind, subject and result (the audit
    administrator only)."""
    items, total = duban().security_events(caller_id(), _filter(query), query["page"], query["per_page"])
    return reply(SecurityEventPage(), {"items": items, "total": total, "page": query["page"],
                                       "per_page": query["per_page"]})


@blp.get("/security-events/export.xlsx")
@blp.arguments(SecurityFilterQuery, location="query")
@blp.doc(security=BEARER, responses={"200": {"description": "the security log", "content": {XLSX: {}}}})
def export_security_events(query):
    """The events the filters select as .xlsx, oldest first (the audit administrator only);
    the export is itself a security event."""
    content = duban().export_security_events(caller_id(), _filter(query))
    return attachment(content, f"安全审计日志-{clock.local_now():%Y%m%d}.xlsx", f"security-log-{clock.local_now():%Y%m%d}.xlsx")


class ActionFilterQuery(Schema):
    since = fields.AwareDateTime(default_timezone=clock.SHANGHAI,
                                 metadata={"description": "entries at or after (ISO 8601; Beijing time when no zone)"})
    until = fields.AwareDateTime(default_timezone=clock.SHANGHAI, metadata={"description": "entries before"})
    action = fields.String(validate=validate.Length(min=1, max=40),
                           metadata={"description": "the action, e.g. task.completed, user.updated, permission.denied"})
    actor = fields.String(validate=validate.Length(min=1, max=60), metadata={"description": "the actor's name (exactly)"})


class ActionPageQuery(ActionFilterQuery):
    page = Page()
    per_page = PerPage(50, 200)


class ActionEntryOut(Schema):
    id = fields.Integer(required=True)
    at = fields.AwareDateTime(required=True)
    action = fields.String(required=True)
    actor_id = fields.Integer(allow_none=True, required=True)
    actor_name = fields.String(required=True)
    subject_type = fields.String(required=True)
    subject_id = fields.String(allow_none=True, required=True)
    problem_id = fields.Integer(allow_none=True, required=True)
    payload = fields.Dict(required=True)
    request_id = fields.String(allow_none=True, required=True)
    hash = fields.String(required=True)


ActionEntryPage = PageOf(ActionEntryOut, "ActionEntryPage")


def _action_filter(query: dict) -> ActionFilter:
    return ActionFilter(since=query.get("since"), until=query.get("until"), action=query.get("action"),
                        actor=query.get("actor"))


@blp.get("/action-log")
@blp.arguments(ActionPageQuery, location="query")
@blp.response(200, ActionEntryPage)
@blp.doc(security=BEARER)
def list_action_log(query):
    """The action log (操作日志: the ledger's entries, every action and refusal), newest first,
    filtered by time, action and actor (the audit administrator only)."""
    items, total = duban().action_log(caller_id(), _action_filter(query), query["page"], query["per_page"])
    return reply(ActionEntryPage(), {"items": items, "total": total, "page": query["page"],
                                     "per_page": query["per_page"]})


@blp.get("/action-log/export.xlsx")
@blp.arguments(ActionFilterQuery, location="query")
@blp.doc(security=BEARER, responses={"200": {"description": "the action log", "content": {XLSX: {}}}})
def export_action_log(query):
    """The entries the filters select as .xlsx, oldest first, with each entry's hash (the audit
    administrator only); the export is a security event."""
    content = duban().export_action_log(caller_id(), _action_filter(query))
    return attachment(content, f"操作日志-{clock.local_now():%Y%m%d}.xlsx", f"action-log-{clock.local_now():%Y%m%d}.xlsx")
