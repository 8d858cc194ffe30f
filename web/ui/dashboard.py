"""(being built)"""
from __future__ import annotations

from .layout import error_page, page_blueprint

bp = page_blueprint("dashboard", __name__)


@bp.get("/dashboard")
def overview():
    return error_page(404, "not built yet")
