"""The front door: a signed-in user goes to their home page, anyone else to the sign-in page."""
from __future__ import annotations

from flask import Blueprint, redirect

pages = Blueprint("pages", __name__)


@pages.get("/")
def index():
    from web.ui.layout import current_user, home_for

    return redirect(home_for(current_user()))
