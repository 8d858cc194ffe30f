"""(being built)"""
from __future__ import annotations

from ..layout import error_page
from . import bp


@bp.get("/organization")
def organization():
    return error_page(404, "not built yet")


@bp.get("/officials")
def officials():
    return error_page(404, "not built yet")
