"""The versions of a process: deploying one (published at once, or kept as a draft), publishing
a draft, rolling back to an older version, and which version is current.

The *current* version of a key — the one new problems and the ladder start on — is its
published version published last. A draft is stored with its spec but starts nothing; saving
a draft again while one exists replaces that draft's content in place (a draft never has
instances), so that drafts do not pile up as versions nobody will publish. Publishing a draft
checks it again in full (the roles of config/roles.toml may have changed since); rolling back
publishes an older version again, which makes it current. Every step is written to the ledger
with who did it and the comment (版本说明, or the reason for the publication).

A diagram that cannot be deployed yet (no executable process, a condition to translate …) but
can be read is kept as the process's draft all the same, *unfinished*: without a spec, with the
findings of its check, to be finished in the editor (`save_draft`). It is listed and edited as
any draft, never started, and published only once its errors are gone; a draft, finished or
not, can be deleted (`delete_draft`).
"""
from __future__ import annotations

import enum

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from .. import clock, ledger
from ..errors import Conflict, Invalid, NotFound
from ..ledger import Action
from ..models import DefinitionStatus, ProcessDefinition, User
from ..validation import check, encoding
from ..validation.findings import DocumentError
from . import document
from .serializer import spec_to_dict

MAX_COMMENT = 2000
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
# what makes a document unreadable: it cannot be kept, even as a draft
UNREADABLE = {"xml-malformed", "doctype", "not-bpmn", "document-encoding", "document-empty"}


class Outcome(enum.Enum):
    """What a deployment did; true when it stored something."""

    CREATED = "created"      # a new version (published, or a new draft)
    REPLACED = "replaced"    # the existing draft's content replaced in place
    UNCHANGED = "unchanged"  # the same content is already current (or already the draft)

    def __bool__(self) -> bool:
        return self is not Outcome.UNCHANGED


def current(session: Session, key: str, to_start: bool = False) -> ProcessDefinition | None:
    """The version new instances of `key` start on: the published one published last. Read
    `to_start` one, its document and stored spec are left unread until asked for (a spec
    already parsed is cached: engine/workflow/serializer.py)."""
    statement = (select(ProcessDefinition)
                 .where(ProcessDefinition.key == key, ProcessDefinition.status == DefinitionStatus.PUBLISHED)
                 .order_by(ProcessDefinition.publication.desc()).limit(1))
    if to_start:
        statement = statement.options(defer(ProcessDefinition.bpmn_xml), defer(ProcessDefinition.spec))
    return session.scalars(statement).first()


def _next_publication(session: Session, key: str) -> int:
    return (session.scalar(select(func.max(ProcessDefinition.publication))
                           .where(ProcessDefinition.key == key)) or 0) + 1


def current_ids(session: Session) -> set[int]:
    """The id of each key's current version (one query, whatever the number of versions)."""
    ranked = (select(ProcessDefinition.id, func.row_number().over(
        partition_by=ProcessDefinition.key,
        order_by=ProcessDefinition.publication.desc()).label("rank"))
        .where(ProcessDefinition.status == DefinitionStatus.PUBLISHED).subquery())
    return set(session.scalars(select(ranked.c.id).where(ranked.c.rank == 1)))


def draft_of(session: Session, key: str) -> ProcessDefinition | None:
    return session.scalars(select(ProcessDefinition)
                           .where(ProcessDefinition.key == key, ProcessDefinition.status == DefinitionStatus.DRAFT)
                           .order_by(ProcessDefinition.version.desc()).limit(1)).first()


def find(session: Session, key: str, number: int) -> ProcessDefinition | None:
    if not 0 < number < 2**31:
        return None
    return session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                           ProcessDefinition.version == number)).first()


def get(session: Session, key: str, number: int) -> ProcessDefinition:
    row = find(session, key, number)
    if row is None:
        raise NotFound(f"no version {number} of process {key!r}", {"version": [f"process {key!r} has no version {number}"]})
    return row


def clean_comment(comment: str | None, required: bool = False) -> str | None:
    text = (comment or "").strip()
    if required and not text:
        raise Invalid("a comment (版本说明) is required", {"comment": ["required"]})
    if len(text) > MAX_COMMENT:
        raise Invalid("the comment is too long", {"comment": [f"at most {MAX_COMMENT} characters"]})
    return text or None


def _accepted(warned: list, reason: str | None) -> dict:
    """What the ledger entry records of the warnings the deployer accepted."""
    if not warned:
        return {}
    return {"accepted_warnings": [{"code": f.code, "element": f.element, "message": f.message} for f in warned],
            "acceptance": (reason or "").strip()}


def _text_files(attachments: dict[str, bytes] | None) -> dict[str, str] | None:
    if not attachments:
        return None
    return {name: data.decode("utf-8", errors="replace") for name, data in attachments.items()}


def deploy(session: Session, lane_roles: dict[str, str], content: bytes, actor: User | None, filename: str = "upload.bpmn",
           attachments: dict[str, bytes] | None = None, accepted: str | None = None, comment: str | None = None,
           draft: bool = False, shipped: bool = False) -> tuple[ProcessDefinition, Outcome]:
    """Store the document's process as a new published version, or as a draft (`draft`).

    A published deployment is refused for an error, and for a warning unless `accepted` (the
    comment accepting them) is given; a draft only for an error (its warnings are accepted,
    or not, when it is published). Content equal to the current version is `unchanged`, as
    is a draft equal to the draft; a shipped diagram (`shipped`) is unchanged when any version
    of its key has its content, so that a restart does not undo a rollback.

    A published deployment by a person while the process has a draft publishes that draft's
    row with the new content: the draft was the next version in the works and is not left
    behind, older than the current version. (A shipped diagram leaves an administrator's
    draft alone and becomes a version of its own.)"""
    accept = draft or bool(accepted and accepted.strip())
    prepared, warned = check.prepare(content, lane_roles, filename, attachments, accept_warnings=accept)
    comment = clean_comment(comment or accepted)  # a deployment accepting warnings says why
    now = clock.now()
    in_force = current(session, prepared.key)
    if shipped:
        known = session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == prepared.key,
                                                                ProcessDefinition.checksum == prepared.checksum)
                                .order_by(ProcessDefinition.version.desc()).limit(1)).first()
        if known is not None:
            return known, Outcome.UNCHANGED
    elif in_force is not None and in_force.checksum == prepared.checksum:
        return in_force, Outcome.UNCHANGED
    payload = {"key": prepared.key, "checksum": prepared.checksum, "file": filename, "purpose": prepared.purpose,
               **({"comment": comment} if comment else {}), **_accepted([] if draft else warned, accepted)}
    existing = draft_of(session, prepared.key)
    if existing is not None and not draft and not shipped:
        # the process's draft is superseded: it is published with this content, under its number
        _fill(existing, prepared, attachments, actor, now, comment)
        existing.status, existing.published_at, existing.published_by_id = (
            DefinitionStatus.PUBLISHED, now, actor.id if actor else None)
        existing.publication = _next_publication(session, prepared.key)
        session.flush()
        ledger.record(session, Action.DEFINITION_DEPLOYED, actor=actor, subject_type="process_definition",
                      subject_id=existing.id, payload={**payload, "version": existing.version, "from_draft": True,
                                                       "previous": in_force.version if in_force else None})
        return existing, Outcome.CREATED
    if draft:
        if existing is not None:
            if existing.checksum == prepared.checksum and existing.comment == comment and not existing.unfinished:
                return existing, Outcome.UNCHANGED
            _fill(existing, prepared, attachments, actor, now, comment)
            session.flush()
            ledger.record(session, Action.DEFINITION_DRAFT_SAVED, actor=actor, subject_type="process_definition",
                          subject_id=existing.id, payload={**payload, "version": existing.version, "replaced": True,
                                                           "warnings": len(warned)})
            return existing, Outcome.REPLACED
    number = (session.scalar(select(func.max(ProcessDefinition.version))
                             .where(ProcessDefinition.key == prepared.key)) or 0) + 1
    definition = ProcessDefinition(key=prepared.key, version=number)
    _fill(definition, prepared, attachments, actor, now, comment)
    if draft:
        definition.status = DefinitionStatus.DRAFT
    else:
        definition.status, definition.published_at, definition.published_by_id = (
            DefinitionStatus.PUBLISHED, now, actor.id if actor else None)
        definition.publication = _next_publication(session, prepared.key)
    session.add(definition)
    session.flush()
    if draft:
        ledger.record(session, Action.DEFINITION_DRAFT_SAVED, actor=actor, subject_type="process_definition",
                      subject_id=definition.id, payload={**payload, "version": number, "replaced": False,
                                                         "warnings": len(warned)})
    else:
        ledger.record(session, Action.DEFINITION_DEPLOYED, actor=actor, subject_type="process_definition",
                      subject_id=definition.id, payload={**payload, "version": number,
                                                         "previous": in_force.version if in_force else None})
    return definition, Outcome.CREATED


def _fill(definition: ProcessDefinition, prepared, attachments, actor: User | None, now, comment: str | None) -> None:
    definition.name, definition.bpmn_xml, definition.forms = prepared.name, prepared.xml, prepared.forms
    definition.spec = spec_to_dict(prepared.spec, prepared.subprocess_specs)
    definition.checksum, definition.form_files = prepared.checksum, _text_files(attachments)
    definition.purpose, definition.findings = prepared.purpose, None
    definition.deployed_by_id, definition.deployed_at, definition.comment = actor.id if actor else None, now, comment


class DraftExists(Conflict):
    """The process has a draft already, which an upload does not replace."""

    def __init__(self, key: str, version: int):
        super().__init__(f"process {key!r} already has a draft (version {version}); it is not replaced",
                         {"draft": [f"version {version} of {key} is a draft"]})
        self.key, self.version = key, version


def _process_of(tree) -> tuple[str, str | None] | None:
    """The key and name of an unfinished diagram: its executable process, else its first
    process with an id (a Camunda Modeler diagram marks none executable); None without one."""
    root = tree.getroot()
    processes = [p for p in root.iter(f"{BPMN}process") if (p.get("id") or "").strip()]
    if not processes:
        return None
    chosen = next((p for p in processes if p.get("isExecutable") == "true"), processes[0])
    key = chosen.get("id").strip()
    pool = next((p for p in root.iter(f"{BPMN}participant") if p.get("processRef") == key and p.get("name")), None)
    return key, chosen.get("name") or (pool.get("name") if pool is not None else None)


def save_draft(session: Session, lane_roles: dict[str, str], content: bytes, actor: User | None,
               filename: str = "upload.bpmn", attachments: dict[str, bytes] | None = None,
               comment: str | None = None, replace: bool = True) -> tuple[ProcessDefinition, Outcome]:
    """Save the document as its process's draft, finished or not. Without an error it is an
    ordinary draft (`deploy(draft=True)`). With errors it is kept *unfinished* — its text, no
    spec, its findings — as a new draft or in place of the process's draft, so that it is
    finished in the editor rather than lost to the refusal; not in place of a draft the process
    has already unless `replace` (the editor saving its own draft), else Conflict naming
    `draft`. DocumentError (every finding) when it cannot be read, or names no process."""
    inspection = check.inspect(content, lane_roles, filename, attachments)
    if not inspection.errors:
        return deploy(session, lane_roles, content, actor, filename, attachments, comment=comment, draft=True)
    if any(f.code in UNREADABLE for f in inspection.findings):
        raise DocumentError(inspection.findings)
    text = encoding.to_utf8(content)
    tree = document.read_xml(text)
    found = _process_of(tree)
    if found is None or len(found[0]) > 100:
        raise DocumentError(inspection.findings)
    key, name = found
    comment = clean_comment(comment)
    checksum = document.checksum_of(text, {})
    findings = [f.as_dict() for f in inspection.findings]
    payload = {"key": key, "checksum": checksum, "file": filename, "unfinished": True,
               "errors": len(inspection.errors), "warnings": len(inspection.warnings),
               **({"comment": comment} if comment else {})}
    existing = draft_of(session, key)
    if existing is not None and not replace and existing.checksum != checksum:
        raise DraftExists(key, existing.version)
    if existing is not None and existing.checksum == checksum and existing.comment == comment:
        if existing.findings != findings:   # the same text, checked again (the roles may have changed)
            existing.findings = findings
        return existing, Outcome.UNCHANGED
    definition = existing or ProcessDefinition(
        key=key, version=(session.scalar(select(func.max(ProcessDefinition.version))
                                         .where(ProcessDefinition.key == key)) or 0) + 1,
        status=DefinitionStatus.DRAFT)
    definition.name = (name or key)[:200]
    definition.bpmn_xml, definition.forms, definition.spec = document.as_text(text, tree), {}, None
    definition.checksum, definition.form_files, definition.purpose = checksum, _text_files(attachments), None
    definition.findings = findings
    definition.deployed_by_id, definition.deployed_at = actor.id if actor else None, clock.now()
    definition.comment = comment
    if existing is None:
        session.add(definition)
    session.flush()
    ledger.record(session, Action.DEFINITION_DRAFT_SAVED, actor=actor, subject_type="process_definition",
                  subject_id=definition.id, payload={**payload, "version": definition.version,
                                                     "replaced": existing is not None})
    return definition, Outcome.REPLACED if existing is not None else Outcome.CREATED


def delete_draft(session: Session, key: str, number: int, actor: User | None) -> ProcessDefinition:
    """Delete a draft, finished or not (a draft never has instances); a published version
    cannot be deleted (409). Written to the ledger with what it held."""
    definition = get(session, key, number)
    if definition.status != DefinitionStatus.DRAFT:
        raise Conflict(f"version {number} of process {key!r} is published: only a draft can be deleted",
                       {"version": [f"version {number} is not a draft"]})
    ledger.record(session, Action.DEFINITION_DRAFT_DELETED, actor=actor, subject_type="process_definition",
                  subject_id=definition.id, payload={"key": key, "version": number, "checksum": definition.checksum,
                                                     "unfinished": definition.unfinished,
                                                     **({"comment": definition.comment} if definition.comment else {})})
    session.delete(definition)
    session.flush()
    return definition


def publish(session: Session, lane_roles: dict[str, str], key: str, number: int, actor: User | None, comment: str | None,
            accepted: bool = False) -> ProcessDefinition:
    """Make version `number` of `key` current: a draft is published, an older published
    version published again (a rollback). The version is checked again in full first: an
    error refuses it, a warning too unless `accepted` (the comment is then the reason)."""
    comment = clean_comment(comment, required=True)
    definition = get(session, key, number)
    in_force = current(session, key)
    if in_force is not None and in_force.id == definition.id:
        raise Conflict(f"version {number} of process {key!r} is already the current version",
                       {"version": [f"version {number} is already current"]})
    files = {name: text.encode("utf-8") for name, text in (definition.form_files or {}).items()}
    prepared, warned = check.prepare(definition.bpmn_xml.encode("utf-8"), lane_roles, f"{key}-v{number}.bpmn", files,
                                     accept_warnings=accepted)
    if definition.unfinished:   # its errors are gone (the roles it names were added since)
        if prepared.key != key:
            raise Conflict(f"version {number} now deploys process {prepared.key!r}, not {key!r}: save it again "
                           "in the editor", {"version": [f"the diagram's executable process is {prepared.key!r}"]})
        definition.name, definition.forms, definition.purpose = prepared.name, prepared.forms, prepared.purpose
        definition.spec, definition.findings = spec_to_dict(prepared.spec, prepared.subprocess_specs), None
    rollback = definition.status == DefinitionStatus.PUBLISHED
    definition.status, definition.published_at = DefinitionStatus.PUBLISHED, clock.now()
    definition.published_by_id = actor.id if actor else None
    definition.publication = _next_publication(session, key)
    session.flush()
    ledger.record(session, Action.DEFINITION_ROLLED_BACK if rollback else Action.DEFINITION_PUBLISHED, actor=actor,
                  subject_type="process_definition", subject_id=definition.id,
                  payload={"key": key, "version": number, "comment": comment,
                           "previous": in_force.version if in_force is not None else None,
                           **_accepted(warned, comment)})
    return definition
