"""我的会话: one's own live page sessions (when and where each began, when it was last used,
the browser), each ended by its own button, or all but this one at once (退出其他会话)."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from .layout import current_user, duban, page_blueprint, session_row

bp = page_blueprint("account", __name__)


@bp.get("/sessions")
def my_sessions():
    app, user = duban(), current_user()
    return render_template("account/sessions.html", items=app.my_sessions(user.id, session_row()),
                           policy=app.policy_in_force())


@bp.post("/sessions/<int:row_id>/end")
def end_session(row_id: int):
    if row_id == session_row():
        return redirect(url_for("account.my_sessions"))
    duban().end_my_session(current_user().id, row_id)
    flash(_("该会话已结束。"), "notice")
    return redirect(url_for("account.my_sessions"))


@bp.post("/sessions/end-others")
def end_others():
    count = duban().end_other_sessions(current_user().id, session_row())
    flash(_("已退出其他 %(count)s 个会话。", count=count), "notice")
    return redirect(url_for("account.my_sessions"))
