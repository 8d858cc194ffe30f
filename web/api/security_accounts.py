"""The security administrator's accounts (安全管理员, 三员分立): every account with its roles,
lockout and second factor; granting and revoking roles, unlocking, resetting a second factor
(DELETE /api/auth/second-factor/{id}). Nobody else reads or changes them here."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine.areas.security_accounts import account_view
from engine.models import Role

from .common import BEARER, Blueprint, caller_id, duban, only, reply
from .schemas import Page, PageOf, PerPage

blp = Blueprint("security-accounts", __name__, url_prefix="/api/security/accounts",
                description="The security administrator's accounts: role grants and unlocking (三员分立)")
only(blp, Role.SECURITY_ADMIN, "user", "read or change role grants and lockouts")


class AccountQuery(Schema):
    q = fields.String(validate=validate.Length(max=60), metadata={"description": "a part of the name"})
    page = Page()
    per_page = PerPage(50, 200)


class SecurityAccountOut(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    display_name = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True)
    origin = fields.String(required=True, metadata={"description": "local, ldap or oidc: where the account signs in"})
    official = fields.String(allow_none=True, required=True, metadata={"description": "the official it acts as"})
    locked_until = fields.AwareDateTime(allow_none=True, required=True,
                                        metadata={"description": "locked after failed sign-ins until then"})
    second_factor = fields.Boolean(required=True, metadata={"description": "has enrolled a second factor"})


SecurityAccountPage = PageOf(SecurityAccountOut, "SecurityAccountPage")


class RolesIn(Schema):
    roles = fields.List(fields.String(validate=validate.OneOf([r.value for r in Role])), required=True,
                        metadata={"description": "the account's roles from now on (at least one)"})


class UnlockOut(Schema):
    was_locked = fields.Boolean(required=True)


@blp.get("")
@blp.arguments(AccountQuery, location="query")
@blp.response(200, SecurityAccountPage)
@blp.doc(security=BEARER)
def list_accounts(query):
    """Every account with its roles, origin, lockout and second factor (the security administrator only)."""
    items, total = duban().security_accounts(caller_id(), query.get("q"), query["page"], query["per_page"])
    return reply(SecurityAccountPage(), {"items": items, "total": total, "page": query["page"],
                                         "per_page": query["per_page"]})


@blp.put("/<int:user_id>/roles")
@blp.arguments(RolesIn)
@blp.response(200, SecurityAccountOut)
@blp.doc(security=BEARER)
def grant_roles(body, user_id: int):
    """Set an account's roles: each grant and revocation is a security event. No account holds two
    of admin, security_admin and audit_admin; nobody changes their own; one active admin remains."""
    return reply(SecurityAccountOut(), duban().grant_roles(caller_id(), user_id, body["roles"], answer=account_view))


@blp.post("/<int:user_id>/unlock")
@blp.response(200, UnlockOut)
@blp.doc(security=BEARER)
def unlock(user_id: int):
    """Lift the lockout that failed sign-ins put on the account (a security event either way)."""
    return reply(UnlockOut(), {"was_locked": duban().unlock(caller_id(), user_id)})
