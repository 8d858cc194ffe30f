from __future__ import annotations

from flask import Response, request
from sqlalchemy import select

from engine.errors import Invalid, NotFound
from engine.models import ProcessDefinition, Role
from engine.workflow.document import DocumentError

from .common import BEARER, Blueprint, caller_id, duban, reply
from .schemas import DefinitionOut

blp = Blueprint("definitions", __name__, url_prefix="/api", description="Process definitions (BPMN)")

MAX_BPMN_BYTES = 10 * 1024 * 1024


def _require(*roles: Role, what: str) -> int:
    app, user_id = duban(), caller_id()
    with app.db.reading() as session:
        allowed = app.actor(session, user_id).has_role(*roles)
    if not allowed:
        app.deny(user_id, what, "process_definition", None)
    return user_id


@blp.get("/process-definitions")
@blp.response(200, DefinitionOut(many=True))
@blp.doc(security=BEARER)
def list_definitions():
    """Every deployed version, newest first within each key."""
    _require(Role.ADMIN, Role.DISCIPLINE, what="list process definitions")
    with duban().db.reading() as session:
        rows = session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.key,
                                                                  ProcessDefinition.version.desc())).all()
        return reply(DefinitionOut(many=True), rows)


@blp.get("/process-definitions/<key>/versions/<int:version>")
@blp.doc(security=BEARER, responses={"200": {"description": "the BPMN XML",
                                             "content": {"application/xml": {}}}})
def definition_xml(key: str, version: int):
    """The BPMN XML of one deployed version."""
    _require(Role.ADMIN, Role.DISCIPLINE, what="read process definitions")
    with duban().db.reading() as session:
        row = session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                              ProcessDefinition.version == version)).first()
        if row is None:
            raise NotFound(f"no version {version} of process {key!r}")
        return Response(row.bpmn_xml, mimetype="application/xml")


@blp.post("/process-definitions")
@blp.doc(security=BEARER, requestBody={"content": {
    "application/xml": {"schema": {"type": "string"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}, "required": ["file"]}}}},
    responses={"201": {"description": "deployed: key and version"},
               "200": {"description": "unchanged: the latest version already has this content"},
               "400": {"description": "the problems found, by element id"}})
def deploy():
    """Deploy a new version of a BPMN process: the XML as the body, or the multipart field `file`.

    With multipart, further files are the JSON Schema forms a SpiffArena-style diagram names
    in `formJsonSchemaFilename` properties (matched by file name)."""
    user_id = _require(Role.ADMIN, what="deploy process definitions")
    upload = request.files.get("file")
    attachments = {f.filename: f.read() for key, f in request.files.items(multi=True) if key != "file" and f.filename}
    if upload is not None:
        content, filename = upload.read(), upload.filename or "upload.bpmn"
    elif request.mimetype in ("application/xml", "text/xml", "application/bpmn+xml"):
        content, filename = request.get_data(), "upload.bpmn"
    else:
        raise Invalid("send the BPMN XML as the body (Content-Type: application/xml) or as the multipart field 'file'",
                      {"file": ["Missing data for required field."]})
    if len(content) > MAX_BPMN_BYTES:
        raise Invalid("the document is too large", {"file": [f"at most {MAX_BPMN_BYTES // 1024 // 1024} MiB"]})
    try:
        definition, created = duban().deploy(user_id, content, filename, attachments)
    except DocumentError as error:
        raise Invalid(f"the BPMN document cannot be deployed: {error.findings[0].element}: "
                      f"{error.findings[0].text()}", error.by_element()) from None
    body = {"key": definition.key, "version": definition.version, "id": definition.id, "created": created,
            "user_tasks": sorted(definition.forms)}
    return body, 201 if created else 200
