"""Signing in and out (a session cookie signed with Duban's secret), and the language switch."""
from __future__ import annotations

from flask import abort, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from engine.errors import Unauthenticated

from .layout import LANGUAGES, duban, page_blueprint, safe_next

bp = page_blueprint("signin", __name__, public=True)


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = request.values.get("next")
    if request.method == "GET":
        return render_template("login.html", next=target, username="")
    username = request.form.get("username", "").strip()
    try:
        user, _token = duban().sign_in(username, request.form.get("password", ""))
    except Unauthenticated:
        return render_template("login.html", next=target, username=username,
                               error=_("用户名或密码错误。")), 401
    language = session.get("lang")
    session.clear()  # a fresh session on sign-in: nothing carried over from before
    if language:
        session["lang"] = language
    session["user_id"] = user.id
    session.permanent = True
    return redirect(safe_next(target))


@bp.post("/logout")
def logout():
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    return redirect(url_for("signin.login"))


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
