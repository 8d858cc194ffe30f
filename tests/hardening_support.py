"""What the hardening tests share: an app made with a given environment, signing in on the
page, reading a Set-Cookie header."""
from __future__ import annotations

import re

from web import create_app

from .support import PASSWORD


def make_app(duban, monkeypatch=None, **env):
    """A fresh app (its own rate-limit counts) on the test's engine, with DUBAN_* variables set."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app(duban=duban)
    app.config["TESTING"] = True
    return app


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def page_login(client, username, password=PASSWORD):
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def session_cookie(response) -> dict[str, str | bool]:
    """The attributes of the session's Set-Cookie header: {"value", "httponly", "samesite", ...}."""
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    parts = [p.strip() for p in header.split(";")]
    found: dict[str, str | bool] = {"value": parts[0].split("=", 1)[1]}
    for part in parts[1:]:
        name, _, value = part.partition("=")
        found[name.lower()] = value or True
    return found
