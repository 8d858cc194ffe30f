"""督办单: the notice of an urging or a supervised case as a printable A4 page, and the same page
as a PDF (WeasyPrint) to send or file. Whoever may see the problem may print its notices; the
sheet itself is engine/supervision_notice.py's reading of the stored escalation."""
from __future__ import annotations

import io
from pathlib import Path

from flask import render_template, send_file
from flask_babel import gettext as _

from engine.errors import NotFound

from .layout import current_user, duban, page_blueprint

bp = page_blueprint("supervision", __name__)

STYLE = Path(__file__).resolve().parent.parent / "static" / "supervision-notice.css"


def _notice(escalation_id: int):
    try:
        return duban().supervision_notice(escalation_id, current_user().id)
    except NotFound:
        from flask import abort

        abort(404, _("没有这份督办单：只有催办和专函督办（挂牌督办）出具督办单。"))


@bp.get("/escalations/<int:escalation_id>/notice")
def supervision_notice(escalation_id: int):
    return render_template("notice/supervision_notice.html", notice=_notice(escalation_id))


def _refuse_fetch(url: str, *args, **kwargs):
    """The PDF is made from Duban's own template and stylesheet: it fetches nothing."""
    raise ValueError(f"the 督办单 fetches no resource ({url[:80]})")


@bp.get("/escalations/<int:escalation_id>/notice.pdf")
def supervision_notice_pdf(escalation_id: int):
    notice = _notice(escalation_id)
    try:
        from weasyprint import CSS, HTML
    except (ImportError, OSError):   # the package, or the Pango it draws with, is not on this server
        from flask import abort

        abort(503, _("服务器暂不能生成 PDF（缺少 WeasyPrint 或 Pango，`make install` 会安装）；请用本页的“打印”另存为 PDF。"))
    page = render_template("notice/supervision_notice_document.html", notice=notice)
    pdf = HTML(string=page, url_fetcher=_refuse_fetch).write_pdf(
        stylesheets=[CSS(filename=str(STYLE), url_fetcher=_refuse_fetch)])
    return send_file(io.BytesIO(pdf), mimetype="application/pdf", as_attachment=False,
                     download_name=f"{notice.kind}-{notice.problem_code}-{notice.escalation_id}.pdf")
