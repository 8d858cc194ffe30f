"""(being built)"""
from __future__ import annotations

from ..layout import error_page
from . import bp


@bp.get("/users")
def users():
    return error_page(404, "not built yet")
