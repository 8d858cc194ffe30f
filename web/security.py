"""The web door's defences: security headers and the Content-Security-Policy (flask-talisman),
session cookies, the reverse proxy, and rate limits on signing in (flask-limiter).

Configuration (environment):
- DUBAN_HTTPS=1: Duban is reached over https (TLS ends at a proxy in front of it): session
  cookies get `Secure` and responses HSTS. A request that arrives over https sets both anyway.
- DUBAN_PROXY_FIX=N: N reverse proxies in front set X-Forwarded-For/-Proto/-Host/-Port; trust
  them (werkzeug's ProxyFix) for the client's address (rate limits) and the scheme. Unset: the
  X-Forwarded-* headers are ignored.
- DUBAN_LOGIN_RATE_LIMIT (default "10/minute"): failed sign-ins per client address, on the
  sign-in page and on POST /api/auth/token; successful ones are not counted, so an office
  behind one address is not locked out by its own colleagues.
- DUBAN_RATELIMIT_STORAGE (default "memory://", per process): e.g. "redis://host:6379/0" so
  that several workers and hosts share one count. Checked at start: a URL the limiter cannot
  use, or a storage that does not answer, stops the start with an error naming the setting
  (once running, a storage outage is logged and sign-ins go on unlimited: `swallow_errors`).

The policy allows scripts from this site only (no inline scripts, no eval), styles from this
site or with the request's nonce (`csp_nonce()` in templates), and style attributes (bpmn-js,
ECharts and Swagger UI set element styles). A view that sets its own Content-Security-Policy
or X-Frame-Options (a stricter one, e.g. for uploaded files) keeps it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_talisman import Talisman

from engine.errors import Misconfigured

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",              # and the request's nonce (content_security_policy_nonce_in)
    "style-src-attr": "'unsafe-inline'",  # style="" attributes: bpmn-js, ECharts, Swagger UI, bars
    "img-src": "'self' data: blob:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
HSTS = "max-age=31536000"
SIGN_IN_ENDPOINTS = ("signin.login", "auth.token", "oidc.second_factor")


def _flag(name: str) -> bool:
    return (os.environ.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class WebSecurity:
    https: bool = False
    proxies: int = 0
    login_rate: str = "10/minute"
    ratelimit_storage: str = "memory://"

    @classmethod
    def from_env(cls) -> "WebSecurity":
        env = os.environ.get
        return cls(https=_flag("DUBAN_HTTPS"), proxies=int(env("DUBAN_PROXY_FIX") or 0),
                   login_rate=env("DUBAN_LOGIN_RATE_LIMIT") or "10/minute",
                   ratelimit_storage=env("DUBAN_RATELIMIT_STORAGE") or "memory://")


def _csp(app: Flask) -> dict:
    """The policy, with the origins the pages' forms may post on to (the sign-out form goes on
    to the identity provider's end_session_endpoint: web/ui/oidc.py)."""
    extra = app.extensions.get("duban_form_action") or []
    return CSP if not extra else dict(CSP, **{"form-action": " ".join([CSP["form-action"], *extra])})


class _Talisman(Talisman):
    """flask-talisman, except that a response which already carries its own policy keeps it."""

    def _set_content_security_policy_headers(self, headers, options):
        if "Content-Security-Policy" in headers:
            options = dict(options, content_security_policy=None)
        super()._set_content_security_policy_headers(headers, options)

    def _set_frame_options_headers(self, headers, options):
        if "X-Frame-Options" not in headers:
            super()._set_frame_options_headers(headers, options)


class _SessionCookies(SecureCookieSessionInterface):
    """`Secure` when configured so (DUBAN_HTTPS) or when this request came over https."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def install(app: Flask, session_hours: float, config: WebSecurity | None = None) -> Limiter:
    """Call once the blueprints are registered (the sign-in views get their rate limit)."""
    config = config or WebSecurity.from_env()
    app.extensions["duban_web_security"] = config
    if config.proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = config.proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)

    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=config.https,
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=session_hours))
    app.session_interface = _SessionCookies()

    _Talisman(app, force_https=False, session_cookie_secure=False, strict_transport_security=False,
              frame_options="DENY", content_security_policy=_csp(app), content_security_policy_nonce_in=["style-src"],
              referrer_policy="same-origin", x_content_type_options=True,
              permissions_policy={"browsing-topics": "()", "camera": "()", "microphone": "()",
                                  "geolocation": "()", "payment": "()"})

    @app.after_request
    def _hsts(response):
        if config.https or request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    check_ratelimit_storage(config.ratelimit_storage)
    limiter = Limiter(get_remote_address, app=app, storage_uri=config.ratelimit_storage,
                      headers_enabled=True, swallow_errors=True, default_limits=[])
    failed = lambda response: response.status_code >= 400  # noqa: E731 (only failures count)
    for endpoint in SIGN_IN_ENDPOINTS:
        view = app.view_functions[endpoint]
        app.view_functions[endpoint] = limiter.limit(config.login_rate, methods=["POST"], deduct_when=failed)(view)
    return limiter


STORAGE_SETTING = "DUBAN_RATELIMIT_STORAGE"


def check_ratelimit_storage(uri: str) -> None:
    """The rate limit's storage must be one the limiter can use and must answer now; otherwise
    Misconfigured, naming the setting (a password in the URL is not repeated)."""
    from limits.errors import ConfigurationError
    from limits.storage import storage_from_string

    shown = _without_password(uri)
    try:
        # a start that waits on an unreachable host for a few seconds, not the OS's minutes
        options = {"socket_connect_timeout": 5, "socket_timeout": 5} if uri.startswith("redis") else {}
        storage = storage_from_string(uri, **options)
    except (ConfigurationError, ValueError, TypeError) as error:
        reason = f"not a storage the rate limiter can use ({error}); use memory:// or redis://host:port/db"
        raise Misconfigured(f"{STORAGE_SETTING}={shown!r} is not usable", {STORAGE_SETTING: [reason]}) from None
    try:
        answering = storage.check()
    except Exception:  # noqa: BLE001 - any failure to answer is the same refusal
        answering = False
    if not answering:
        raise Misconfigured(f"{STORAGE_SETTING}={shown!r} does not answer",
                            {STORAGE_SETTING: ["nothing answers at that address: is the server running?"]})


def _without_password(uri: str) -> str:
    try:
        parts = urlsplit(uri)
        if parts.password is None:
            return uri
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return uri.split("@")[-1]
