from __future__ import annotations

from flask import request
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from engine import problems
from engine.errors import Invalid
from engine.models import Escalation, Problem

from .common import BEARER, Blueprint, caller_id, duban, reply
from .schemas import Id, Page, PerPage

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


class EscalationPage(Schema):
    items = fields.List(fields.Nested(EscalationOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class ForecastQuery(Schema):
    days = fields.Integer(load_default=10, validate=validate.Range(min=1, max=60),
                          metadata={"description": "working days ahead"})


class ForecastOut(Schema):
    problem_code = fields.String()
    level = fields.Integer()
    name = fields.String(attribute="rule_name")
    due_at = fields.AwareDateTime()
    targets = fields.List(fields.Nested(Target))


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
@blp.response(200, ForecastOut(many=True))
@blp.doc(security=BEARER)
def forecast(query):
    """What the deadlines will fire in the next `days` working days (admins and the discipline office)."""
    app = duban()
    user_id = caller_id()
    with app.db.reading() as session:
        allowed = app.actor(session, user_id).reads_everything
    if not allowed:
        app.deny(user_id, "read the escalation forecast", "escalation", None)
    return reply(ForecastOut(many=True), app.forecast(query["days"]))


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
