"""Security headers on every kind of response (pages, the API, static and vendored files,
errors), the Content-Security-Policy read directive by directive, HSTS only over https (or
when told so), the proxy trusted only when configured, and no inline script, handler or style
left in the templates."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import make_response

from .hardening_support import make_app, page_login

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"
PATHS = ["/login", "/tasks", "/api/health", "/api/problems", "/api/openapi.json", "/api/docs", "/static/duban.css",
         "/vendor/htmx.org/dist/htmx.min.js", "/no/such/page", "/api/no/such/thing"]


def csp(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    policy = {}
    for part in header.split(";"):
        name, *sources = part.split()
        assert name not in policy, f"{name} twice"
        policy[name] = sources
    return policy


@pytest.fixture
def client(app, org):
    client = app.test_client()
    page_login(client, "admin")
    return client


def test_every_response_carries_the_headers(client):
    for path in PATHS:
        check_headers(client.get(path))


def check_headers(response):
    assert response.status_code < 500
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain http: no HSTS
    policy = csp(response)
    assert policy["default-src"] == ["'self'"] and policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"]
    assert policy["style-src-attr"] == ["'unsafe-inline'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    [nonce] = [s for s in policy["style-src"] if s.startswith("'nonce-")]
    assert policy["style-src"] == ["'self'", nonce] and len(nonce) > 30
    everything = " ".join(" ".join(v) for v in policy.values())
    assert "unsafe-eval" not in everything and "*" not in everything


def test_the_style_nonce_is_new_on_each_response(client):
    nonces = {csp(client.get("/login"))["style-src"][1] for _ in range(3)}
    assert len(nonces) == 3


def test_hsts_over_https_and_when_told(duban, org, monkeypatch):
    app = make_app(duban)
    assert "Strict-Transport-Security" in app.test_client().get("/api/health", base_url="https://duban.example").headers
    told = make_app(duban, monkeypatch, DUBAN_HTTPS="1")
    assert told.test_client().get("/login").headers["Strict-Transport-Security"] == "max-age=31536000"


def test_forwarded_headers_count_only_behind_a_configured_proxy(duban, org, monkeypatch):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    plain = make_app(duban).test_client().get("/login", headers=forwarded)
    assert "Strict-Transport-Security" not in plain.headers  # anyone can send the header
    behind = make_app(duban, monkeypatch, DUBAN_PROXY_FIX="1").test_client().get("/login", headers=forwarded)
    assert "Strict-Transport-Security" in behind.headers
    assert "Secure" in behind.headers["Set-Cookie"]


def test_a_view_keeps_a_stricter_policy_of_its_own(duban, org):
    app = make_app(duban)

    @app.get("/strict-test")
    def strict():
        response = make_response("x")
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        return response

    response = app.test_client().get("/strict-test")
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)


@pytest.mark.parametrize("template", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html")))
def test_no_template_has_an_inline_script_handler_or_style_block(template):
    text = re.sub(r"\{#.*?#\}", "", (TEMPLATES / template).read_text(encoding="utf-8"), flags=re.S)
    assert not INLINE_SCRIPT.search(text), "inline <script>: move it to web/static/"
    assert not HANDLER.search(text), "inline event handler: use addEventListener in web/static/"
    assert "<style" not in text.lower(), "inline <style>: move it to a stylesheet in web/static/"
    assert "hx-on" not in text and "javascript:" not in text.lower()


def test_the_pages_say_htmx_must_not_inject_styles(client):
    page = client.get("/tasks").get_data(as_text=True)
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false}\'>' in page
    assert not INLINE_SCRIPT.search(page) and not HANDLER.search(page)
    docs = client.get("/api/docs").get_data(as_text=True)
    assert not INLINE_SCRIPT.search(docs) and "swagger-init.js" in docs
