from __future__ import annotations

from flask import request
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from engine import problems
from engine.errors import Invalid
from engine.escalation import gaps
from engine.models import Escalation, Problem

from .common import BEARER, Blueprint, caller_id, duban, reply, reply_page
from .schemas import Id, Page, PageOf, PageQuery, PerPage

blp = Blueprint("escalations", __name__, url_prefix="/api", description="The escalation ladder (督办 → 问责)")


class EscalationQuery(Schema):
    level = fields.Integer(validate=validate.Range(min=1, max=9))
    problem = Id()
    rule = fields.String(validate=validate.Length(max=40))
    since = fields.AwareDateTime(metadata={"description": "fired at or after (ISO 8601 with zone)"})
    until = fields.AwareDateTime()
    page = Page()
    per_page = PerPage(50, 200)


class Target(Schema):
    official_id = fields.Integer()
    name = fields.String()
    title = fields.String(allow_none=True)
    role = fields.String()
    side = fields.String(metadata={"description": "party, government (党政同责: heads come in pairs), both "
                                                     "(one person holds both head posts) or person"})
    of = fields.String(allow_none=True)


class PassedOverOut(Schema):
    level = fields.Integer()
    rule = fields.String(attribute="rule_code")
    name = fields.String(attribute="rule_name")
    due_at = fields.AwareDateTime(metadata={"description": "when the rung fell due, before the problem entered the ladder"})


class PlannedPassedOverOut(Schema):
    level = fields.Integer()
    rule = fields.String()
    name = fields.String()
    due_at = fields.AwareDateTime()


class EscalationOut(Schema):
    id = fields.Integer()
    problem_id = fields.Integer()
    problem_code = fields.Function(lambda e: e.problem.code)
    level = fields.Integer()
    rule = fields.String(attribute="rule_code")
    name = fields.String(attribute="rule_name")
    rule_version = fields.Integer()
    trigger = fields.Raw()
    deadline = fields.Date(allow_none=True)
    due_at = fields.AwareDateTime()
    fired_at = fields.AwareDateTime()
    targets = fields.List(fields.Nested(Target))
    action = fields.Raw()
    instance_ids = fields.List(fields.Integer())
    note = fields.String(allow_none=True)
    held_since = fields.AwareDateTime(allow_none=True, metadata={
        "description": "held as an organisation gap from this moment until fired_at (党政同责); null if never held"})
    passed_over = fields.List(fields.Nested(PassedOverOut), metadata={
        "description": "the rungs this firing entered the ladder in place of (due before the problem's ladder_from, "
                       "e.g. an old ledger's row): not fired, not counted as repeats"})


class EscalationPage(Schema):
    items = fields.List(fields.Nested(EscalationOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class ForecastQuery(PageQuery):
    days = fields.Integer(load_default=10, validate=validate.Range(min=1, max=60),
                          metadata={"description": "working days ahead"})


class MissingHead(Schema):
    target = fields.String(metadata={"description": "the rule's target naming this level (e.g. region_heads)"})
    where = fields.String(metadata={"description": "region or unit"})
    id = fields.Integer(metadata={"description": "the region's or the unit's id"})
    name = fields.String()
    side = fields.String(metadata={"description": "the vacant head post: party (书记) or government (行政主要负责人)"})


class ForecastOut(Schema):
    problem_code = fields.String()
    level = fields.Integer()
    name = fields.String(attribute="rule_name")
    due_at = fields.AwareDateTime()
    targets = fields.List(fields.Nested(Target))
    passed_over = fields.List(fields.Nested(PlannedPassedOverOut), metadata={
        "description": "the rungs the problem will pass over, entering the ladder at this one (at its grace date)"})
    held = fields.Boolean(metadata={
        "description": "true when, as the organisation stands now, this firing will be held as an organisation gap "
                       "(党政同责: a region or unit it targets lacks its Party or government head)"})
    missing = fields.List(fields.Nested(MissingHead), metadata={
        "description": "the vacant head posts that will hold it, as the sweep decides a hold; empty when it will fire"})


class GapQuery(PageQuery):
    state = fields.String(load_default="open", validate=validate.OneOf(("open", "resolved", "all")),
                          metadata={"description": "open (holding a rung), resolved (fired since), all"})


class GapOut(Schema):
    id = fields.Integer()
    key = fields.String(metadata={"description": "the firing key of the held rung"})
    problem_id = fields.Integer()
    problem_code = fields.Function(lambda g: g.problem.code)
    level = fields.Integer()
    rule = fields.String(attribute="rule_code")
    name = fields.String(attribute="rule_name")
    missing = fields.List(fields.Nested(MissingHead))
    since = fields.AwareDateTime()
    checked_at = fields.AwareDateTime()
    resolved_at = fields.AwareDateTime(allow_none=True)
    escalation_id = fields.Integer(allow_none=True)


ForecastPage = PageOf(ForecastOut, "ForecastPage")
GapPage = PageOf(GapOut, "GapPage")


class RulesOut(Schema):
    version = fields.Integer()
    rules = fields.Raw()


@blp.get("/escalations")
@blp.arguments(EscalationQuery, location="query")
@blp.response(200, EscalationPage)
@blp.doc(security=BEARER)
def list_escalations(query):
    """Firings of the ladder, newest first; officials see those on their own problems."""
    app = duban()
    with app.db.reading() as session:
        viewer = app.actor(session, caller_id())
        statement = select(Escalation)
        if (visible := problems.visible_to(viewer)) is not None:
            statement = statement.join(Problem).where(visible)
        for name, column in (("level", Escalation.level), ("problem", Escalation.problem_id),
                             ("rule", Escalation.rule_code)):
            if name in query:
                statement = statement.where(column == query[name])
        if "since" in query:
            statement = statement.where(Escalation.fired_at >= query["since"])
        if "until" in query:
            statement = statement.where(Escalation.fired_at <= query["until"])
        total = session.scalar(select(func.count()).select_from(statement.subquery()))
        items = session.scalars(statement.order_by(Escalation.fired_at.desc(), Escalation.id.desc())
                                .offset((query["page"] - 1) * query["per_page"]).limit(query["per_page"])).all()
        return reply(EscalationPage(), {"items": items, "total": total, "page": query["page"],
                                        "per_page": query["per_page"]})


@blp.get("/escalations/forecast")
@blp.arguments(ForecastQuery, location="query")
@blp.response(200, ForecastPage)
@blp.doc(security=BEARER)
def forecast(query):
    """What the deadlines will fire in the next `days` working days, soonest first, a page at a
    time (admins and the discipline office)."""
    app = duban()
    user_id = caller_id()
    with app.db.reading() as session:
        allowed = app.actor(session, user_id).reads_everything
    if not allowed:
        app.deny(user_id, "read the escalation forecast", "escalation", None)
    return reply_page(ForecastPage(), app.forecast_page(query["days"], query["page"], query["per_page"]), query)


@blp.get("/organisation-gaps")
@blp.arguments(GapQuery, location="query")
@blp.response(200, GapPage)
@blp.doc(security=BEARER)
def list_gaps(query):
    """Rungs held for want of a Party or government head (组织缺口, 党政同责), oldest first, a
    page at a time (环督办 and the discipline office)."""
    app = duban()
    user_id = caller_id()
    with app.db.reading() as session:
        if app.actor(session, user_id).reads_everything:
            return reply_page(GapPage(), gaps.page(session, query["state"], query["page"], query["per_page"]), query)
    app.deny(user_id, "read the organisation gaps", "organisation_gap", None)


@blp.get("/escalation-rules")
@blp.response(200, RulesOut)
@blp.doc(security=BEARER)
def get_rules():
    """The ladder in force and its version."""
    caller_id()
    return reply(RulesOut(), duban().escalation_rules())


@blp.put("/escalation-rules")
@blp.response(200, RulesOut)
@blp.doc(security=BEARER, requestBody={"content": {"application/json": {"schema": {
    "type": "object", "properties": {"rules": {"type": "array", "items": {"type": "object"}},
                                     "note": {"type": "string"}}, "required": ["rules"]}}}})
def put_rules():
    """Replace the ladder (环督办): stored as a new version; later firings record it."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("send the rules as a JSON object {\"rules\": [...]}", {"rules": ["Missing data for required field."]})
    return reply(RulesOut(), duban().replace_escalation_rules(caller_id(), body))
