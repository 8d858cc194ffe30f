from __future__ import annotations

from marshmallow import Schema, fields, validate

from .common import BEARER, Blueprint, caller_id, duban

blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Signing in")


class Credentials(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=60))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))
    code = fields.String(validate=validate.Length(min=1, max=20), metadata={
        "description": "the second factor: the authenticator app's 6-digit code, or a recovery code; needed by "
                       "accounts that enrolled one and by the roles the security policy names (401 naming "
                       "`code` without it)"})


class Token(Schema):
    token = fields.String()
    username = fields.String()
    display_name = fields.String()
    roles = fields.List(fields.String())


@blp.post("/token")
@blp.arguments(Credentials)
@blp.response(200, Token)
def token(credentials):
    """A bearer token for `Authorization: Bearer <token>`, issued after the password and, where
    the account has or needs one, the second factor's `code`. A password that expired, or that
    an administrator set, is refused with 403 and the code `password_expired` or
    `password_change_required`: set a new one with POST /api/auth/password."""
    user, issued = duban().sign_in(credentials["username"], credentials["password"], code=credentials.get("code"))
    return {"token": issued, "username": user.username, "display_name": user.display_name,
            "roles": sorted(r.value for r in user.roles)}


@blp.delete("/second-factor/<int:user_id>")
@blp.response(204)
@blp.doc(security=BEARER)
def reset_second_factor(user_id: int):
    """Remove an account's second factor and recovery codes (a lost phone; the security
    administrator only): its sessions and tokens end, and it enrols again at its next sign-in."""
    duban().reset_second_factor(caller_id(), user_id)
    return "", 204


class PasswordChange(Credentials):
    new_password = fields.String(required=True, validate=validate.Length(min=1, max=200), metadata={
        "description": "the new password: the password rules, and none of the policy's last N passwords"})


@blp.post("/password")
@blp.arguments(PasswordChange)
@blp.response(204)
def change_password(body):
    """Change one's own password with the name, the current password (and the second factor's
    `code` where needed), as at sign-in: the way out of `password_expired` and
    `password_change_required`. 400 naming `new_password` when it breaks the rules or is one of
    the last N; the account's page sessions and API tokens end."""
    duban().change_password_signed_out(body["username"], body["password"], body["new_password"], body.get("code"))
    return "", 204


class PageSessionOut(Schema):
    id = fields.Integer(required=True)
    started_at = fields.AwareDateTime(required=True)
    last_seen_at = fields.AwareDateTime(required=True, metadata={"description": "moved at most once a minute"})
    source = fields.String(allow_none=True, required=True, metadata={"description": "the address it signed in from"})
    user_agent = fields.String(allow_none=True, required=True, metadata={"description": "its browser (truncated)"})


@blp.get("/sessions")
@blp.response(200, PageSessionOut(many=True))
@blp.doc(security=BEARER)
def sessions():
    """The caller's live page sessions, newest first (我的会话)."""
    return duban().my_sessions(caller_id())


@blp.delete("/sessions/<int:session_id>")
@blp.response(204)
@blp.doc(security=BEARER)
def end_session(session_id: int):
    """End one of the caller's own page sessions (404 for any other, or one that ended)."""
    duban().end_my_session(caller_id(), session_id)
    return "", 204
