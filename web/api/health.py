from __future__ import annotations

from flask import current_app, jsonify
from sqlalchemy import text

from engine import clock, migrate
from engine.scheduling.lease import standing

from .common import Blueprint, duban

blp = Blueprint("health", __name__, url_prefix="/api", description="Liveness and readiness")
_current_schema: set[str] = set()  # the database URLs found current once (a schema is not migrated back)


@blp.get("/health")
@blp.doc(responses={"200": {"description": "the service and its database answer", "content": {"application/json": {
    "schema": {"type": "object", "required": ["status", "database", "time"], "properties": {
        "status": {"type": "string", "enum": ["ok"]}, "database": {"type": "string"},
        "time": {"type": "string", "format": "date-time"}}}}}}})
def health():
    """Whether the service and its database answer."""
    with duban().db.reading() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok", "database": duban().db.engine.dialect.name, "time": clock.now().isoformat()}


@blp.get("/ready")
@blp.doc(responses={"200": {"description": "ready to serve: the database answers and its schema is this release's; "
                                           "`503` when either is not so", "content": {"application/json": {
    "schema": {"type": "object", "required": ["status", "database", "schema", "scheduler", "leader",
                                              "lease_expires_in", "time"], "properties": {
        "status": {"type": "string", "enum": ["ready"]}, "database": {"type": "string"},
        "schema": {"type": "string", "enum": ["current"]},
        "scheduler": {"type": "string", "enum": ["leading", "standing by", "none"]},
        "leader": {"type": ["string", "null"]}, "lease_expires_in": {"type": "number"},
        "time": {"type": "string", "format": "date-time"}}}}}}})
def ready():
    """Whether this host may take requests (for a load balancer): the database answers, its
    schema is the one this release needs, and what the scheduler does: here (`leading`,
    `standing by`, or `none` where no scheduler runs in this process) and in the cluster (the
    lease's holder and how long it has left, read from the database, so every host reports
    the same)."""
    engine = duban().db.engine
    url = str(engine.url)
    problem = None
    if url not in _current_schema:
        problem = migrate.schema_problem(engine)
        if problem is None:
            _current_schema.add(url)
    if problem:
        from . import error_body

        return jsonify(error_body("not_ready", f"not ready: {problem}", {"schema": [problem]})), 503
    running = current_app.extensions.get("duban_scheduler")
    here = "none" if running is None else ("leading" if running.leading.is_set() else "standing by")
    lease = standing(engine)
    return {"status": "ready", "database": engine.dialect.name, "schema": "current", "scheduler": here,
            "leader": lease["holder"], "lease_expires_in": lease["expires_in"], "time": clock.now().isoformat()}
