"""(being built)"""
from __future__ import annotations

from ..layout import error_page
from . import bp


@bp.get("/definitions")
def definitions():
    return error_page(404, "not built yet")
