"""The JSON API (flask-smorest): OpenAPI at /api/openapi.json, docs at /api/docs.

Every error answers `{"code", "message", "errors": {field: [...]}}`.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from engine.errors import Conflict, DubanError, Forbidden, Invalid, Locked, NotFound, Unauthenticated
from engine.workflow.runtime import WorkflowFailure

log = logging.getLogger("duban.api")

STATUS = {Locked: 429, Invalid: 400, Unauthenticated: 401, Forbidden: 403, NotFound: 404, Conflict: 409, WorkflowFailure: 422}
HTTP_CODES = {400: "invalid", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
              409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid",
              429: "too_many_requests"}


def error_body(code: str, message: str, errors: dict | None = None) -> dict:
    return {"code": code, "message": message, "errors": errors or {}}


def _field_errors(messages) -> dict[str, list[str]]:
    """webargs nests messages by location ({"json": {"field": [...]}}); flatten them."""
    flat: dict[str, list[str]] = {}

    def walk(value, prefix):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{prefix}.{key}" if prefix else str(key))
        else:
            flat.setdefault(prefix or "request", []).extend(str(v) for v in (value if isinstance(value, list) else [value]))

    for location, fields in (messages or {}).items():
        walk(fields, "" if location in ("json", "query", "form", "files", "view_args") else location)
    return flat


class DubanApi(Api):
    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", {}) or {}
        errors = _field_errors(data.get("messages")) if "messages" in data else {}
        status = error.code or 500
        message = "the request has errors" if errors else (error.description or error.name)
        return jsonify(error_body(HTTP_CODES.get(status, "error"), message, errors)), status


def register_api(app: Flask) -> None:
    app.config.update(
        API_TITLE="Duban 督办 API", API_VERSION="1", OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api", OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs", OPENAPI_SWAGGER_UI_URL="/vendor/swagger-ui-dist/",
    )
    api = DubanApi(app, spec_kwargs={"components": {"securitySchemes": {
        "bearerAuth": {"type": "http", "scheme": "bearer"}}}})

    from . import auth, calendar, definitions, escalations, extensions, health, notifications, problems, tasks

    for module in (health, auth, problems, tasks, definitions, escalations, extensions, notifications, calendar):
        api.register_blueprint(module.blp)
    from . import accountability

    api.register_blueprint(accountability.blp)
    from . import excel

    api.register_blueprint(excel.blp)
    from . import bulletins

    api.register_blueprint(bulletins.blp)
    from . import organization

    api.register_blueprint(organization.blp)

    @app.errorhandler(DubanError)
    def _domain_error(error: DubanError):
        status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 400)
        response = jsonify(error_body(error.code, error.message, error.errors))
        if isinstance(error, Locked):
            response.headers["Retry-After"] = str(error.retry_after)
        return response, status

    @app.errorhandler(429)
    def _rate_limited(error: HTTPException):
        """flask-limiter's refusal (the sign-in page answers its own, web/ui/signin.py)."""
        return jsonify(error_body("too_many_requests", "too many failed sign-ins from this address; "
                                  f"try again later (limit: {error.description})")), 429

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return api.handle_http_exception(error)
        log.exception("unexpected error")
        return jsonify(error_body("internal", "an unexpected error occurred; it has been logged")), 500
