"""(being built)"""
from __future__ import annotations

from .layout import error_page, page_blueprint

bp = page_blueprint("imports", __name__)


@bp.get("/ledger/import")
def import_form():
    return error_page(404, "not built yet")
