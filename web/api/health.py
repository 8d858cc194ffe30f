from __future__ import annotations

from sqlalchemy import text

from engine import clock

from .common import Blueprint, duban

blp = Blueprint("health", __name__, url_prefix="/api", description="Liveness")


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
