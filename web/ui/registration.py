"""登记问题: the rectification office (环督办) registers one problem with its chain of
responsibility, picked from the organisation, and its deadline written as ledgers write it
("2027年6月底前", "长期坚持"), read by the Excel importer's reader and shown back before the
form is sent. The same `Duban.register_problem` as `POST /api/problems`: the problem gets its
process and its ledger entry. A refused form comes back with the message at its field and
nothing written; a registered problem opens its page."""
from __future__ import annotations

import re

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Conflict, DubanError, Invalid
from engine.excel import deadlines
from engine.models import (DeadlineKind, Official, Post, Problem, ProblemCategory, ProblemSource, Region, Role,
                           Unit)
from engine.problems import CODE_MAX, NewProblem
from engine.text import ID_MAX

from .layout import current_user, duban, page_blueprint

bp = page_blueprint("registration", __name__)

TITLE_MAX, BATCH_MAX, TEXT_MAX, SITE_MAX, SITES_MAX = 200, 60, 4000, 200, 200
LABELS = {"code": _l("问题编号"), "title": _l("问题标题"), "description": _l("问题描述"), "source": _l("问题来源"),
          "batch": _l("批次"), "category": _l("问题类别"), "region_id": _l("所属区域"), "lead_unit_id": _l("牵头单位"),
          "cooperating_unit_ids": _l("配合单位"), "responsible_official_id": _l("责任人"),
          "leading_official_id": _l("包抓领导"), "industry_unit_id": _l("行业主管部门"), "deadline": _l("整改时限"),
          "sites": _l("点位")}


def _office_only():
    user = current_user()
    if Role.ADMIN not in user.roles:
        duban().deny(user.id, "register problems", "problem", None)
    return user


def reading(text: str) -> tuple[deadlines.Deadline | None, str | None]:
    """The deadline a text names, as the Excel importer reads it, or the reason it names none."""
    if not text.strip():
        return None, _("请填写整改时限，如“2027年6月底前”“立行立改”“长期坚持”。")
    if len(text) > 100:
        return None, _("整改时限最多 100 个字符。")
    try:
        return deadlines.parse(text), None
    except deadlines.DeadlineError:
        return None, _("无法识别的整改时限：%(text)s。请写成“2027年6月底前”“2027-06-30”“立行立改”或“长期坚持”。",
                       text=text.strip())


def reading_text(found: deadlines.Deadline) -> str:
    """The reading said back: "截止 2027-06-30", "长期坚持", "长期坚持 · 截止 2027-06-30"."""
    due = _("截止 %(day)s", day=found.due.isoformat()) if found.due else None
    if found.kind == DeadlineKind.BY_DATE:
        return due
    kind = _("立行立改") if found.kind == DeadlineKind.IMMEDIATE else _("长期坚持")
    return f"{kind} · {due}" if due else kind


def _choices(db: Session) -> dict:
    regions = db.scalars(select(Region)).all()
    paths = {region.id: [r.name for r in reversed(region.lineage())] for region in regions}
    officials = db.scalars(select(Official).order_by(Official.name, Official.id)).all()
    posts: dict[int, list[str]] = {}
    for post in db.scalars(select(Post).order_by(Post.id)):
        posts.setdefault(post.official_id, []).append(f"{post.unit.name}{post.title}")
    return {
        "regions": [(r.id, "　" * (len(paths[r.id]) - 1) + r.name) for r in sorted(regions, key=lambda r: paths[r.id])],
        "units": [(u.id, u.name) for u in db.scalars(select(Unit).order_by(Unit.region_id, Unit.name))],
        "officials": [(o.id, o.name + (f"（{'、'.join(posts[o.id])}）" if o.id in posts else "")) for o in officials],
        "batches": list(db.scalars(select(Problem.batch).distinct().order_by(Problem.batch))),
        "sources": list(ProblemSource), "categories": list(ProblemCategory),
    }


def _form_page(values: dict, errors: dict, status: int = 200):
    with duban().db.reading() as db:
        choices = _choices(db)
    found, _ignored = reading(values.get("deadline", "")) if values.get("deadline") else (None, None)
    return render_template("ledger/register.html", values=values, errors=errors, labels=LABELS,
                           reading=reading_text(found) if found else None, **choices), status


@bp.get("/problems/new")
def register_form():
    _office_only()
    return _form_page({"cooperating_unit_ids": []}, {})


@bp.get("/problems/new/deadline")
def deadline_reading():
    """The htmx preview: how the deadline text reads."""
    _office_only()
    found, problem = reading(request.args.get("deadline", ""))
    return render_template("ledger/_deadline_reading.html", reading=reading_text(found) if found else None,
                           problem=problem)


def _id(form, name: str, errors: dict, optional: bool = False) -> int | None:
    text = (form.get(name) or "").strip()
    if not text:
        if not optional:
            errors[name] = [_("请选择%(field)s。", field=LABELS[name])]
        return None
    if not re.fullmatch(r"\d{1,10}", text) or not 1 <= int(text) <= ID_MAX:
        errors[name] = [_("%(field)s的选项无效。", field=LABELS[name])]
        return None
    return int(text)


def _text(form, name: str, errors: dict, most: int, optional: bool = False) -> str | None:
    text = (form.get(name) or "").strip()
    if not text:
        if not optional:
            errors[name] = [_("请填写%(field)s。", field=LABELS[name])]
        return None
    if len(text) > most:
        errors[name] = [_("%(field)s最多 %(max)s 个字符。", field=LABELS[name], max=most)]
    return text


def _choice(form, name: str, enum, errors: dict):
    text = (form.get(name) or "").strip()
    try:
        return enum(text)
    except ValueError:
        errors[name] = [_("请选择%(field)s。", field=LABELS[name])]
        return None


def read_form(form) -> tuple[NewProblem | None, dict, dict]:
    """The new problem from the form, the values as given (to fill the form again) and the
    messages by field."""
    errors: dict[str, list[str]] = {}
    values = {key: form.get(key, "") for key in ("code", "title", "description", "source", "batch", "category",
                                                  "region_id", "lead_unit_id", "responsible_official_id",
                                                  "leading_official_id", "industry_unit_id", "deadline", "sites")}
    values["cooperating_unit_ids"] = form.getlist("cooperating_unit_ids")
    code = _text(form, "code", errors, CODE_MAX)
    title = _text(form, "title", errors, TITLE_MAX)
    description = _text(form, "description", errors, TEXT_MAX)
    source = _choice(form, "source", ProblemSource, errors)
    batch = _text(form, "batch", errors, BATCH_MAX)
    category = _choice(form, "category", ProblemCategory, errors)
    region_id = _id(form, "region_id", errors)
    lead_unit_id = _id(form, "lead_unit_id", errors)
    responsible_id = _id(form, "responsible_official_id", errors)
    leading_id = _id(form, "leading_official_id", errors, optional=True)
    industry_id = _id(form, "industry_unit_id", errors, optional=True)
    cooperating = []
    for text in form.getlist("cooperating_unit_ids"):
        if not re.fullmatch(r"\d{1,10}", text.strip()) or not 1 <= int(text) <= ID_MAX:
            errors["cooperating_unit_ids"] = [_("%(field)s的选项无效。", field=LABELS["cooperating_unit_ids"])]
        elif int(text) not in cooperating:
            cooperating.append(int(text))
    if lead_unit_id is not None and lead_unit_id in cooperating:
        errors["cooperating_unit_ids"] = [_("牵头单位不必再列为配合单位。")]
    found, problem = reading(form.get("deadline") or "")
    if problem:
        errors["deadline"] = [problem]
    sites = [line.strip() for line in (form.get("sites") or "").splitlines() if line.strip()]
    if len(sites) > SITES_MAX or any(len(site) > SITE_MAX for site in sites):
        errors["sites"] = [_("点位每行一个，最多 %(count)s 个，每个最多 %(max)s 个字符。", count=SITES_MAX, max=SITE_MAX)]
    if errors:
        return None, values, errors
    return NewProblem(code=code, title=title, description=description, source=source, batch=batch,
                      category=category, region_id=region_id, lead_unit_id=lead_unit_id,
                      responsible_official_id=responsible_id, leading_official_id=leading_id,
                      industry_unit_id=industry_id, cooperating_unit_ids=cooperating, deadline_kind=found.kind,
                      deadline=found.due, sites=sites), values, {}


def engine_errors(failure: DubanError, new: NewProblem) -> dict[str, list[str]]:
    """The engine's refusal at the form's fields, in the page's language."""
    if isinstance(failure, Conflict) and "code" in failure.errors:
        return {"code": [_("问题编号 %(code)s 已经登记过，请换一个。", code=new.code)]}
    errors: dict[str, list[str]] = {}
    for key in failure.errors if isinstance(failure, Invalid) else ():
        name = key.split(".")[0]
        if name in LABELS:
            errors[name] = [_("所选的%(field)s不存在，请重新选择。", field=LABELS[name])
                            if name.endswith("_id") or name.endswith("_ids") else
                            _("%(field)s无效。", field=LABELS[name])]
    return errors or {"": [failure.message]}


@bp.post("/problems/new")
def register():
    user = _office_only()
    new, values, errors = read_form(request.form)
    if new is None:
        return _form_page(values, errors, 400)
    try:
        problem_id = duban().register_problem(user.id, new)
    except (Invalid, Conflict) as failure:
        return _form_page(values, engine_errors(failure, new), 400)
    return redirect(url_for("ledger.problem_page", problem_id=problem_id))
