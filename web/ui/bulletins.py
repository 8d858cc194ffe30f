"""通报: the daily bulletins issued (一天一通报), one bulletin as a page with its charts, its
Word and Excel downloads, and issuing today's bulletin on demand.

Who reads them is the engine's rule (engine.bulletin.may_read: the office, the discipline
office and leaders); only the office issues or remakes one.
"""
from __future__ import annotations

import io
import re
from datetime import date

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from engine import clock, ledger
from engine.bulletin import render
from engine.errors import Forbidden, NotFound
from engine.models import Role

from .layout import current_user, duban, page_blueprint, page_number

bp = page_blueprint("bulletin", __name__)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PER_PAGE = 50  # bulletins a page, newest day first


def _readers_only(call, *args):
    """An engine read that only readers of bulletins may make; a 403 page (the engine records it)."""
    try:
        return call(*args, current_user().id)
    except Forbidden:
        abort(403, _("通报仅供环督办、纪委监委和领导查阅。"))


def _day(text: str) -> date:
    """The day of an address (YYYY-MM-DD); a 404 page for anything else."""
    try:
        if not _DAY.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        abort(404, _("“%(text)s”不是有效的日期，通报地址中的日期应写作 YYYY-MM-DD。", text=text))


def _bulletin(text: str):
    day = _day(text)
    try:
        return _readers_only(duban().bulletin, day)
    except NotFound:
        abort(404, _("%(day)s 没有发布通报。", day=day.isoformat()))


def _is_office() -> bool:
    return Role.ADMIN in current_user().roles


def made_by(bulletin) -> str:
    return _("定时生成") if bulletin.made_by in (None, ledger.SYSTEM) else bulletin.made_by


# -- the list and issuing -----------------------------------------------------------------------

@bp.get("/bulletins")
def bulletin_list():
    page = page_number()
    issued = _readers_only(lambda user_id: duban().bulletins(user_id, page, PER_PAGE))
    today = clock.today()
    return render_template("bulletins/list.html", bulletins=issued.items, today=today, made_by=made_by,
                           today_issued=_issued_on(today, issued.items, page), office=_is_office(),
                           page=page, per_page=PER_PAGE, total=issued.total)


def _issued_on(day: date, listed: list, page: int):
    """The bulletin of `day` if one was issued: the first of the first page (newest day first)."""
    if page == 1:
        return next((b for b in listed if b.day == day), None)
    try:
        return duban().bulletin(day, current_user().id)
    except NotFound:
        return None


@bp.post("/bulletins")
def make():
    """Issue today's bulletin now (环督办); a day already issued is shown as it stands."""
    user = current_user()
    try:
        bulletin, made = duban().make_bulletin(user.id, clock.today(), False)
    except Forbidden:
        abort(403, _("只有环督办可以生成通报。"))
    if made:
        flash(_("已生成第 %(n)s 期通报（%(day)s）。", n=bulletin.number, day=bulletin.day.isoformat()), "success")
    else:
        flash(_("今日通报已生成（第 %(n)s 期），以下是已发布的内容。", n=bulletin.number), "info")
    return redirect(url_for("bulletin.bulletin_page", day=bulletin.day.isoformat()), 303)


@bp.post("/bulletins/<day>/remake")
def remake(day: str):
    """Compose an issued bulletin again from the current data, under its number (环督办, confirmed)."""
    bulletin = _bulletin(day)
    if not _is_office():
        try:
            duban().deny(current_user().id, f"remake the bulletin of {bulletin.day.isoformat()}", "bulletin",
                         bulletin.day.isoformat())
        except Forbidden:
            abort(403, _("只有环督办可以重新生成通报。"))
    if request.form.get("confirm") != "1":
        abort(400, _("重新生成会以当前数据替换第 %(n)s 期的内容：请勾选“确认重新生成”后再提交。", n=bulletin.number))
    remade, _made = duban().make_bulletin(current_user().id, bulletin.day, True)
    flash(_("已按当前数据重新生成第 %(n)s 期通报，期号不变。", n=remade.number), "success")
    return redirect(url_for("bulletin.bulletin_page", day=remade.day.isoformat()), 303)


# -- one bulletin ---------------------------------------------------------------------------------

@bp.get("/bulletins/<day>")
def bulletin_page(day: str):
    bulletin = _bulletin(day)
    return render_template("bulletins/bulletin.html", b=bulletin, made_by=made_by(bulletin), office=_is_office(),
                           charts=_charts(bulletin), chinese_date=render.chinese_date)


def _charts(b) -> dict:
    """What the page's ECharts draw; every label translated here, every figure from the bulletin."""
    t = b.totals
    green = lambda row: row["in_progress"] - row["red"] - row["yellow"]  # noqa: E731
    return {
        "labels": {"closed": _("已销号"), "green": _("推进中（绿灯）"), "yellow": _("临近时限（黄灯）"),
                   "red": _("逾期（红灯）"), "close_rate": _("销号率（%）"), "count": _("次数")},
        "status": {"closed": t["closed"], "green": t["green"], "yellow": t["yellow"], "red": t["red"]},
        "regions": [{"name": r["name"], "closed": r["closed"], "green": green(r), "yellow": r["yellow"],
                     "red": r["red"], "close_rate": r["close_rate"]} for r in b.regions],
        "units": [{"name": u["name"], "closed": u["closed"], "green": green(u), "yellow": u["yellow"],
                   "red": u["red"], "close_rate": u["close_rate"]} for u in b.units],
        "escalations": [{"name": row["name"], "count": row["count"]} for row in b.escalations_by_level],
    }


def _download(day: str, suffix: str, mimetype: str, make):
    bulletin = _bulletin(day)
    name = f"{bulletin.title}第{bulletin.number}期（{bulletin.day.isoformat()}）.{suffix}"
    return send_file(io.BytesIO(make(bulletin)), mimetype=mimetype, as_attachment=True, download_name=name)


@bp.get("/bulletins/<day>.docx")
def download_docx(day: str):
    return _download(day, "docx", DOCX, render.to_docx)


@bp.get("/bulletins/<day>.xlsx")
def download_xlsx(day: str):
    return _download(day, "xlsx", XLSX, render.to_xlsx)
