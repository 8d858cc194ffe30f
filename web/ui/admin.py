"""(being built)"""
from __future__ import annotations

from .layout import error_page, page_blueprint

bp = page_blueprint("admin", __name__)


@bp.get("/admin")
def home():
    return error_page(404, "not built yet")
