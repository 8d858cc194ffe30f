"""Signing in and out (a session cookie signed with Duban's secret), and the language switch."""
from __future__ import annotations

from flask import abort, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from engine import sign_in as guarded
from engine.errors import Locked, Unauthenticated

from .layout import LANGUAGES, current_user, duban, page_blueprint, safe_next

bp = page_blueprint("signin", __name__, public=True)


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = request.values.get("next")
    if request.method == "GET":
        return render_template("login.html", next=target, username="", roster=_demo_roster())
    username = request.form.get("username", "").strip()
    try:
        user, _token = duban().sign_in(username, request.form.get("password", ""))
    except Locked as locked:
        response = _locked_page(target, username, locked.retry_after)
        response.headers["Retry-After"] = str(locked.retry_after)
        return response
    except Unauthenticated:
        return render_template("login.html", next=target, username=username,
                               error=_("用户名或密码错误。")), 401
    _fresh_session()  # nothing carried over from before signing in
    session.update(user_id=user.id, **guarded.session_stamp(user))
    session.permanent = True
    return redirect(safe_next(target))


def _demo_roster():
    """The demo accounts by role with what waits for each, only where the server runs the demo
    data (settings.demo, DUBAN_DEMO=1); None everywhere else."""
    app = duban()
    if not app.settings.demo:
        return None
    from engine import clock
    from engine.demo import ROSTER_LABELS, PASSWORD, roster

    with app.db.reading() as db:
        groups = roster(db, clock.now())
    return {"groups": [(ROSTER_LABELS[role], entries) for role, entries in groups], "password": PASSWORD} if groups else None


@bp.errorhandler(429)
def _too_many(error):
    """flask-limiter: too many failed sign-ins from this address."""
    return render_template("login.html", next=request.values.get("next"),
                           username=request.form.get("username", "").strip(),
                           error=_("本机登录失败次数过多，请稍后再试。")), 429


def _locked_page(target, username: str, seconds: int):
    minutes = max(1, (seconds + 59) // 60)
    page = render_template("login.html", next=target, username=username,
                           error=_("该用户名登录失败次数过多，已暂时锁定，请 %(minutes)s 分钟后再试。", minutes=minutes))
    return make_response(page, 429)


@bp.post("/logout")
def logout():
    """Sign out: this session ends, and with it, server-side, every page session of the
    account (a copy of the cookie no longer works)."""
    user = current_user()
    if user is not None:
        duban().sign_out(user.id)
    _fresh_session()
    return redirect(url_for("signin.login"))


def _fresh_session() -> None:
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


@bp.get("/lang/<code>")
def switch_language(code: str):
    """Remember the chosen language in the session and go back to where the link was."""
    if code not in LANGUAGES:
        abort(404)
    session["lang"] = code
    return redirect(safe_next(request.args.get("next") or request.referrer and _local(request.referrer)))


def _local(url: str) -> str | None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.netloc and parts.netloc != request.host:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")
