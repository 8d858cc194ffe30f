"""The answer when the server is saturated (503, with Retry-After): JSON for the API's
clients, a short page for a browser.

Two places answer it: the request gate of `duban serve` (web/edge.py `at_most`, outside
Flask: a static page in both languages) and the app when no database connection is free
within the pool's timeout (web/api: the error page in the user's language, built without the
database).
"""
from __future__ import annotations

import json

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

RETRY_AFTER = "2"  # seconds
MESSAGE = "the server is busy; try again shortly"

# what a page answer carries beside the app's own security headers (the gate has none)
_PAGE_HEADERS = [("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
                 ("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"),
                 ("Cache-Control", "no-store")]

STATIC_PAGE = """<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>系统繁忙 · Server busy · Duban</title></head>
<body>
<h1>系统繁忙</h1>
<p>当前访问人数较多，请稍候几秒后刷新页面。</p>
<h1 lang="en">Server busy</h1>
<p lang="en">Too many requests are being served right now. Please reload the page in a few seconds.</p>
</body>
</html>
""".encode()


def wants_page(path: str, accept: str | None) -> bool:
    """A browser asking for a page: a path not under /api/, or an Accept header that prefers
    HTML to JSON."""
    if not path.startswith("/api/"):
        return True
    offered = parse_accept_header(accept or "", MIMEAccept)
    return offered.best_match(["application/json", "text/html"]) == "text/html"


def json_body() -> bytes:
    return json.dumps({"code": "unavailable", "message": MESSAGE, "errors": {}}).encode()


def gate_answer(environ, start_response):
    """The gate's 503 (a WSGI answer): the static page or the JSON error body."""
    page = wants_page(environ.get("PATH_INFO", ""), environ.get("HTTP_ACCEPT"))
    body = STATIC_PAGE if page else json_body()
    headers = [("Content-Type", "text/html; charset=utf-8" if page else "application/json"),
               ("Content-Length", str(len(body))), ("Retry-After", RETRY_AFTER)]
    start_response("503 Service Unavailable", headers + (_PAGE_HEADERS if page else []))
    return [body]


def page_answer():
    """The app's 503 page in the user's language. It must not need the database: the page
    shows the user the request already knew (or nobody) and reads nothing more."""
    from flask import g, make_response, render_template
    from flask_babel import gettext as _

    g.setdefault("user", None)  # web.ui.layout.current_user() then answers without a query
    try:
        body = render_template("error.html", status=503, message=_("服务器繁忙，请稍候几秒后刷新页面。"))
    except Exception:  # noqa: BLE001 - the busy answer itself must not fail
        body = STATIC_PAGE
    response = make_response(body, 503)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Retry-After"] = RETRY_AFTER
    response.headers["Cache-Control"] = "no-store"
    return response
