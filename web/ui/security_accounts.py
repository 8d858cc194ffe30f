"""账号与授权: the security administrator's page (安全管理员, 三员分立): every account with its
roles, origin, lockout and second factor; granting and revoking roles, unlocking an account,
resetting a lost second factor. The same engine actions as /api/security/accounts."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.errors import Forbidden
from engine.models import Role
from engine.organization_admin import OrganizationInvalid

from .admin.org_forms import field_errors
from .layout import ROLE_LABELS, current_user, duban, page_blueprint, page_number

bp = page_blueprint("security_accounts", __name__)
PER_PAGE = 50
ORIGIN_LABELS = {"local": "本地账号", "ldap": "LDAP", "oidc": "OpenID Connect"}


def _refused():
    abort(403, _("只有安全管理员可以授予角色、解锁账号和重置动态口令。"))


def _back(search: str | None, page: int):
    return redirect(url_for("security_accounts.account_list", q=search or None, page=page if page > 1 else None))


@bp.get("/security/accounts")
def account_list(errors: dict | None = None, failed_id: int | None = None, status: int = 200):
    search = (request.args.get("q") or "").strip()[:60] or None
    page = page_number()
    try:
        items, total = duban().security_accounts(current_user().id, search, page, PER_PAGE)
    except Forbidden:
        _refused()
    return render_template("security_accounts/list.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           search=search or "", roles=list(Role), role_labels=ROLE_LABELS,
                           origins={k: _(v) for k, v in ORIGIN_LABELS.items()}, errors=errors or {},
                           failed_id=failed_id, args={"q": search} if search else {}), status


@bp.post("/security/accounts/<int:user_id>/roles")
def roles(user_id: int):
    try:
        duban().grant_roles(current_user().id, user_id, request.form.getlist("roles"))
    except Forbidden:
        _refused()
    except OrganizationInvalid as failure:
        return account_list(field_errors(failure), user_id, 400)
    flash(_("已保存角色。"), "success")
    return _back(request.args.get("q"), page_number())


@bp.post("/security/accounts/<int:user_id>/unlock")
def unlock(user_id: int):
    try:
        was_locked = duban().unlock(current_user().id, user_id)
    except Forbidden:
        _refused()
    flash(_("已解锁。") if was_locked else _("该账号未被锁定，已清除失败次数。"), "success")
    return _back(request.args.get("q"), page_number())


@bp.post("/security/accounts/<int:user_id>/second-factor/reset")
def reset_second_factor(user_id: int):
    try:
        duban().reset_second_factor(current_user().id, user_id)
    except Forbidden:
        _refused()
    flash(_("已重置动态口令：该账号下次登录时重新绑定。"), "success")
    return _back(request.args.get("q"), page_number())
