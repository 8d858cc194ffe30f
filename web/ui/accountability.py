"""(being built)"""
from __future__ import annotations

from .layout import error_page, page_blueprint

bp = page_blueprint("cases", __name__)


@bp.get("/accountability")
def case_list():
    return error_page(404, "not built yet")
