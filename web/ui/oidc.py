"""统一身份认证: signing in through the office's OpenID Connect provider (engine/oidc.py), when
`DUBAN_OIDC_CONFIG` names its configuration.

- `/login/oidc` sends the browser to the provider (a link on the sign-in page, so that no form
  posts off the site); `/login/oidc/callback` takes it back: the state, the code, the ID token,
  then the person admitted, the second factor where the policy asks for it and the provider's
  `amr` does not say one was given, and a page session as a password sign-in begins it.
- `/login/oidc/second-factor`: the authenticator's code (or its enrolment) of such a sign-in.
- Signing out of a session that began here sends the browser on to the provider's
  end_session_endpoint (`end_session_redirect`, called by signin.logout).

Every refusal is the sign-in page with a Chinese message and a 4xx (503 when the provider does
not answer), and a security event."""
from __future__ import annotations

import hmac
import os

from flask import Flask, abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from engine import clock, oidc
from engine.errors import Locked, Unauthenticated
from engine.external_accounts import NotAdmitted
from engine.areas.sessions import SessionLimitReached
from engine.second_factor import SecondFactorNeeded

from .layout import duban, page_blueprint, safe_next

bp = page_blueprint("oidc", __name__, public=True)
EXTENSION = "duban_oidc"
FLOW_SECONDS = 600  # how long a sign-in may stay at the provider (and at the second factor)
ID_TOKEN = "oidc_id_token"  # kept in the page session for the provider's sign-out


def install(app: Flask, config: oidc.Config | None = None) -> None:
    """Read the configuration (`config`, else the file DUBAN_OIDC_CONFIG names; neither: no
    button, and the views answer 404) and register the views."""
    path = os.environ.get(oidc.ENV, "").strip()
    if config is None and path:
        config = oidc.load(path)
    app.extensions[EXTENSION] = oidc.Provider(config) if config is not None else None
    if config is not None:
        app.extensions.setdefault("duban_form_action", []).append(config.origin)
    app.register_blueprint(bp)

    @app.context_processor
    def _button():
        provider = app.extensions.get(EXTENSION)
        if provider is None:
            return {}
        return {"oidc_button": provider.config.button_label or _("统一身份认证")}


def provider() -> oidc.Provider | None:
    return current_app.extensions.get(EXTENSION)


def _configured() -> oidc.Provider:
    found = provider()
    if found is None:
        abort(404)
    return found


def _redirect_uri(config: oidc.Config) -> str:
    return config.redirect_uri or url_for("oidc.callback", _external=True)


STATUS = {"state_mismatch": 400, "code": 400, "access_denied": 403, "provider_error": 401, "unreachable": 503,
          "token_exchange": 401, "invalid_token": 401, "claims_missing": 401}


def _message(reason: str, **params) -> str:
    texts = {
        "state_mismatch": _("登录请求已失效或来源不明，请重新登录。"),
        "access_denied": _("您在统一身份认证平台上取消了授权，未能登录。"),
        "provider_error": _("统一身份认证平台拒绝了登录请求（%(error)s）。", error=params.get("error", "")),
        "code": _("统一身份认证平台的回调缺少 code 参数。"),
        "unreachable": _("统一身份认证平台暂时无法访问，请稍后再试，或使用本地账号登录。"),
        "token_exchange": _("统一身份认证平台未能签发令牌，请重新登录。"),
        "invalid_token": _("统一身份认证平台返回的身份令牌无效，未能登录。"),
        "claims_missing": _("统一身份认证平台未提供必需的用户信息（%(claim)s）。", claim=params.get("claim", "")),
        "no_mapped_role": _("您在统一身份认证平台所属的用户组未对应督办系统的任何角色，不能登录。请联系系统管理员。"),
        "separated_admins": _("统一身份认证平台给了您两种管理员角色，按三员分立不能登录。请联系系统管理员。"),
        "employee_number_taken": _("您的工号已关联另一个账号，不能登录。请联系系统管理员。"),
        "username_taken": _("督办系统中已有同名的本地账号，不能自动关联。请联系系统管理员。"),
        "disabled": _("该账号已被系统管理员停用。"),
    }
    return texts.get(reason) or _("统一身份认证登录失败，请重新登录。")


def _refusal(reason: str, status: int | None = None, next_: str | None = None, **params):
    page = render_template("login.html", next=next_, username="", error=_message(reason, **params))
    response = current_app.make_response((page, status or STATUS.get(reason, 403)))
    if response.status_code == 503:
        response.headers["Retry-After"] = "60"
    return response


@bp.get("/login/oidc")
def start():
    found = _configured()
    target = request.args.get("next") or None  # checked by safe_next once signed in
    try:
        begun = found.start(_redirect_uri(found.config))
    except oidc.ProviderError as error:
        oidc.refused(duban(), None, error.reason)
        return _refusal(error.reason)
    session["oidc_flow"] = {"state": begun.state, "nonce": begun.nonce, "verifier": begun.verifier,
                            "next": target, "until": clock.now().timestamp() + FLOW_SECONDS}
    return redirect(begun.url)


@bp.get("/login/oidc/callback")
def callback():
    found = _configured()
    flow = session.pop("oidc_flow", None)
    app = duban()
    state = request.args.get("state", "")
    if (not isinstance(flow, dict) or not state or not hmac.compare_digest(state, str(flow.get("state", "")))
            or float(flow.get("until", 0)) < clock.now().timestamp()):
        oidc.refused(app, None, "state_mismatch")
        return _refusal("state_mismatch")
    target = flow.get("next")
    issuer = request.args.get("iss")  # RFC 9207: the answer comes from the provider the browser was sent to
    if issuer is not None and issuer.rstrip("/") != found.config.issuer:
        oidc.refused(app, None, "state_mismatch", {"iss": issuer[:200]})
        return _refusal("state_mismatch")
    error = request.args.get("error")
    if error:
        reason = "access_denied" if error == "access_denied" else "provider_error"
        oidc.refused(app, None, reason, {"error": error[:100]})
        return _refusal(reason, error=error[:100])
    code = request.args.get("code", "")
    if not code:
        oidc.refused(app, None, "code")
        return _refusal("code")
    try:
        claims, id_token = found.finish(_redirect_uri(found.config), code, flow["nonce"], flow["verifier"])
        identity = found.config.identity(claims)
    except oidc.ClaimsMissing as missing:
        oidc.refused(app, None, missing.reason, {"claim": missing.claim})
        return _refusal(missing.reason, claim=missing.claim)
    except oidc.ProviderError as failed:
        oidc.refused(app, None, failed.reason)
        return _refusal(failed.reason)
    try:
        admitted = oidc.sign_in(app, identity, found.config.second_factor_given(claims))
    except NotAdmitted as refusal:
        return _refusal(refusal.reason, 403)
    if admitted.needs is not None:
        session["oidc_pending"] = {"user_id": admitted.user.id, "id_token": id_token, "next": target,
                                   "until": clock.now().timestamp() + FLOW_SECONDS}
        return redirect(url_for("oidc.second_factor"))
    return _signed_in(admitted.user, id_token, target)


def _signed_in(user, id_token: str, target: str):
    from .signin import _after_sign_in, _begin

    try:
        page = duban().open_page_session(user.id, request.headers.get("User-Agent"), session.get("sid"))
    except SessionLimitReached:
        return render_template("login.html", next=target, username="", error=_(
            "该账号的在线会话已达上限，不能再登录。请先在其他地方退出，或在已登录的页面“我的会话”中结束一个会话。")), 409
    _begin(user, page)
    session[ID_TOKEN] = id_token
    return redirect(_after_sign_in(page, target))


def _pending() -> dict | None:
    waiting = session.get("oidc_pending")
    if not isinstance(waiting, dict) or float(waiting.get("until", 0)) < clock.now().timestamp():
        return None
    return waiting


@bp.route("/login/oidc/second-factor", methods=["GET", "POST"])
def second_factor():
    """The authenticator's code after the provider (or its enrolment, which the policy asks
    for, with the recovery codes shown once)."""
    _configured()
    waiting = _pending()
    if waiting is None:
        session.pop("oidc_pending", None)
        return redirect(url_for("signin.login"))
    app = duban()
    user_id = waiting["user_id"]
    with app.db.reading() as db:
        from engine import second_factor as factor
        from engine.models import User

        user = db.get(User, user_id)
        enrolled = user is not None and factor.enrolled(db, user)
    if not enrolled:
        return _enrolment(app, waiting)
    if request.method == "GET":
        return render_template("oidc_second_factor.html")
    try:
        user = oidc.complete(app, user_id, request.form.get("code", "").strip())
    except Locked as locked:
        session.pop("oidc_pending", None)
        minutes = max(1, (locked.retry_after + 59) // 60)
        page = render_template("login.html", next=None, username="",
                               error=_("该用户名登录失败次数过多，已暂时锁定，请 %(minutes)s 分钟后再试。", minutes=minutes))
        return page, 429, {"Retry-After": str(locked.retry_after)}
    except (SecondFactorNeeded, Unauthenticated):
        return render_template("oidc_second_factor.html", error=_("动态口令错误或已使用过。")), 401
    return _signed_in(user, waiting["id_token"], waiting["next"])


def _enrolment(app, waiting: dict):
    from .signin import _enrol_page

    action = url_for("oidc.second_factor")
    if request.method == "GET":
        return _enrol_page(app.begin_second_factor(waiting["user_id"]), action=action)
    try:
        user, codes = oidc.confirm_enrolment(app, waiting["user_id"], request.form.get("code", ""))
    except SecondFactorNeeded:
        return _enrol_page(app.begin_second_factor(waiting["user_id"]),
                           _("动态口令不对：请输入身份验证器上当前显示的 6 位数字（并检查手机时间）。"), 400, action=action)
    _signed_in(user, waiting["id_token"], waiting["next"])
    return render_template("second_factor_codes.html", codes=codes, next=safe_next(waiting["next"]))


def end_session_redirect(id_token: str | None):
    """After signing out of a session that began at the provider: the redirect to the
    provider's end_session_endpoint (with id_token_hint and post_logout_redirect_uri), else None."""
    found = provider()
    if found is None or not id_token:
        return None
    back = found.config.post_logout_redirect_uri or url_for("signin.login", _external=True)
    url = found.end_session_url(id_token, back)
    return redirect(url) if url else None
