"""统一身份认证设置: the security administrator's page of the directory and OpenID Connect
settings in force (engine/sso_settings.py), with a button that asks each of them now. The
settings live in files the deployment puts in place; the page says which and never shows a
password or a secret."""
from __future__ import annotations

from flask import abort, render_template
from flask_babel import gettext as _

from engine.errors import Forbidden

from .layout import ROLE_LABELS, current_user, duban, page_blueprint
from .oidc import provider

bp = page_blueprint("sso_settings", __name__)


def _page(checks=None):
    try:
        settings = duban().single_sign_on(current_user().id, provider())
    except Forbidden:
        abort(403, _("只有安全管理员可以查看统一身份认证设置。"))
    return render_template("sso_settings/show.html", settings=settings, checks=checks, roles=ROLE_LABELS)


@bp.get("/security/sso")
def show():
    return _page()


@bp.post("/security/sso/check")
def check():
    try:
        checks = duban().check_single_sign_on(current_user().id, provider())
    except Forbidden:
        abort(403, _("只有安全管理员可以查看统一身份认证设置。"))
    return _page(checks)
