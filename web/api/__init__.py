"""The JSON API (flask-smorest): OpenAPI at /api/openapi.json, docs at /api/docs.

Every error answers `{"code", "message", "errors": {field: [...]}}`.
"""
from __future__ import annotations

import logging
import threading

from flask import Flask, jsonify, request
from sqlalchemy import exc as sa_exc
from flask_smorest import Api
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from engine.errors import Conflict, DubanError, Forbidden, Invalid, Locked, NotFound, Unauthenticated
from engine.workflow.runtime import WorkflowFailure

from .. import busy
from .schemas import FindingOut

log = logging.getLogger("duban.api")

STATUS = {Locked: 429, Invalid: 400, Unauthenticated: 401, Forbidden: 403, NotFound: 404, Conflict: 409, WorkflowFailure: 422}
HTTP_CODES = {400: "invalid", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
              409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid",
              429: "too_many_requests", 503: "unavailable"}
ERROR_STATUSES = {400: "Bad input: `errors` names each field (or element, row) at fault",
                  401: "No valid bearer token", 403: "The caller may not do this (recorded in the ledger)",
                  404: "No such resource (an id out of range included)",
                  409: "The state moved underneath (a task someone else just completed, a duplicate code)",
                  413: "The body is larger than its limit", 422: "The process itself cannot go on",
                  429: "Too many attempts; try again after Retry-After seconds",
                  503: "Busy (every database connection in use; try again after Retry-After seconds), or the "
                       "office's directory (LDAP) unreachable at sign-in"}


class ErrorSchema(Schema):
    """Every error the API answers."""

    code = fields.String(required=True, metadata={"description": "a stable word: invalid, unauthenticated, forbidden, "
                                                                 "not_found, conflict, too_large, unavailable, ..."})
    message = fields.String(required=True, metadata={"description": "what went wrong, in English"})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True,
                         metadata={"description": "messages by field, BPMN element id or row"})
    findings = fields.List(fields.Nested(FindingOut), metadata={
        "description": "a refused BPMN deployment: every finding, errors and warnings (as "
                       "POST /api/process-definitions/check answers them)"})
    error_count = fields.Integer(metadata={"description": "a refused BPMN deployment: how many findings are errors"})
    warning_count = fields.Integer(metadata={"description": "a refused BPMN deployment: how many are warnings"})


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
    """flask-smorest's Api, whose OpenAPI document is written when it is first asked for (the
    first GET of /api/openapi.json or /api/docs, `flask openapi`), not when the app is made:
    turning every blueprint's schemas into the document takes a fifth of a second, which each
    app paid at its start whether or not anyone read the document. The routes are registered at
    once; what the document says is the same either way."""
    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None  # every status is documented by itself (document_errors)

    def __init__(self, *args, **kwargs):
        self._unwritten: list = []  # what the document still has to say, in order
        self._writing = threading.Lock()
        self._writer: int | None = None  # the thread writing it (what it writes reads the spec too)
        super().__init__(*args, **kwargs)

    @property
    def spec(self):
        """The document, written whole first: a part leaves the list only once written, so a
        second request meanwhile waits for the lock instead of reading half a document."""
        if self._unwritten and self._writer != threading.get_ident():
            with self._writing:
                self._writer = threading.get_ident()
                try:
                    while self._unwritten:
                        self._unwritten[0](self._spec)
                        del self._unwritten[0]
                finally:
                    self._writer = None
        return self._spec

    @spec.setter
    def spec(self, value) -> None:
        self._spec = value

    def when_written(self, write) -> None:
        """`write(spec)` once the document is written, after what is already to be written."""
        self._unwritten.append(write)

    def register_blueprint(self, blp, *, parameters=None, **options):
        """flask-smorest's, with the blueprint's part of the document left for later."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)

        def write(spec) -> None:
            blp.register_views_in_doc(self, self._app, spec, name=name, parameters=parameters)
            spec.tag({"name": name, "description": blp.description})
        self.when_written(write)

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
    from . import incidents

    api.register_blueprint(incidents.blp)
    from . import repair

    api.register_blueprint(repair.blp)
    from . import security_events

    api.register_blueprint(security_events.blp)
    from . import security_accounts

    api.register_blueprint(security_accounts.blp)
    from . import security_policy

    api.register_blueprint(security_policy.blp)

    api.when_written(lambda _spec: document_errors(api))

    @app.errorhandler(DubanError)
    def _domain_error(error: DubanError):
        status = getattr(error, "status", None) or next(
            (code for kind, code in STATUS.items() if isinstance(error, kind)), 400)
        response = jsonify({**error_body(error.code, error.message, error.errors), **getattr(error, "extra", {})})
        if isinstance(error, Locked):
            response.headers["Retry-After"] = str(error.retry_after)
        return response, status

    @app.errorhandler(429)
    def _rate_limited(error: HTTPException):
        """flask-limiter's refusal (the sign-in page answers its own, web/ui/signin.py)."""
        return jsonify(error_body("too_many_requests", "too many failed sign-ins from this address; "
                                  f"try again later (limit: {error.description})")), 429

    @app.errorhandler(sa_exc.TimeoutError)
    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    def _busy(error: Exception):
        """No database connection free within the pool's timeout, or the connection failed:
        the request did not happen (an action's transaction rolls back); try again."""
        log.warning("database unavailable for %s %s: %s", request.method, request.path, str(error).split("\n")[0])
        if busy.wants_page(request.path, request.headers.get("Accept")):
            return busy.page_answer()  # a browser: the page in the user's language
        response = jsonify(error_body("unavailable", "the database is busy or unreachable; try again shortly"))
        response.status_code = 503
        response.headers["Retry-After"] = busy.RETRY_AFTER
        return response

    @app.errorhandler(sa_exc.DataError)
    def _out_of_range(error: Exception):
        """A value the database cannot store that the edge did not catch: the client's input."""
        log.warning("value refused by the database for %s %s: %s", request.method, request.path,
                    str(error).split("\n")[0])
        return jsonify(error_body("invalid", "a value is out of the range the database stores",
                                  {"request": ["a value is too long, too large or not storable"]})), 400

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        """flask-smorest's JSON error under /api/; outside it (an unknown address, a method a page
        does not take), a page in the reader's language (pages' own errors are their blueprints')."""
        if not request.path.startswith("/api/") and busy.wants_page(request.path, request.headers.get("Accept")):
            from ..ui.layout import http_error_page

            return http_error_page(error)
        return api.handle_http_exception(error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return _http(error)
        log.exception("unexpected error")
        if not request.path.startswith("/api/") and busy.wants_page(request.path, request.headers.get("Accept")):
            from ..ui.layout import STATUS_MESSAGES, error_page

            return error_page(500, str(STATUS_MESSAGES[500]))
        return jsonify(error_body("internal", "an unexpected error occurred; it has been logged")), 500


def document_errors(api: Api) -> None:
    """Name in the OpenAPI document each error status an operation can answer, with the error
    schema: 400 and 503 anywhere (the request edge, a busy database), 401/403 where a token is
    needed, 404 where the path names a resource, 409/413/422 where the request writes, 429 at
    sign-in."""
    spec = api.spec
    if "Error" not in spec.components.schemas:  # flask-smorest names ERROR_SCHEMA "Error" already
        spec.components.schema("Error", schema=ErrorSchema)
    for status, description in ERROR_STATUSES.items():
        spec.components.response(f"Error{status}", {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
    for path, operations in spec._paths.items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            statuses = {400, 503}
            if operation.get("security"):
                statuses |= {401, 403, 404}  # 404: an id in the path, the body or the query names nothing
            if "{" in path:
                statuses.add(404)
            if method != "get":
                statuses |= {409, 413, 422}
            if path in ("/api/auth/token", "/api/auth/password"):
                statuses |= {401, 403, 429}  # 403: password_expired, password_change_required
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
