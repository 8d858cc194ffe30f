"""Escalation rules: validated data, versioned in the database, seeded from config/escalation.toml."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import clock, ledger
from ..errors import Invalid, field_errors
from ..ledger import Action
from ..models import EscalationRuleSet, ProcessDefinition, User
from ..settings import CONFIG_DIR
from ..workflow import purpose
from . import due_moments
from .targets import TARGETS

DEFAULT_FILE = CONFIG_DIR / "escalation.toml"
EVENTS = ("listed_case_missed", "commitment_missed", "false_rectification")
TRIGGER_KINDS = ("before_deadline", "overdue", "repeat", "event")


class _Trigger(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(TRIGGER_KINDS))
    working_days = fields.Integer(strict=True, validate=validate.Range(min=0, max=365))
    level = fields.Integer(strict=True, validate=validate.Range(min=1, max=9))
    count = fields.Integer(strict=True, validate=validate.Range(min=2, max=20))
    event = fields.String(validate=validate.OneOf(EVENTS))

    @validates_schema
    def _parameters(self, data, **kwargs):
        needed = {"before_deadline": ("working_days",), "overdue": ("working_days",),
                  "repeat": ("level", "count"), "event": ("event",)}.get(data.get("kind"), ())
        missing = {name: [f"a {data['kind']} trigger needs {name}"] for name in needed if name not in data}
        if missing:
            raise ValidationError(missing)


class _Action(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(("notify", "start_process")))
    process = fields.String(validate=validate.Length(min=1, max=100))

    @validates_schema
    def _process(self, data, **kwargs):
        if data.get("kind") == "start_process" and not data.get("process"):
            raise ValidationError({"process": ["start_process names the BPMN process id to start"]})


class _Rule(Schema):
    class Meta:
        unknown = RAISE

    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,39}$",
                                                                  error="lowercase letters, digits and _"))
    level = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=9))
    name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    triggers = fields.List(fields.Nested(_Trigger), required=True, validate=validate.Length(min=1))
    action = fields.Nested(_Action, required=True)
    targets = fields.List(fields.String(validate=validate.OneOf(
        TARGETS, error="unknown target {input}; a target names a role in the chain, and *_heads always "
                       "means both the Party and the government head (党政同责)")),
        required=True, validate=validate.Length(min=1))


class _Ladder(Schema):
    class Meta:
        unknown = RAISE

    rules = fields.List(fields.Nested(_Rule), required=True, validate=validate.Length(min=1))
    note = fields.String(load_default=None, allow_none=True)

    @validates_schema
    def _unique(self, data, **kwargs):
        codes = [rule["code"] for rule in data.get("rules", [])]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValidationError({"rules": [f"rule code {', '.join(dupes)} is used twice"]})


@dataclass(frozen=True)
class Ladder:
    version: int
    rules: list[dict]

    def by_code(self, code: str) -> dict | None:
        return next((rule for rule in self.rules if rule["code"] == code), None)


def validate_ladder(data) -> dict:
    """The ladder's data, checked; Invalid names the field at fault ("rules.2.targets.0")."""
    try:
        return _Ladder().load(data)
    except ValidationError as error:
        raise Invalid("the escalation rules have errors", field_errors(error.messages)) from None


def load_default(path: Path = DEFAULT_FILE) -> dict:
    with open(path, "rb") as handle:
        return validate_ladder(tomllib.load(handle))


def current(session: Session) -> Ladder:
    """The ladder in force (the newest version), seeding version 1 from config if none."""
    row = session.scalars(select(EscalationRuleSet).order_by(EscalationRuleSet.version.desc()).limit(1)).first()
    if row is None:
        try:
            with session.begin_nested():
                row = _store(session, load_default(), None, note="默认规则（config/escalation.toml）")
        except IntegrityError:  # another process seeded version 1 at the same moment: use theirs
            row = session.scalars(select(EscalationRuleSet).order_by(EscalationRuleSet.version.desc()).limit(1)).one()
    return Ladder(row.version, row.rules)


def in_force(session: Session) -> Ladder:
    """The ladder in force, read without writing: the newest stored version, or the default
    file (as version 1, which the first firing will store) when none is stored yet."""
    row = session.scalars(select(EscalationRuleSet).order_by(EscalationRuleSet.version.desc()).limit(1)).first()
    return Ladder(row.version, row.rules) if row is not None else Ladder(1, load_default()["rules"])


def replace(session: Session, data, actor: User | None) -> Ladder:
    checked = validate_ladder(data)
    _processes_fit(session, checked["rules"])
    current(session)
    row = _store(session, checked, actor, checked.get("note"))
    return Ladder(row.version, row.rules)


def _processes_fit(session: Session, rules: list[dict]) -> None:
    """Refuse a rule that would start a problem process (named `rules.N.action.process`); a
    process not deployed yet is left to the firing, which notes it."""
    keys = {rule["action"].get("process") for rule in rules if rule["action"]["kind"] == "start_process"}
    if not keys:
        return
    latest = (select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version"))
              .where(ProcessDefinition.key.in_(keys)).group_by(ProcessDefinition.key).subquery())
    purposes = dict(session.execute(select(ProcessDefinition.key, ProcessDefinition.purpose).join(
        latest, (ProcessDefinition.key == latest.c.key) & (ProcessDefinition.version == latest.c.version))).all())
    errors = {}
    for index, rule in enumerate(rules):
        key = rule["action"].get("process")
        refusal = purpose.refusal_for_ladder(key, purposes[key]) if key in purposes else None
        if refusal and rule["action"]["kind"] == "start_process":
            errors[f"rules.{index}.action.process"] = [refusal]
    if errors:
        raise Invalid("the escalation rules have errors: " + next(iter(errors.values()))[0], errors)


def _store(session: Session, checked: dict, actor: User | None, note: str | None) -> EscalationRuleSet:
    latest = session.scalar(select(EscalationRuleSet.version).order_by(EscalationRuleSet.version.desc()).limit(1))
    row = EscalationRuleSet(version=(latest or 0) + 1, rules=checked["rules"], note=note,
                            created_by_id=actor.id if actor else None, created_at=clock.now())
    session.add(row)
    session.flush()
    due_moments.work_out_again(session)  # every open problem's rungs fall due anew
    ledger.record(session, Action.RULES_CHANGED, actor=actor, subject_type="escalation_rule_set",
                  subject_id=row.version, payload={"version": row.version, "rules": len(row.rules), "note": note})
    return row


# -- reading the versions --------------------------------------------------------------------

def history(session: Session) -> list[EscalationRuleSet]:
    """Every stored version of the ladder, newest first (who stored it, when, with what note)."""
    return list(session.scalars(select(EscalationRuleSet).order_by(EscalationRuleSet.version.desc())))


def stored(session: Session, version: int) -> EscalationRuleSet | None:
    """One stored version of the ladder, or None."""
    return session.get(EscalationRuleSet, version)
