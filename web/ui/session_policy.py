"""会话与口令策略: the session and password policy for the security administrator (安全管理员):
idle time, sessions per account and what a sign-in beyond them does, password expiry and
history, the forced change of a password an administrator set. The same
`Duban.session_policy` and `Duban.replace_session_policy` as the API."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.errors import Forbidden, Invalid
from engine.session_policy import BOUNDS, MODES

from .layout import current_user, duban, page_blueprint

bp = page_blueprint("session_policy", __name__)
MODE_LABELS = {"end_oldest": _l("结束最早的会话"), "refuse": _l("拒绝新的登录")}
FIELDS = ("idle_minutes", "max_sessions", "session_mode", "password_days", "password_history")


def _refused():
    abort(403, _("只有安全管理员可以查看和修改会话与口令策略。"))


def _form(policy, values=None, errors=None, status: int = 200):
    return render_template("session_policy/form.html", policy=policy, values=values or policy.as_dict(),
                           errors=errors or {}, bounds=BOUNDS, modes={m: MODE_LABELS[m] for m in MODES},
                           session_hours=f"{duban().settings.sign_in.session_hours:g}"), status


@bp.get("/security/policy")
def policy_form():
    try:
        policy = duban().session_policy(current_user().id)
    except Forbidden:
        _refused()
    return _form(policy)


@bp.post("/security/policy")
def policy_save():
    user = current_user()
    data = {name: request.form.get(name, "").strip() for name in FIELDS}
    data["force_change"] = request.form.get("force_change") == "on"
    try:
        duban().replace_session_policy(user.id, data)
    except Forbidden:
        _refused()
    except Invalid as invalid:
        errors = {name: _error(name) for name in invalid.errors}
        return _form(duban().policy_in_force(), data, errors, 400)
    flash(_("会话与口令策略已保存。"), "notice")
    return redirect(url_for("session_policy.policy_form"))


def _error(name: str) -> str:
    if name == "session_mode":
        return _("请选择一种方式。")
    if name == "password_days":
        low, high = BOUNDS[name]
        return _("应为 0（永不过期）或 %(low)s 至 %(high)s 之间的整数。", low=low, high=high)
    low, high = BOUNDS.get(name, (0, 0))
    return _("应为 %(low)s 至 %(high)s 之间的整数。", low=low, high=high)
