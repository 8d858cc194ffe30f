from __future__ import annotations

from marshmallow import Schema, fields, validate

from .common import Blueprint, duban

blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Signing in")


class Credentials(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=60))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class Token(Schema):
    token = fields.String()
    username = fields.String()
    display_name = fields.String()
    roles = fields.List(fields.String())


@blp.post("/token")
@blp.arguments(Credentials)
@blp.response(200, Token)
def token(credentials):
    """A bearer token for `Authorization: Bearer <token>`."""
    user, issued = duban().sign_in(credentials["username"], credentials["password"])
    return {"token": issued, "username": user.username, "display_name": user.display_name,
            "roles": sorted(r.value for r in user.roles)}
