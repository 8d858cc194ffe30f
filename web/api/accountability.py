"""Accountability (问责): the cases the discipline office runs and each official's record.

There is no path that changes or deletes a decision: the record is lifelong (终身追究).
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine import accountability, clock
from engine.escalation.accountability import fitting_forms
from engine.models import InstanceStatus, Role

from .common import BEARER, Blueprint, caller_id, duban, reply
from .schemas import Id, Page, PerPage

blp = Blueprint("accountability", __name__, url_prefix="/api",
                description="Accountability cases (问责) and officials' accountability records")


class CaseQuery(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in InstanceStatus]),
                           metadata={"description": "running, completed or error"})
    official = Id(metadata={"description": "the official the case is about (问责对象)"})
    problem = Id()
    page = Page()
    per_page = PerPage(50, 200)


class OfficialBrief(Schema):
    id = fields.Integer()
    name = fields.String()
    party_member = fields.Boolean()
    posts = fields.Function(lambda o: [{"unit": p.unit.name, "title": p.title, "kind": p.kind.value,
                                        "is_head": p.is_head} for p in sorted(o.posts, key=lambda p: p.id)])


class RevisionOut(Schema):
    id = fields.Integer()
    outcome = fields.Function(lambda r: r.outcome.value,
                              metadata={"description": "upheld (维持原决定), revoked (撤销) or changed (变更)"})
    outcome_label = fields.Function(lambda r: r.outcome.label)
    replacement_id = fields.Integer(allow_none=True, metadata={"description": "changed: the new, lighter decision"})
    appealed_at = fields.AwareDateTime(allow_none=True, metadata={"description": "when the official appealed (申诉)"})
    appeal_reason = fields.String(allow_none=True, metadata={"description": "the official's grounds (申诉理由)"})
    decision_no = fields.String(allow_none=True, metadata={"description": "申诉处理决定文号"})
    decision_date = fields.Date(metadata={"description": "a revocation or change takes effect on this day"})
    decided_at = fields.AwareDateTime()
    decided_by = fields.Function(lambda r: r.decided_by.username if r.decided_by else None)
    reason = fields.String(allow_none=True, metadata={"description": "复查意见"})
    task_id = fields.Integer(attribute="human_task_id")


class DecisionOut(Schema):
    id = fields.Integer()
    official_id = fields.Integer()
    problem_id = fields.Integer()
    problem_code = fields.Function(lambda d: d.problem.code)
    escalation_id = fields.Integer(allow_none=True)
    case_id = fields.Integer(attribute="process_instance_id")
    task_id = fields.Integer(attribute="human_task_id")
    category = fields.Function(lambda d: d.category.value)
    category_label = fields.Function(lambda d: d.category.label)
    form = fields.String()
    form_label = fields.String()
    decision_no = fields.String(allow_none=True)
    decision_date = fields.Date()
    decided_at = fields.AwareDateTime()
    decided_by = fields.Function(lambda d: d.decided_by.username if d.decided_by else None)
    basis = fields.String(allow_none=True)
    influence_months = fields.Integer(metadata={"description": "影响期 in months; 0: no fixed period"})
    influence_until = fields.Date(allow_none=True, metadata={"description": "the first day after the period"})
    in_force = fields.Function(lambda d: d.in_force(clock.today()),
                               metadata={"description": "the period still runs at the engine's clock"})
    ended_on = fields.Date(allow_none=True, metadata={"description": "the day an appeal revoked or changed it: "
                                                                     "its period no longer runs from then"})
    replaces = fields.Function(lambda d: [r.decision_id for r in d.changed_from],
                               metadata={"description": "ids of the decisions an appeal changed into this one"})
    revisions = fields.List(fields.Nested(RevisionOut),
                            metadata={"description": "what reviews of appeals (申诉复查) decided about it, oldest "
                                                     "first; the decision itself is never changed"})


class OpenTask(Schema):
    id = fields.Integer()
    element_id = fields.String()
    name = fields.String()
    due_at = fields.AwareDateTime(allow_none=True)


class SubjectOut(Schema):
    official_id = fields.Integer()
    name = fields.String()
    post = fields.String(allow_none=True, metadata={"description": "the post the firing named them in, e.g. 县委书记"})
    label = fields.String(metadata={"description": "name（post）, as the pages show it"})


class FiringOut(Schema):
    id = fields.Integer()
    level = fields.Integer()
    rule_code = fields.String()
    rule_name = fields.String()
    fired_at = fields.AwareDateTime()
    trigger = fields.Dict(metadata={"description": "why it fired: kind (overdue, event, repeat, before_deadline) "
                                                  "and its parameters"})


class CaseOut(Schema):
    id = fields.Integer(attribute="instance.id")
    problem = fields.Function(lambda c: {"id": c.instance.problem.id, "code": c.instance.problem.code,
                                         "title": c.instance.problem.title})
    official = fields.Nested(OfficialBrief, allow_none=True)
    subject = fields.Nested(SubjectOut, allow_none=True,
                            metadata={"description": "the official the case is about (问责对象) with their post"})
    firing = fields.Nested(FiringOut, attribute="escalation", allow_none=True,
                           metadata={"description": "the firing of the ladder that opened the case; the cases one "
                                                    "firing opened (one per official, 党政同责) share it and are "
                                                    "listed one after another"})
    escalation_id = fields.Integer(attribute="instance.escalation_id", allow_none=True)
    status = fields.Function(lambda c: c.instance.status.value)
    version = fields.Integer(attribute="instance.definition.version")
    started_at = fields.AwareDateTime(attribute="instance.started_at")
    ended_at = fields.AwareDateTime(attribute="instance.ended_at", allow_none=True)
    open_tasks = fields.List(fields.Nested(OpenTask))
    decisions = fields.List(fields.Nested(DecisionOut))


class CasePage(Schema):
    items = fields.List(fields.Nested(CaseOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class RecordOut(Schema):
    official = fields.Nested(OfficialBrief)
    as_of = fields.Date(attribute="today", metadata={"description": "the engine's date the periods are read at"})
    decisions = fields.List(fields.Nested(DecisionOut))
    in_force = fields.Function(lambda r: [d.id for d in r.in_force],
                               metadata={"description": "ids of the decisions whose influence period still runs"})
    allowed_party_forms = fields.Function(lambda r: fitting_forms(r.official)[0])
    allowed_government_forms = fields.Function(lambda r: fitting_forms(r.official)[1])


@blp.get("/accountability-cases")
@blp.arguments(CaseQuery, location="query")
@blp.response(200, CasePage)
@blp.doc(security=BEARER)
def list_cases(query):
    """Accountability cases, newest first, with the official, the problem, where each stands
    and the decisions recorded (the discipline office and administrators)."""
    app, user_id = duban(), caller_id()
    with app.db.reading() as session:
        viewer = app.actor(session, user_id)
        if viewer.has_role(Role.DISCIPLINE, Role.ADMIN):
            statement = accountability.cases_query(
                InstanceStatus(query["status"]) if "status" in query else None,
                query.get("official"), query.get("problem"))
            items, total = accountability.cases(session, statement, query["page"], query["per_page"])
            return reply(CasePage(), {"items": items, "total": total, "page": query["page"],
                                      "per_page": query["per_page"]})
    app.deny(user_id, "read accountability cases", "accountability_case", None)


@blp.get("/officials/<int:official_id>/accountability")
@blp.response(200, RecordOut)
@blp.doc(security=BEARER)
def official_record(official_id: int):
    """An official's accountability record: every decision with its influence period (影响期),
    whether it is still in force, and what appeals (申诉) did to it (a revocation or a change is
    a new entry, never an edit); the discipline office, administrators and the official."""
    app, user_id = duban(), caller_id()
    with app.db.reading() as session:
        viewer = app.actor(session, user_id)
        if viewer.has_role(Role.DISCIPLINE, Role.ADMIN) or viewer.official_id == official_id:
            return reply(RecordOut(), accountability.official_record(session, official_id))
    app.deny(user_id, f"read the accountability record of official {official_id}", "official", official_id)
