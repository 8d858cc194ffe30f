"""区域与单位 and 人员与职务: the region tree with its units and heads; the officials with
their posts. Plain POST forms; a refused form comes back with its errors at the fields
(nothing written), a done one redirects with a message."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import organization_admin as org_admin
from engine.errors import NotFound
from engine.escalation import gaps as organisation_gaps
from engine.models import PostKind, RegionLevel, UnitKind
from engine.organization_admin import OrganizationInvalid

from ..layout import current_user, duban
from ..timeline import SIDE_LABELS
from . import bp
from .org_forms import (PER_PAGE, POST_KINDS, REGION_LEVELS, SIDES, UNIT_KINDS, field_errors, list_arguments,
                        reason_text)

# -- 区域与单位 ----------------------------------------------------------------------------------


@bp.get("/organization")
def organization():
    return _organization_page()


def _organization_page(form: str | None = None, errors: dict | None = None, values: dict | None = None,
                       status: int = 200):
    app = duban()
    with app.db.reading() as db:
        tree = org_admin.region_tree(db)
        gaps = organisation_gaps.open_gaps(db)  # with their problems loaded
    return render_template("admin/organization.html", tree=tree, form=form, errors=errors or {},
                           gaps=gaps, side_labels=SIDE_LABELS, org_links=True,
                           values=values or {}, levels=REGION_LEVELS, unit_kinds=UNIT_KINDS, sides=SIDES,
                           level_choices=list(RegionLevel), kind_choices=list(UnitKind)), status


def _refused(form: str, failure: OrganizationInvalid):
    return _organization_page(form, field_errors(failure), request.form.to_dict(), 400)


@bp.post("/organization/regions")
def organization_region_create():
    form = request.form
    try:
        duban().create_region(current_user().id, form.get("name"), form.get("level"), form.get("parent_id") or None)
    except OrganizationInvalid as failure:
        return _refused("region-new", failure)
    flash(_("已新建区域：%(name)s", name=form.get("name", "").strip()), "success")
    return redirect(url_for("admin.organization"))


@bp.post("/organization/regions/<int:region_id>")
def organization_region_rename(region_id: int):
    name = request.form.get("name")
    try:
        duban().rename_region(current_user().id, region_id, name)
    except OrganizationInvalid as failure:
        return _refused(f"region-{region_id}", failure)
    flash(_("区域已更名为：%(name)s", name=(name or "").strip()), "success")
    return redirect(url_for("admin.organization") + f"#region-{region_id}")


@bp.post("/organization/units")
def organization_unit_create():
    form = request.form
    try:
        unit_id = duban().create_unit(current_user().id, form.get("name"), form.get("kind"),
                                      form.get("region_id") or None, form.get("short_name"))
    except OrganizationInvalid as failure:
        return _refused("unit-new", failure)
    flash(_("已新建单位：%(name)s", name=form.get("name", "").strip()), "success")
    return redirect(url_for("admin.organization") + f"#unit-{unit_id}")


@bp.post("/organization/units/<int:unit_id>")
def organization_unit_rename(unit_id: int):
    form = request.form
    try:
        duban().rename_unit(current_user().id, unit_id, form.get("name"), form.get("short_name"))
    except OrganizationInvalid as failure:
        return _refused(f"unit-{unit_id}", failure)
    flash(_("单位已更名为：%(name)s", name=form.get("name", "").strip()), "success")
    return redirect(url_for("admin.organization") + f"#unit-{unit_id}")


# -- 人员与职务 ----------------------------------------------------------------------------------


@bp.get("/officials")
def officials():
    return _officials_page()


def _officials_page(errors: dict | None = None, values: dict | None = None, status: int = 200):
    search, page = list_arguments()
    with duban().db.reading() as db:
        rows, total = org_admin.officials_page(db, search, page, PER_PAGE)
        items = [_official_row(official) for official in rows]
    return render_template("admin/officials.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           q=search, errors=errors or {}, values=values or {}), status


def _official_row(official) -> dict:
    return {"id": official.id, "name": official.name, "party_member": official.party_member,
            "username": official.user.username if official.user else None,
            "active": official.user.active if official.user else None,
            "posts": [_post(post) for post in sorted(official.posts, key=lambda p: (not p.is_head, p.id))]}


def _post(post) -> dict:
    return {"id": post.id, "unit_id": post.unit_id, "unit": post.unit.name, "region": post.unit.region.name,
            "title": post.title, "kind": post.kind, "kind_label": POST_KINDS[post.kind], "is_head": post.is_head}


@bp.post("/officials")
def officials_create():
    form = request.form
    try:
        official_id = duban().create_official(current_user().id, form.get("name"), form.get("party_member"),
                                              form.get("gender") or None, form.get("email"), form.get("mobile"),
                                              form.get("employee_number") or None)
    except OrganizationInvalid as failure:
        return _officials_page(field_errors(failure), form.to_dict(), 400)
    flash(_("已新建人员：%(name)s。请为其添加职务。", name=form.get("name", "").strip()), "success")
    return redirect(url_for("admin.officials_page", official_id=official_id))


@bp.get("/officials/<int:official_id>")
def officials_page(official_id: int):
    return _official_page(official_id)


def _official_page(official_id: int, form: str | None = None, errors: dict | None = None,
                   values: dict | None = None, status: int = 200):
    with duban().db.reading() as db:
        try:
            official = org_admin.get_official(db, official_id)
        except NotFound:
            abort(404, _("没有这个人员。"))
        view = _official_row(official)
        view.update(gender=official.gender, email=official.email, mobile=official.mobile,
                    employee_number=official.employee_number,
                    user_id=official.user.id if official.user else None)
        posts = {row["id"]: row for row in view["posts"]}
        for post in official.posts:
            outcome = org_admin.consequences_of_ending(db, post)
            posts[post.id]["ending"] = {"allowed": outcome.allowed, "ready_tasks": outcome.ready_tasks,
                                        "personal_tasks": outcome.personal_tasks,
                                        "open_problems": outcome.open_problems,
                                        "reasons": [reason_text(r) for r in outcome.reasons]}
        unit_groups = org_admin.units_by_region(db)
        groups = [(region.name, [(unit.id, unit.name) for unit in units]) for region, units in unit_groups]
    return render_template("admin/officials_detail.html", official=view, groups=groups, form=form,
                           errors=errors or {}, values=values or {}, post_kinds=POST_KINDS,
                           kind_choices=list(PostKind)), status


@bp.post("/officials/<int:official_id>")
def officials_update(official_id: int):
    form = request.form
    try:
        duban().update_official(current_user().id, official_id, name=form.get("name"),
                                party_member=form.get("party_member"), gender=form.get("gender") or None,
                                email=form.get("email"), mobile=form.get("mobile"),
                                employee_number=form.get("employee_number") or None)
    except OrganizationInvalid as failure:
        return _official_page(official_id, "official", field_errors(failure), form.to_dict(), 400)
    flash(_("已保存人员信息。"), "success")
    return redirect(url_for("admin.officials_page", official_id=official_id))


@bp.post("/officials/<int:official_id>/posts")
def officials_post_add(official_id: int):
    form = request.form
    try:
        duban().add_post(current_user().id, official_id, form.get("unit_id") or None, form.get("title"),
                         form.get("kind"), form.get("is_head"), form.get("succeed"))
    except OrganizationInvalid as failure:
        return _official_page(official_id, "post-new", field_errors(failure), form.to_dict(), 400)
    if form.get("succeed"):
        flash(_("已任职：%(title)s；原主要负责人的职务已同时结束。", title=form.get("title", "").strip()), "success")
    else:
        flash(_("已任职：%(title)s", title=form.get("title", "").strip()), "success")
    return redirect(url_for("admin.officials_page", official_id=official_id))


@bp.post("/officials/<int:official_id>/posts/<int:post_id>/end")
def officials_post_end(official_id: int, post_id: int):
    try:
        ended = duban().end_post(current_user().id, official_id, post_id, request.form.get("note"))
    except OrganizationInvalid as failure:
        return _official_page(official_id, f"post-{post_id}", field_errors(failure), request.form.to_dict(), 400)
    except NotFound:
        abort(404, _("该人员没有这个职务。"))
    flash(_("已结束职务：%(unit)s %(title)s", unit=ended["unit"], title=ended["title"]), "success")
    return redirect(url_for("admin.officials_page", official_id=official_id))

