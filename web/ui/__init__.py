"""The pages people use (Jinja + htmx, no single-page app): sign-in, the layout every page
extends, and 我的待办. Installed on the app by `install(app)`.

A later page is one more module here with its own Blueprint, registered in `install`, and
one entry of `layout.NAV` switched on (give it its endpoint)."""
from __future__ import annotations

from flask import Flask, request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from .layout import LANGUAGES, DEFAULT_LANGUAGE

csrf = CSRFProtect()
babel = Babel()


def select_locale() -> str:
    chosen = session.get("lang")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def install(app: Flask) -> None:
    """Sessions, CSRF on every page form, translations, and the page blueprints."""
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")  # web/translations
    # the API authenticates with bearer tokens, not cookies: CSRF is checked on page POSTs only
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)

    @app.before_request
    def _check_csrf():
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE") and not request.path.startswith("/api/"):
            csrf.protect()

    from . import inbox, layout, signin

    layout.install(app)
    app.register_blueprint(signin.bp)
    app.register_blueprint(inbox.bp)
