"""Extension requests (延期申请): filed by a problem's chain before its deadline, decided by
the rectification office."""
from __future__ import annotations

from marshmallow import Schema, fields, validate
from sqlalchemy import select

from engine import extensions, problems
from engine.models import ExtensionRequest, ExtensionStatus, Problem

from .common import BEARER, Blueprint, caller_id, duban, reply_json, reply_page
from .schemas import PageOf, PageQuery

blp = Blueprint("extensions", __name__, url_prefix="/api", description="Extension requests (延期申请)")


class ExtensionIn(Schema):
    requested_deadline = fields.Date(required=True, metadata={"description": "the new deadline asked for"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class DecisionIn(Schema):
    note = fields.String(validate=validate.Length(max=1000), metadata={"description": "required when refusing"})
    approved_deadline = fields.Date(metadata={"description": "approve a different date than the one asked for"})


class ExtensionQuery(PageQuery):
    status = fields.String(validate=validate.OneOf([s.value for s in ExtensionStatus]))


class ExtensionOut(Schema):
    id = fields.Integer()
    problem_id = fields.Integer()
    problem_code = fields.Function(lambda r: r.problem.code)
    status = fields.Function(lambda r: r.status.value)
    status_label = fields.Function(lambda r: r.status.label)
    current_deadline = fields.Date()
    requested_deadline = fields.Date()
    approved_deadline = fields.Date(allow_none=True)
    reason = fields.String()
    requested_by = fields.Function(lambda r: r.requested_by.username)
    requested_at = fields.AwareDateTime()
    decided_by = fields.Function(lambda r: r.decided_by.username if r.decided_by else None)
    decided_at = fields.AwareDateTime(allow_none=True)
    decision_note = fields.String(allow_none=True)


ExtensionPage = PageOf(ExtensionOut, "ExtensionPage")


@blp.post("/problems/<int:problem_id>/extension-requests")
@blp.arguments(ExtensionIn)
@blp.response(201, ExtensionOut)
@blp.doc(security=BEARER)
def file_request(body, problem_id):
    """Ask for a later deadline (before the current one has passed); one pending request at a time."""
    answer = duban().request_extension(caller_id(), problem_id, extensions.NewRequest(**body),
                                       answer=lambda session, request_id: ExtensionOut().dump(
                                           extensions.get(session, request_id)))
    return reply_json(answer, 201)


@blp.get("/problems/<int:problem_id>/extension-requests")
@blp.arguments(PageQuery, location="query")
@blp.response(200, ExtensionPage)
@blp.doc(security=BEARER)
def problem_requests(query, problem_id):
    """The extension requests of one problem, oldest first, a page at a time."""
    app = duban()
    user_id = caller_id()
    with app.db.reading() as session:
        viewer = app.actor(session, user_id)
        problem = problems.get(session, problem_id)
        if problems.may_see(viewer, problem):
            statement = select(ExtensionRequest).where(ExtensionRequest.problem_id == problem_id).order_by(
                ExtensionRequest.id)
            return reply_page(ExtensionPage(), extensions.page(session, statement, query["page"],
                                                               query["per_page"]), query)
    app.deny(user_id, f"read the extension requests of problem {problem_id}", "problem", problem_id, problem_id)


@blp.get("/extension-requests")
@blp.arguments(ExtensionQuery, location="query")
@blp.response(200, ExtensionPage)
@blp.doc(security=BEARER)
def list_requests(query):
    """Extension requests, newest first, a page at a time (officials: those on their own problems)."""
    app = duban()
    with app.db.reading() as session:
        viewer = app.actor(session, caller_id())
        statement = select(ExtensionRequest).order_by(ExtensionRequest.requested_at.desc(), ExtensionRequest.id.desc())
        if "status" in query:
            statement = statement.where(ExtensionRequest.status == ExtensionStatus(query["status"]))
        if (visible := problems.visible_to(viewer)) is not None:
            statement = statement.join(Problem).where(visible)
        return reply_page(ExtensionPage(), extensions.page(session, statement, query["page"], query["per_page"]),
                          query)


def _decided(session, request_id: int) -> dict:
    """The answer to a decision, built in its transaction."""
    return ExtensionOut().dump(extensions.get(session, request_id))


@blp.post("/extension-requests/<int:request_id>/approve")
@blp.arguments(DecisionIn)
@blp.response(200, ExtensionOut)
@blp.doc(security=BEARER)
def approve(body, request_id):
    """Approve (环督办): the problem's deadline moves, the ladder counts from the new one."""
    return reply_json(duban().decide_extension(caller_id(), request_id, True, body.get("note"),
                                               body.get("approved_deadline"), answer=_decided))


@blp.post("/extension-requests/<int:request_id>/refuse")
@blp.arguments(DecisionIn)
@blp.response(200, ExtensionOut)
@blp.doc(security=BEARER)
def refuse(body, request_id):
    """Refuse (环督办), with the reason in `note`."""
    return reply_json(duban().decide_extension(caller_id(), request_id, False, body.get("note"), answer=_decided))
