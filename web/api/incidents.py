"""Incidents (流程异常): process instances stopped at a step that failed, for the
rectification office (retry) and the discipline office (read)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine.models import IncidentStatus

from .common import BEARER, Blueprint, caller_id, duban, reply
from .schemas import IncidentOut

blp = Blueprint("incidents", __name__, url_prefix="/api", description="Incidents (流程异常)")


class IncidentQuery(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in IncidentStatus]),
                           metadata={"description": "open or resolved (default: both)"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class IncidentPage(Schema):
    items = fields.List(fields.Nested(IncidentOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


@blp.get("/incidents")
@blp.arguments(IncidentQuery, location="query")
@blp.response(200, IncidentPage)
@blp.doc(security=BEARER)
def list_incidents(query):
    """Incidents, newest first (admins and the discipline office)."""
    status = IncidentStatus(query["status"]) if "status" in query else None
    items, total = duban().incidents(caller_id(), status, query["page"], query["per_page"])
    return reply(IncidentPage(), {"items": items, "total": total, "page": query["page"],
                                  "per_page": query["per_page"]})


@blp.get("/incidents/<int:incident_id>")
@blp.response(200, IncidentOut)
@blp.doc(security=BEARER)
def get_incident(incident_id: int):
    """One incident (admins and the discipline office)."""
    return reply(IncidentOut(), duban().incident(caller_id(), incident_id))


class RetryIn(Schema):
    reason = fields.String(validate=validate.Length(max=2000), load_default=None, allow_none=True,
                           metadata={"description": "why (理由), kept in the ledger with the retry"})


@blp.post("/incidents/<int:incident_id>/retry")
@blp.arguments(RetryIn, required=False)
@blp.response(200, IncidentOut)
@blp.alt_response(409, description="the incident is already resolved")
@blp.doc(security=BEARER)
def retry_incident(body, incident_id: int):
    """Run the failed step again now, after its cause was fixed (admins): the incident,
    `resolved` when the process went on, or still `open` with one more attempt and the new
    error. An optional `reason` is kept in the ledger and as the incident's note."""
    reason = " ".join(((body or {}).get("reason") or "").split()) or None
    return reply(IncidentOut(), duban().retry_incident(caller_id(), incident_id, reason))
