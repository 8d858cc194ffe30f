"""(being built)"""
from __future__ import annotations

from .layout import error_page, page_blueprint

bp = page_blueprint("ledger", __name__)


@bp.get("/ledger")
def problem_list():
    return error_page(404, "not built yet")
