"""用户与角色: the accounts that sign in, their roles and the official each acts as; creating
one, changing its roles, resetting its password, deactivating and reactivating it."""
from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import organization_admin as org_admin
from engine.errors import NotFound
from engine.models import GRANTED_BY_SECURITY_ADMIN, Role
from engine.organization_admin import MIN_PASSWORD_LENGTH, OrganizationInvalid

from ..layout import ROLE_LABELS, current_user, duban
from . import bp
from .org_forms import PER_PAGE, field_errors, list_arguments


# the roles the system administrator sees on its forms but the security administrator grants
LOCKED_ROLES = tuple(role.value for role in GRANTED_BY_SECURITY_ADMIN)


def _role_list(user) -> list:
    return sorted(user.roles, key=list(Role).index)


@bp.get("/users")
def users():
    return _users_page()


def _users_page(errors: dict | None = None, values: dict | None = None, status: int = 200):
    search, page = list_arguments()
    values = values or {}
    if not values and re.fullmatch(r"\d{1,9}", request.args.get("official_id", "")):
        values = {"official_id": request.args["official_id"], "roles": [Role.OFFICIAL.value]}
    with duban().db.reading() as db:
        rows, total = org_admin.users_page(db, search, page, PER_PAGE)
        items = [{"id": user.id, "username": user.username, "display_name": user.display_name,
                  "roles": _role_list(user), "active": user.active,
                  "official": {"id": user.official.id, "name": user.official.name} if user.official else None}
                 for user in rows]
        free = [(o.id, o.name) for o in org_admin.officials_without_account(db)]
    return render_template("admin/users.html", items=items, total=total, page=page, per_page=PER_PAGE, q=search,
                           errors=errors or {}, values=values, roles=list(Role), role_labels=ROLE_LABELS, locked_roles=LOCKED_ROLES,
                           free_officials=free, min_password=MIN_PASSWORD_LENGTH,
                           me=current_user().id), status


@bp.post("/users")
def users_create():
    form = request.form
    try:
        user_id = duban().create_user(current_user().id, form.get("username"), form.get("display_name"),
                                      form.get("password"), form.getlist("roles"), form.get("official_id") or None)
    except OrganizationInvalid as failure:
        values = form.to_dict()
        values.pop("password", None)  # never sent back into the page
        values["roles"] = form.getlist("roles")
        return _users_page(field_errors(failure), values, 400)
    flash(_("已开通账号：%(username)s", username=form.get("username", "").strip()), "success")
    return redirect(url_for("admin.users_page", user_id=user_id))


@bp.get("/users/<int:user_id>")
def users_page(user_id: int):
    return _user_page(user_id)


def _user_page(user_id: int, form: str | None = None, errors: dict | None = None, values: dict | None = None,
               status: int = 200):
    with duban().db.reading() as db:
        try:
            user = org_admin.get_user(db, user_id)
        except NotFound:
            abort(404, _("没有这个用户。"))
        view = {"id": user.id, "username": user.username, "display_name": user.display_name,
                "roles": [r.value for r in _role_list(user)], "active": user.active,
                "official_id": user.official_id,
                "official": user.official.name if user.official else None,
                "ready_tasks": org_admin.ready_tasks_assigned(db, user)}
        free = [(o.id, o.name) for o in org_admin.officials_without_account(db)]
        if user.official is not None:
            free.insert(0, (user.official.id, user.official.name))
    return render_template("admin/users_detail.html", user=view, form=form, errors=errors or {},
                           values=values or {}, roles=list(Role), role_labels=ROLE_LABELS, locked_roles=LOCKED_ROLES, free_officials=free,
                           min_password=MIN_PASSWORD_LENGTH, me=current_user().id), status


@bp.post("/users/<int:user_id>")
def users_update(user_id: int):
    form = request.form
    try:
        duban().update_user(current_user().id, user_id, display_name=form.get("display_name"),
                            roles=form.getlist("roles"), official_id=form.get("official_id") or None)
    except OrganizationInvalid as failure:
        values = {**form.to_dict(), "roles": form.getlist("roles")}
        return _user_page(user_id, "account", field_errors(failure), values, 400)
    flash(_("已保存账号与角色。"), "success")
    return redirect(url_for("admin.users_page", user_id=user_id))


@bp.post("/users/<int:user_id>/password")
def users_password(user_id: int):
    try:
        duban().reset_password(current_user().id, user_id, request.form.get("password"))
    except OrganizationInvalid as failure:
        return _user_page(user_id, "password", field_errors(failure), {}, 400)
    if user_id != current_user().id and duban().policy_in_force().force_change:
        flash(_("已重置密码。请将新密码告知本人；本人登录后须先修改密码。"), "success")
    else:
        flash(_("已重置密码。请将新密码告知本人。"), "success")
    return redirect(url_for("admin.users_page", user_id=user_id))


@bp.post("/users/<int:user_id>/active")
def users_active(user_id: int):
    wanted = request.form.get("active")
    if wanted not in ("0", "1"):
        abort(400, _("缺少要设置的状态。"))
    try:
        duban().set_user_active(current_user().id, user_id, wanted == "1")
    except OrganizationInvalid as failure:
        return _user_page(user_id, "active", field_errors(failure), {}, 400)
    flash(_("账号已启用。") if wanted == "1" else _("账号已停用：不能再登录，已发出的 API 令牌也随即失效。"), "success")
    return redirect(url_for("admin.users_page", user_id=user_id))
