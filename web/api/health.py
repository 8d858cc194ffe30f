from __future__ import annotations

from sqlalchemy import text

from engine import clock

from .common import Blueprint, duban

blp = Blueprint("health", __name__, url_prefix="/api", description="Liveness")


@blp.get("/health")
def health():
    """Whether the service and its database answer."""
    with duban().db.reading() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok", "database": duban().db.engine.dialect.name, "time": clock.now().isoformat()}
