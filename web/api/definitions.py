from __future__ import annotations

from flask import Response, request
from sqlalchemy import select

from engine import clock
from engine.errors import Invalid, NotFound
from engine.text import ID_MAX
from engine.workflow import heatmap
from engine.models import ProcessDefinition, Role
from engine.workflow import definitions as deployed
from engine.workflow.document import DocumentError

from .common import BEARER, Blueprint, caller_id, duban, reply, reply_json, reply_page
from .schemas import (CheckOut, DefinitionOut, DefinitionPage, DeployedOut, DiffOut, DiffQuery, HeatmapOut, PageQuery,
                      PublishIn, WaitingPage, WaitingQuery)

blp = Blueprint("definitions", __name__, url_prefix="/api", description="Process definitions (BPMN)")

MAX_BPMN_BYTES = 10 * 1024 * 1024
MAX_COMMENT = 2000


def _require(*roles: Role, what: str) -> int:
    app, user_id = duban(), caller_id()
    with app.db.reading() as session:
        allowed = app.actor(session, user_id).has_role(*roles)
    if not allowed:
        app.deny(user_id, what, "process_definition", None)
    return user_id


@blp.get("/process-definitions")
@blp.arguments(PageQuery, location="query")
@blp.response(200, DefinitionPage)
@blp.doc(security=BEARER)
def list_definitions(query):
    """Every version, drafts included, by key and newest first within each key, a page at a
    time: its status (draft or published), whether it is the current one (new problems start
    on it), its note (版本说明), who deployed and published it and when, and how many
    instances are open on it."""
    _require(Role.ADMIN, Role.DISCIPLINE, what="list process definitions")
    with duban().db.reading() as session:
        return reply_page(DefinitionPage(), deployed.page(session, query["page"], query["per_page"]), query)


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


@blp.delete("/process-definitions/<key>/versions/<int:version>")
@blp.response(204, description="the draft is deleted")
@blp.doc(security=BEARER, responses={"409": {"description": "the version is published: only a draft can be deleted"}})
def delete_draft(key: str, version: int):
    """Delete a draft (环督办), finished or not: an unfinished one kept from an upload that
    cannot be deployed yet, or one saved in the editor and not wanted. A draft never has
    instances; a published version cannot be deleted (409). Written to the ledger."""
    user_id = _require(Role.ADMIN, what=f"delete version {version} of process {key}")
    duban().delete_draft(user_id, key, version)
    return Response(status=204)


def _version(session, key: str, version: int) -> ProcessDefinition:
    row = None if version > ID_MAX else session.scalars(select(ProcessDefinition).where(
        ProcessDefinition.key == key, ProcessDefinition.version == version)).first()
    if row is None:
        raise NotFound(f"no version {version} of process {key!r}", {"version": [f"{key} has no version {version}"]})
    return row


@blp.get("/process-definitions/<key>/versions/<int:version>/heatmap")
@blp.response(200, HeatmapOut)
@blp.doc(security=BEARER)
def heat(key: str, version: int):
    """Where the version's instances wait (热力图): per element, the ready user tasks waiting
    there and the median time they have waited, by the engine's clock; most waiting first."""
    _require(Role.ADMIN, Role.DISCIPLINE, what="read process definitions")
    now = clock.now()
    with duban().db.reading() as session:
        row = _version(session, key, version)
        spots = heatmap.heat(session, row, now)
        return reply(HeatmapOut(), {"key": key, "version": version, "now": now,
                                    "waiting": sum(spot.waiting for spot in spots), "elements": spots})


@blp.get("/process-definitions/<key>/versions/<int:version>/heatmap/<element_id>")
@blp.arguments(WaitingQuery, location="query")
@blp.response(200, WaitingPage)
@blp.doc(security=BEARER)
def waiting(query, key: str, version: int, element_id: str):
    """The problems waiting at one element of the version, longest waiting first, a page at a
    time; 404 naming `element_id` when the version has no such element."""
    _require(Role.ADMIN, Role.DISCIPLINE, what="read process definitions")
    with duban().db.reading() as session:
        row = _version(session, key, version)
        names = heatmap.elements(row)
        if element_id not in names:
            raise NotFound(f"version {version} of {key!r} has no element {element_id[:100]!r}",
                           {"element_id": ["no such element in this version"]})
        items, total = heatmap.waiting_at(session, row, element_id, query["page"], query["per_page"])
        return reply(WaitingPage(), {"element_id": element_id, "name": names[element_id], "items": items,
                                     "total": total, "page": query["page"], "per_page": query["per_page"]})


BPMN_BODY = {"content": {
    "application/xml": {"schema": {"type": "string"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}, "required": ["file"]}}}}
ACCEPT_PARAMETERS = [
    {"in": "query", "name": "accept_warnings", "schema": {"type": "boolean"}, "required": False,
     "description": "deploy although the document has warnings (no errors); needs `comment` "
                    "(also accepted as a multipart form field)"},
    {"in": "query", "name": "comment", "schema": {"type": "string", "maxLength": MAX_COMMENT}, "required": False,
     "description": "the version's note (版本说明), and why the warnings are accepted; kept with the version and "
                    "in the deployment's ledger entry"},
    {"in": "query", "name": "draft", "schema": {"type": "boolean"}, "required": False,
     "description": "store the version as a draft: kept and editable, not started on until published "
                    "(its warnings are accepted or not when it is published); a draft of the process that "
                    "exists already has its content replaced"}]
DEPLOY_BODY = {"content": {
    "application/xml": {"schema": {"type": "string"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"},
        "accept_warnings": {"type": "boolean"}, "comment": {"type": "string", "maxLength": MAX_COMMENT},
        "draft": {"type": "boolean"}},
        "required": ["file"]}}}}
TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}


def _upload() -> tuple[bytes, str, dict[str, bytes]]:
    """The document (XML body or multipart `file`) with its form files; 400 when there is none
    or it is too large."""
    upload = request.files.get("file")
    attachments = {f.filename: f.read() for key, f in request.files.items(multi=True) if key != "file" and f.filename}
    if upload is not None:
        content, filename = upload.read(), upload.filename or "upload.bpmn"
    elif request.mimetype in ("application/xml", "text/xml", "application/bpmn+xml"):
        content, filename = request.get_data(), "upload.bpmn"
    else:
        raise Invalid("send the BPMN XML as the body (Content-Type: application/xml) or as the multipart field 'file'",
                      {"file": ["Missing data for required field."]})
    if not content:
        raise Invalid("the BPMN document is empty", {"file": ["the document is empty"]})
    if len(content) > MAX_BPMN_BYTES:
        raise Invalid("the document is too large", {"file": [f"at most {MAX_BPMN_BYTES // 1024 // 1024} MiB"]})
    return content, filename, attachments


def _flag(name: str) -> bool:
    flag = (request.values.get(name) or "").strip().lower()
    if flag not in TRUE | FALSE:
        raise Invalid(f"{name} is true or false", {name: ["Not a valid boolean."]})
    return flag in TRUE


def _comment() -> str | None:
    comment = (request.values.get("comment") or "").strip()
    if len(comment) > MAX_COMMENT:
        raise Invalid("the comment is too long", {"comment": [f"at most {MAX_COMMENT} characters"]})
    return comment or None


def _acceptance() -> str | None:
    """The comment accepting the warnings, when `accept_warnings` is true; 400 naming the field."""
    if not _flag("accept_warnings"):
        return None
    comment = (request.values.get("comment") or "").strip()
    if not comment:
        raise Invalid("accepting the warnings needs a comment saying why", {"comment": ["required with accept_warnings"]})
    if len(comment) > MAX_COMMENT:
        raise Invalid("the comment is too long", {"comment": [f"at most {MAX_COMMENT} characters"]})
    return comment


def summary(findings) -> dict:
    body = [f.as_dict() for f in findings]
    return {"findings": body, "errors": sum(f["severity"] == "error" for f in body),
            "warnings": sum(f["severity"] == "warning" for f in body)}


def _check():
    _require(Role.ADMIN, what="check process definitions")
    content, filename, attachments = _upload()
    return reply(CheckOut(), summary(duban().check_definition(content, filename, attachments).findings))


CHECK_DOC = dict(security=BEARER, requestBody=BPMN_BODY, responses={
    "200": {"description": "every finding about the document, good or bad (nothing is deployed)"}})


@blp.post("/process-definitions/check")
@blp.response(200, CheckOut)
@blp.doc(**CHECK_DOC)
def check_definition():
    """Check a BPMN document without deploying it: every error and warning at once, each with
    its severity, code, element (id, name, line) and message (English and Chinese).

    The same bodies as deploying: the XML as the body, or the multipart field `file` (with the
    JSON Schema form files it names)."""
    return _check()


@blp.post("/definitions/check")
@blp.response(200, CheckOut)
@blp.doc(**CHECK_DOC)
def check_definition_alias():
    """The same as `POST /api/process-definitions/check` (the modeler's address)."""
    return _check()


class Refused(Invalid):
    """A deployment refused for its findings: the error body carries them all; `errors` (by
    element) those that refuse it: the errors, and the warnings unless they were accepted."""

    def __init__(self, findings, warnings_accepted: bool):
        counted = summary(findings)
        errors, warnings = counted["errors"], counted["warnings"]
        first = next((f for f in findings if f.severity == "error"), findings[0])
        why = (f"{errors} error(s)" if errors else f"{warnings} warning(s) not accepted "
               "(accept_warnings=true with a comment deploys it)")
        refusing = [f for f in findings if f.severity == "error" or not warnings_accepted]
        super().__init__(f"the BPMN document cannot be deployed: {why}; first: {first.element}: {first.text()}",
                         DocumentError(refusing).by_element())
        self.extra = {"findings": counted["findings"], "error_count": errors, "warning_count": warnings}


@blp.post("/process-definitions")
@blp.response(201, DeployedOut, description="stored: a new published version, or a new draft")
@blp.alt_response(200, schema=DeployedOut, description="unchanged (the current version, or the draft, already has "
                                                       "this content), or the draft's content replaced in place")
@blp.doc(security=BEARER, requestBody=DEPLOY_BODY, parameters=ACCEPT_PARAMETERS,
         responses={"400": {"description": "the findings: every error, and the warnings not accepted"}})
def deploy():
    """Deploy a new version of a BPMN process: the XML as the body, or the multipart field `file`.

    With multipart, further files are the JSON Schema forms a SpiffArena-style diagram names
    in `formJsonSchemaFilename` properties (matched by file name). A document with an error is
    refused; one with warnings only is deployed when `accept_warnings=true` and a `comment`
    (query parameters or form fields) accept them, the comment kept in the ledger.

    `comment` is the version's note (版本说明). With `draft=true` the version is stored as a
    draft: not started on until published (`POST .../versions/{version}/publish`); only an
    error refuses a draft, and saving a draft again while one exists replaces its content."""
    user_id = _require(Role.ADMIN, what="deploy process definitions")
    content, filename, attachments = _upload()
    accepted, comment, draft = _acceptance(), _comment(), _flag("draft")
    try:
        definition, outcome = duban().deploy(user_id, content, filename, attachments, accepted, comment, draft)
    except DocumentError as error:
        raise Refused(error.findings, accepted is not None or draft) from None
    body = {"key": definition.key, "version": definition.version, "id": definition.id, "created": bool(outcome),
            "outcome": outcome.value, "status": definition.status.value, "user_tasks": sorted(definition.forms)}
    return reply(DeployedOut(), body, 201 if outcome.value == "created" else 200)


def _published(session, definition_id: int) -> dict:
    """The answer to a publication, built in its transaction."""
    row = session.get(ProcessDefinition, definition_id)
    return next(d for d in deployed.listing(session, row.key) if d["id"] == definition_id)


@blp.post("/process-definitions/<key>/versions/<int:version>/publish")
@blp.arguments(PublishIn)
@blp.response(200, DefinitionOut)
@blp.doc(security=BEARER, responses={"400": {"description": "no comment, or the check's findings: every error, "
                                                            "and the warnings not accepted"}})
def publish(body, key: str, version: int):
    """Publish a version (环督办): a draft, or an older version again — a rollback. It becomes
    the current version: new problems (and the ladder) start on it; running instances stay on
    theirs. The version is checked again in full: an error refuses it, a warning too unless
    `accept_warnings` is true. The `comment` is required and goes into the ledger. 409 when
    the version is already current."""
    user_id = _require(Role.ADMIN, what=f"publish version {version} of process {key}")
    try:
        answer = duban().publish_definition(user_id, key, version, body["comment"], body["accept_warnings"],
                                            answer=_published)
    except DocumentError as error:
        raise Refused(error.findings, body["accept_warnings"]) from None
    return reply_json(DefinitionOut().dump(answer))


@blp.get("/process-definitions/<key>/diff")
@blp.arguments(DiffQuery, location="query")
@blp.response(200, DiffOut)
@blp.doc(security=BEARER)
def diff(query, key: str):
    """What changed from version `from` to version `to`: the elements added and removed (id,
    type, name) and those changed, each change naming its field (name, lane, condition, timer,
    form, Duban's `property:<name>` …) with the old and the new value. The layout is left out."""
    _require(Role.ADMIN, Role.DISCIPLINE, what="compare process definitions")
    answer = duban().compare_definitions(key, query["older"], query["newer"])
    return reply_json(DiffOut().dump({"key": key, "older": query["older"], "newer": query["newer"], **answer}))
