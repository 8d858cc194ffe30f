"""503 when the server is saturated: JSON for the API's clients, a short page for a browser,
with Retry-After either way.

The gate of `duban serve` (web/edge.py `at_most`) is driven as the server drives it, through
WSGI calls: a response whose body has not been closed holds its place. The pool's timeout is
the real exception SQLAlchemy raises, from a pool that refuses every checkout.
"""
from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from werkzeug.test import EnvironBuilder

from web import busy
from web.edge import at_most

from .hardening_support import page_login

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@contextmanager
def no_free_connection(duban):
    """Every connection checkout in the block fails as an exhausted pool's does."""
    def refuse(*_args):
        raise sa_exc.TimeoutError("QueuePool limit reached, connection timed out (refused by the test)")

    event.listen(duban.db.engine.pool, "checkout", refuse)
    try:
        yield
    finally:
        event.remove(duban.db.engine.pool, "checkout", refuse)


class Answer:
    def __init__(self, gated, path: str, accept: str | None = None):
        headers = {"Accept": accept} if accept else {}
        self.status, self.headers = None, {}

        def start_response(status, headers, exc_info=None):
            self.status, self.headers = status, dict(headers)

        self.iterable = gated(EnvironBuilder(path=path, headers=headers).get_environ(), start_response)
        self.body = b"".join(self.iterable)

    def close(self):
        if hasattr(self.iterable, "close"):
            self.iterable.close()


@pytest.mark.parametrize("path, accept, page", [
    ("/ledger", BROWSER_ACCEPT, True),             # a page
    ("/tasks/7", None, True),                     # a page, whatever the client accepts
    ("/api/docs", BROWSER_ACCEPT, True),           # a browser opening the API's docs
    ("/api/problems", "application/json", False),
    ("/api/problems", None, False),                # an API client that says nothing
    ("/api/problems", "*/*", False),
    ("/api/tasks", "text/html;q=0.5, application/json", False),
])
def test_the_gate_answers_a_browser_with_a_page_and_a_client_with_json(app, path, accept, page):
    gated = at_most(1, app, wait=0)
    holder = Answer(gated, "/api/health")   # its body is not closed: it holds the one place
    assert holder.status.startswith("200")
    try:
        busy_answer = Answer(gated, path, accept)
        assert busy_answer.status == "503 Service Unavailable"
        assert busy_answer.headers["Retry-After"] == "2"
        assert busy_answer.headers["Content-Length"] == str(len(busy_answer.body))
        if page:
            assert busy_answer.headers["Content-Type"] == "text/html; charset=utf-8"
            text = busy_answer.body.decode()
            assert "系统繁忙" in text and "Server busy" in text and "<script" not in text
            assert busy_answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
            assert busy_answer.headers["X-Content-Type-Options"] == "nosniff"
        else:
            assert busy_answer.headers["Content-Type"] == "application/json"
            assert json.loads(busy_answer.body) == {"code": "unavailable", "message": busy.MESSAGE, "errors": {}}
    finally:
        holder.close()
    after = Answer(gated, "/api/health")   # the place was given back
    assert after.status.startswith("200")
    after.close()


def test_no_free_connection_answers_a_page_in_the_users_language(app, duban, org):
    client = app.test_client()
    assert page_login(client, "responsible").status_code == 302
    with no_free_connection(duban):
        page = client.get("/tasks", headers={"Accept": BROWSER_ACCEPT})
    assert page.status_code == 503 and page.headers["Retry-After"] == "2"
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "系统繁忙" in html and "服务器繁忙，请稍候几秒后刷新页面。" in html and 'data-status="503"' in html
    assert page.headers["Content-Security-Policy"]  # the app's own headers are on it

    assert client.get("/lang/en?next=/tasks").status_code == 302
    with no_free_connection(duban):
        page = client.get("/tasks")
    assert page.status_code == 503 and page.headers["Retry-After"] == "2"
    html = page.get_data(as_text=True)
    assert "Server busy" in html and "The server is busy; please reload the page in a few seconds." in html
    assert client.get("/tasks").status_code == 200  # the pool free again


def test_no_free_connection_answers_the_api_with_json_and_a_browser_with_a_page(api, duban, org):
    bearer = {"Authorization": f"Bearer {api.token('admin')}"}
    with no_free_connection(duban):
        answer = api.client.get("/api/problems", headers=bearer)
        shown = api.client.get("/api/problems", headers={**bearer, "Accept": BROWSER_ACCEPT})
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "2"
    assert answer.json["code"] == "unavailable" and answer.json["errors"] == {}
    assert shown.status_code == 503 and shown.mimetype == "text/html" and shown.headers["Retry-After"] == "2"
    assert "系统繁忙" in shown.get_data(as_text=True)
