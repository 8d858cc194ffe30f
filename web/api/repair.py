"""Repairing running work (流程修复, admins): move an instance's token, end it, put it on another
version, for an incident or any open instance; and migrate every open instance of a version
after a dry run. Every action takes a `reason`, written to the ledger."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from .common import BEARER, Blueprint, caller_id, duban, reply
from .schemas import IncidentOut

blp = Blueprint("repair", __name__, url_prefix="/api", description="Repairing running work (流程修复)")

REASON = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                       metadata={"description": "why (理由), written to the ledger"})
CHOICES = fields.Dict(keys=fields.String(validate=validate.Length(max=100)),
                      values=fields.String(validate=validate.Length(max=100)), load_default=dict,
                      metadata={"description": "for each waiting element without counterpart in the target "
                                               "version, the target element chosen for it"})


class MoveIn(Schema):
    reason = REASON
    to_element = fields.String(required=True, validate=validate.Length(min=1, max=100),
                               metadata={"description": "the BPMN element the token goes to"})
    from_element = fields.String(allow_none=True, validate=validate.Length(max=100), metadata={
        "description": "the element whose token moves (needed when the instance waits at several)"})


class CancelIn(Schema):
    reason = REASON


class MigrateIn(Schema):
    reason = REASON
    to_version = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    process = fields.String(allow_none=True, validate=validate.Length(max=100),
                            metadata={"description": "the process key (must be the instance's own)"})
    choices = CHOICES


class ReadyTaskOut(Schema):
    element_id = fields.String()
    name = fields.String()


class RepairedOut(Schema):
    instance_id = fields.Integer()
    problem_id = fields.Integer()
    problem_code = fields.String()
    action = fields.String(validate=validate.OneOf(["moved", "migrated", "cancelled"]))
    status = fields.String(metadata={"description": "the instance's status afterwards"})
    process = fields.String()
    version = fields.Integer()
    current_tasks = fields.List(fields.Nested(ReadyTaskOut))
    incident = fields.Nested(IncidentOut, allow_none=True,
                             metadata={"description": "the incident open for the instance afterwards, if any"})
    detail = fields.Dict(metadata={"description": "what the ledger entry records"})


def _incident_doors(action: str):
    return f"/incidents/<int:incident_id>/{action}"


@blp.post(_incident_doors("move"))
@blp.arguments(MoveIn)
@blp.response(200, RepairedOut)
@blp.alt_response(409, description="the incident is resolved or the instance has ended")
@blp.doc(security=BEARER)
def move_incident(body, incident_id: int):
    """Move the token of an incident's instance to another element (redo or skip a step)."""
    return reply(RepairedOut(), duban().move_token(caller_id(), None, body["reason"], body["to_element"],
                                                   body.get("from_element"), incident_id=incident_id))


@blp.post(_incident_doors("cancel"))
@blp.arguments(CancelIn)
@blp.response(200, RepairedOut)
@blp.doc(security=BEARER)
def cancel_incident(body, incident_id: int):
    """End the incident's instance (终止流程); the problem stays, the incident is resolved with the reason."""
    return reply(RepairedOut(), duban().cancel_instance(caller_id(), None, body["reason"], incident_id=incident_id))


@blp.post(_incident_doors("migrate"))
@blp.arguments(MigrateIn)
@blp.response(200, RepairedOut)
@blp.doc(security=BEARER)
def migrate_incident(body, incident_id: int):
    """Put the incident's instance on another version of its process (a fixed one)."""
    return reply(RepairedOut(), duban().migrate_instance(caller_id(), None, body["reason"], body["to_version"],
                                                         body["choices"], body.get("process"),
                                                         incident_id=incident_id))


@blp.post("/process-instances/<int:instance_id>/move")
@blp.arguments(MoveIn)
@blp.response(200, RepairedOut)
@blp.doc(security=BEARER)
def move_instance(body, instance_id: int):
    """Move an open instance's token to another element (redo or skip a step)."""
    return reply(RepairedOut(), duban().move_token(caller_id(), instance_id, body["reason"], body["to_element"],
                                                   body.get("from_element")))


@blp.post("/process-instances/<int:instance_id>/cancel")
@blp.arguments(CancelIn)
@blp.response(200, RepairedOut)
@blp.doc(security=BEARER)
def cancel_instance(body, instance_id: int):
    """End an open instance (终止流程); its problem stays."""
    return reply(RepairedOut(), duban().cancel_instance(caller_id(), instance_id, body["reason"]))


@blp.post("/process-instances/<int:instance_id>/migrate")
@blp.arguments(MigrateIn)
@blp.response(200, RepairedOut)
@blp.doc(security=BEARER)
def migrate_instance(body, instance_id: int):
    """Put an open instance on another version of its process."""
    return reply(RepairedOut(), duban().migrate_instance(caller_id(), instance_id, body["reason"],
                                                         body["to_version"], body["choices"], body.get("process")))


# -- a version's open instances ------------------------------------------------------------------

class VersionMigrationIn(Schema):
    to_version = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    dry_run = fields.Boolean(load_default=True, metadata={"description": "only say what would change (default)"})
    reason = fields.String(validate=validate.Length(max=2000), metadata={"description": "required unless dry_run"})
    choices = CHOICES
    instance_choices = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[0-9]{1,10}$")), values=CHOICES,
                                   load_default=dict,
                                   metadata={"description": "choices for one instance (by id), over `choices`"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500),
                           metadata={"description": "at most this many instances migrated by this call"})


class MappingOut(Schema):
    element_id = fields.String()
    element_name = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    target_name = fields.String(allow_none=True)
    how = fields.String(metadata={"description": "same, renamed, changed, aligned or none (a choice is needed)"})


class ElementPlanOut(Schema):
    mapping = fields.Nested(MappingOut)
    ready = fields.Integer(metadata={"description": "ready tasks of open instances at the element"})
    incidents = fields.Integer(metadata={"description": "open incidents at the element"})


class ElementOut(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)
    type = fields.String()


class TokenOut(Schema):
    task_id = fields.String()
    element_id = fields.String()
    element_name = fields.String(allow_none=True)
    state = fields.String()
    mapping = fields.Nested(MappingOut)


class InstancePlanOut(Schema):
    instance_id = fields.Integer()
    problem_id = fields.Integer()
    problem_code = fields.String()
    status = fields.String()
    tokens = fields.List(fields.Nested(TokenOut))
    error = fields.String(allow_none=True)


class InstanceResultOut(Schema):
    instance_id = fields.Integer()
    problem_code = fields.String()
    outcome = fields.String(metadata={"description": "migrated, needs_choice, skipped or failed"})
    message = fields.String(allow_none=True)
    incident_id = fields.Integer(allow_none=True)


class VersionMigrationOut(Schema):
    process = fields.String()
    from_version = fields.Integer()
    to_version = fields.Integer()
    dry_run = fields.Boolean()
    open_instances = fields.Integer(metadata={"description": "open instances on the version (before)"})
    elements = fields.List(fields.Nested(ElementPlanOut))
    added = fields.List(fields.Nested(ElementOut))
    targets = fields.List(fields.Nested(ElementOut))
    instances = fields.List(fields.Nested(InstancePlanOut), metadata={"description": "dry run: one page"})
    page = fields.Integer()
    per_page = fields.Integer()
    results = fields.List(fields.Nested(InstanceResultOut), metadata={"description": "the migration: per instance"})
    remaining = fields.Integer(allow_none=True, metadata={"description": "open instances still on the version"})


@blp.post("/process-definitions/<key>/versions/<int:version>/migration")
@blp.arguments(VersionMigrationIn)
@blp.response(200, VersionMigrationOut)
@blp.doc(security=BEARER)
def migrate_version(body, key: str, version: int):
    """Migrate the open instances of a version to another version of the same process: with
    `dry_run` (the default) what would change, element by element (counts) and one page of
    instances; without it, up to `limit` instances migrated, one transaction each, a result
    per instance, and how many remain."""
    app = duban()
    # the element mapping and counts always; the page of instances only for a dry run
    plan = app.migration_dry_run(caller_id(), key, version, body["to_version"], body["page"],
                                 body["per_page"] if body["dry_run"] else 0)
    answer = {**plan.__dict__, "dry_run": body["dry_run"], "results": [], "remaining": None}
    if not body["dry_run"]:
        results, remaining = app.migrate_version(caller_id(), key, version, body["to_version"], body.get("reason"),
                                                 body["choices"], body["instance_choices"], body["limit"])
        answer.update(results=results, remaining=remaining, instances=[])
    return reply(VersionMigrationOut(), answer)
