"""What every API module shares: the engine, the caller, the blueprint flavour."""
from __future__ import annotations

from flask import Response, current_app, g, jsonify, request
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser

from engine.errors import Unauthenticated
from engine.service import Duban


class _Parser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req):
        """The body as the request edge parsed and normalised it (web/edge.py), if it did."""
        cached = getattr(req, "_cached_json", (Ellipsis, Ellipsis))[0]
        return super()._raw_load_json(req) if cached is Ellipsis else cached


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = _Parser()


def duban() -> Duban:
    return current_app.extensions["duban"]


def caller_id() -> int:
    """The signed-in user's id, from `Authorization: Bearer <token>`."""
    if "user_id" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("sign in first: send Authorization: Bearer <token> (POST /api/auth/token)")
        g.user_id = duban().tokens.user_id(token.strip())
    return g.user_id


BEARER = [{"bearerAuth": []}]


def only(blueprint: Blueprint, role, area: str, what: str) -> None:
    """Every endpoint of `blueprint` is `role`'s: checked before its body or query is read, so a
    caller without the role gets 403 whatever it sends (the engine checks again; a refusal is
    recorded in the ledger as `what` with the request's method and path)."""
    @blueprint.before_request
    def _role_first():
        app, user_id = duban(), caller_id()
        with app.db.reading() as session:
            allowed = app.actor(session, user_id).has_role(role)
        if not allowed:
            app.deny(user_id, f"{what}: {request.method} {request.path}", area, None)


def calendar_of(session):
    """The working calendar read with the action's own session, for the response schemas
    (so that an answer built inside a transaction needs no second connection)."""
    g.working_calendar = duban().current_calendar(session)
    return g.working_calendar


def reply_json(body, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def reply(schema, obj, status: int = 200) -> Response:
    """Serialize while the session that loaded `obj` is still open; the @blp.response
    decorator documents the schema and passes a ready Response through."""
    response = jsonify(schema.dump(obj))
    response.status_code = status
    return response


def reply_page(schema, paged, query) -> Response:
    """One page of a list (`paged`: its items and total) as `schema`, a PageOf answer."""
    return reply(schema, {"items": paged.items, "total": paged.total, "page": query["page"],
                          "per_page": query["per_page"]})
