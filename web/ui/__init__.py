"""The pages people use (Jinja + htmx, no single-page app), one module per area, each with
its own Blueprint, installed on the app by `install(app)`:

- signin: sign-in/out and the language switch; layout: what every page shares;
- inbox: 我的待办 and the task page; ledger: 整改台账 and the problem page;
- registration: 登记问题; extension_requests: 延期申请, filed and decided;
- excel: importing and exporting ledgers; dashboard: 督办看板;
- accountability: 问责 cases and officials' records; interviews: 约谈; bulletins: 通报;
- supervision_notices: the 督办单 of an urging or a supervised case, as a page and a PDF;
- registration: 登记问题; extension_requests: 延期申请, filed and decided;
- admin: the organisation, users, rules, calendar and process definitions;
- notices: 通知 (the bell, the notices page) and the 待办 panel of the home pages.

A new area is one more module registered in `install` and one entry of `layout.NAV`."""
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
    """CSRF on every page form, translations, and the page blueprints."""
    # session cookie attributes and lifetime: web/security.py
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

    from . import (account, accountability, admin, bulletins, dashboard, excel, extension_requests, inbox, interviews,
                   labels, layout, ledger, notices, registration, security_accounts, security_log, session_policy, signin,
                   sso_settings, supervision_notices)

    layout.install(app)
    labels.install(app)
    notices.install(app)
    business = (inbox, ledger, registration, extension_requests, excel, dashboard, accountability,
                interviews, bulletins, supervision_notices, admin)
    for module in (signin, *business, security_log, security_accounts, session_policy, sso_settings, account):
        app.register_blueprint(module.bp)
    layout.keep_separated_administrators_out(app, {module.bp.name for module in business})
    app.register_blueprint(notices.bp)
    from . import oidc

    oidc.install(app)  # 统一身份认证, when DUBAN_OIDC_CONFIG names a provider
    app.register_blueprint(notices.bell_bp)
