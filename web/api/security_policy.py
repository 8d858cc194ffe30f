"""The session and password policy (会话与口令策略, engine/session_policy.py): the security
administrator's alone (403 for anyone else, recorded in the ledger); a change is a security
event."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine.models import Role
from engine.session_policy import BOUNDS, MODES

from .common import BEARER, Blueprint, caller_id, duban, only

blp = Blueprint("security-policy", __name__, url_prefix="/api/security",
                description="The session and password policy (会话与口令策略): the security administrator's alone")
only(blp, Role.SECURITY_ADMIN, "security_setting", "read or change the session and password policy")


def _between(name: str):
    low, high = BOUNDS[name]
    return validate.Range(min=low, max=high)


def _days(value: int) -> bool:
    low, high = BOUNDS["password_days"]
    if value != 0 and not low <= value <= high:
        raise validate.ValidationError(f"Must be 0 (never) or between {low} and {high}.")
    return True


class PolicySchema(Schema):
    idle_minutes = fields.Integer(required=True, strict=True, validate=_between("idle_minutes"), metadata={
        "description": "a page session unused this long ends"})
    max_sessions = fields.Integer(required=True, strict=True, validate=_between("max_sessions"), metadata={
        "description": "live page sessions one account may hold at once"})
    session_mode = fields.String(required=True, validate=validate.OneOf(MODES), metadata={
        "description": "a page sign-in beyond max_sessions: end_oldest ends the oldest session, refuse answers 409"})
    password_days = fields.Integer(required=True, strict=True, validate=_days, metadata={
        "description": "a password expires this many days after it was set (0: never)"})
    password_history = fields.Integer(required=True, strict=True, validate=_between("password_history"), metadata={
        "description": "a new password may not be any of the last N (0: no limit)"})
    force_change = fields.Boolean(required=True, metadata={
        "description": "a password an administrator set must be changed by its owner first"})


class PolicyChange(PolicySchema):
    """Some or all of the policy's fields (the rest stay)."""


@blp.get("/policy")
@blp.response(200, PolicySchema)
@blp.doc(security=BEARER)
def get_policy():
    """The session and password policy in force."""
    return duban().session_policy(caller_id()).as_dict()


@blp.put("/policy")
@blp.arguments(PolicyChange(partial=True))
@blp.response(200, PolicySchema)
@blp.doc(security=BEARER)
def put_policy(body):
    """Change the policy (the fields given; the rest stay): 400 naming each field out of its
    bounds, and nothing changes."""
    return duban().replace_session_policy(caller_id(), body).as_dict()
