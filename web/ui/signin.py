"""Signing in and out (a session cookie signed with Duban's secret), and the language switch."""
from __future__ import annotations

from flask import abort, flash, g, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from engine import clock
from engine.directory import DirectoryUnavailable
from engine.external_accounts import NotAdmitted
from engine.areas.sessions import SessionLimitReached
from engine.second_factor import SecondFactorNeeded
from engine.errors import Invalid, Locked, Unauthenticated

from .layout import LANGUAGES, current_user, duban, page_blueprint, password_due, safe_next, session_row

bp = page_blueprint("signin", __name__, public=True)


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = request.values.get("next")
    if request.method == "GET":
        return render_template("login.html", next=target, username="", roster=_demo_roster())
    username = request.form.get("username", "").strip()
    code = request.form.get("code", "").strip() or None
    try:
        user, page = duban().sign_in(username, request.form.get("password", ""), door="page", code=code,
                                     agent=request.headers.get("User-Agent"), replaces=session.get("sid"))
    except SessionLimitReached:
        return render_template("login.html", next=target, username=username, error=_(
            "该账号的在线会话已达上限，不能再登录。请先在其他地方退出，或在已登录的页面“我的会话”中结束一个会话。")), 409
    except Locked as locked:
        response = _locked_page(target, username, locked.retry_after)
        response.headers["Retry-After"] = str(locked.retry_after)
        return response
    except SecondFactorNeeded as needed:
        if needed.enrol and needed.user_id is not None:  # a right password; the account enrols first
            _fresh_session()
            session["enrol"] = {"user_id": needed.user_id, "until": clock.now().timestamp() + ENROL_SECONDS,
                                "next": safe_next(target)}
            return redirect(url_for("signin.enrol"))
        message = _("动态口令错误或已使用过。") if needed.counts else _("请输入身份验证器上的 6 位动态口令（或一个恢复码）。")
        return render_template("login.html", next=target, username=username, error=message, ask_code=True), 401
    except (DirectoryUnavailable, NotAdmitted) as refused:
        return _directory_refusal(refused, target, username)
    except Unauthenticated:
        return render_template("login.html", next=target, username=username,
                               error=_("用户名或密码错误。")), 401
    _begin(user, page)
    return redirect(_after_sign_in(page, target))


@bp.context_processor
def _sign_in_kind():
    """The login page says when names are the office's directory accounts (统一身份认证)."""
    return {"directory_sign_in": duban().directory is not None}


def _directory_refusal(refused, target, username: str):
    """The directory could not be asked, or it vouched for a person Duban does not let in."""
    if isinstance(refused, DirectoryUnavailable):
        error, status = _("统一身份认证服务暂时无法连接，请稍后再试；如急需登录，请联系系统管理员。"), 503
    else:
        error, status = {
            "no_mapped_role": _("您的统一身份认证账号不在任何授权督办系统角色的用户组中，请联系系统管理员。"),
            "disabled": _("该账号已被系统管理员停用。"),
            "username_taken": _("本系统已有同名的本地账号，请联系系统管理员通过工号关联。"),
            "employee_number_taken": _("该工号已关联本系统的另一个账号，请联系系统管理员。"),
            "separated_admins": _("用户组授予了两个互斥的管理员角色（三员分立），请联系系统管理员。"),
        }.get(refused.reason, _("统一身份认证账号未获准登录本系统，请联系系统管理员。")), 401
    return render_template("login.html", next=target, username=username, error=error), status


def _begin(user, page) -> None:
    """The page session: its id in the cookie, the 鉴别警示 (the previous sign-in and the
    failures since) shown once on the first page."""
    _fresh_session()  # nothing carried over from before signing in
    session.update(user_id=user.id, sid=page.session_id)
    session.permanent = True
    g.pop("user", None)
    # the 鉴别警示, shown once on the first page, in the language that page is read in
    session["sign_in_notice"] = {"at": page.previous_at.isoformat() if page.previous_at else None,
                                 "from": page.previous_source, "failures": page.failures_since}


def _after_sign_in(page, target) -> str:
    if page.password_due:
        return url_for("signin.change_password", next=safe_next(target))
    return safe_next(target)


ENROL_SECONDS = 600  # how long the enrolment page waits after the password


def _enrolling() -> dict | None:
    """The enrolment a right password began in this session, while it is fresh."""
    waiting = session.get("enrol")
    if not isinstance(waiting, dict) or float(waiting.get("until", 0)) < clock.now().timestamp():
        return None
    return waiting


@bp.route("/login/second-factor", methods=["GET", "POST"])
def enrol():
    """绑定身份验证器: the account's policy asks for a second factor it has not set up yet. The
    page shows a QR code for the authenticator app (and the secret to type), takes the app's
    first code, then shows the ten recovery codes once and signs in."""
    waiting = _enrolling()
    if waiting is None:
        session.pop("enrol", None)
        return redirect(url_for("signin.login"))
    app = duban()
    if request.method == "GET":
        return _enrol_page(app.begin_second_factor(waiting["user_id"]))
    try:
        user, codes, page = app.confirm_second_factor(waiting["user_id"], request.form.get("code", ""), door="page",
                                                      agent=request.headers.get("User-Agent"))
    except SecondFactorNeeded:
        return _enrol_page(app.begin_second_factor(waiting["user_id"]),
                           _("动态口令不对：请输入身份验证器上当前显示的 6 位数字（并检查手机时间）。"), 400)
    except SessionLimitReached:
        session.pop("enrol", None)
        return render_template("login.html", next=waiting.get("next"), username="", error=_(
            "该账号的在线会话已达上限，不能再登录。请先在其他地方退出，或在已登录的页面“我的会话”中结束一个会话。")), 409
    _begin(user, page)
    return render_template("second_factor_codes.html", codes=codes,
                           next=_after_sign_in(page, waiting.get("next")) if page.password_due
                           else waiting.get("next") or "/")


def _enrol_page(enrolment, error: str | None = None, status: int = 200, action: str | None = None):
    import segno

    qr = segno.make(enrolment.uri, error="m").svg_data_uri(scale=5)
    grouped = " ".join(enrolment.secret[i:i + 4] for i in range(0, len(enrolment.secret), 4))
    return render_template("second_factor_enrol.html", qr=qr, secret=grouped, error=error, action=action), status


def _demo_roster():
    """The demo accounts by role with what waits for each, only where the server runs the demo
    data (settings.demo, DUBAN_DEMO=1); None everywhere else."""
    app = duban()
    if not app.settings.demo:
        return None
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
    """Sign out: this page session ends server-side (a copy of the cookie no longer works);
    the account's other sessions stay (我的会话 ends them); a session begun at the identity
    provider goes on to its sign-out (RP-initiated logout)."""
    from .oidc import ID_TOKEN, end_session_redirect

    user = current_user()
    if user is not None:
        duban().sign_out(user.id, session_row())
    id_token = session.get(ID_TOKEN) if user is not None else None
    _fresh_session()
    return end_session_redirect(id_token) or redirect(url_for("signin.login"))


PASSWORD_MESSAGES = {"password_expired": "密码已过期，请设置新密码后继续使用。",
                     "password_change_required": "密码由管理员设置，请先设置只有您自己知道的新密码。"}


@bp.route("/password", methods=["GET", "POST"])
def change_password():
    """修改密码: the current password, the new one twice. Before anything else when the
    password expired or an administrator set it; the other page sessions and every API token
    end, this one stays."""
    user = current_user()
    if user is None:
        return redirect(url_for("signin.login", next=request.full_path.rstrip("?")))
    target = request.values.get("next")
    due = password_due()
    if request.method == "GET":
        return _password_page(target, due)
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        return _password_page(target, due, {"confirm_password": _("两次输入的新密码不一致。")}, 400)
    try:
        duban().change_password(user.id, request.form.get("current_password", ""), new, session_row())
    except Locked as locked:
        minutes = max(1, (locked.retry_after + 59) // 60)
        return _password_page(target, due, {"current_password": _(
            "该用户名登录失败次数过多，已暂时锁定，请 %(minutes)s 分钟后再试。", minutes=minutes)}, 429)
    except Invalid as invalid:
        return _password_page(target, due, _password_errors(invalid), 400)
    g.pop("user", None)
    flash(_("密码已修改。其他地方的登录和接口令牌已失效。"), "notice")
    return redirect(safe_next(target))


def _password_errors(invalid: Invalid) -> dict:
    from .admin.org_forms import reason_text

    errors = {}
    for name, messages in invalid.errors.items():
        if name == "current_password":
            errors[name] = _("当前密码不正确。")
        elif getattr(invalid, "reason", None) is not None:
            errors[name] = reason_text(invalid.reason)
        else:
            errors[name] = "；".join(messages)
    return errors


def _password_page(target, due, errors: dict | None = None, status: int = 200):
    from .admin.org_forms import password_hint

    return render_template("password.html", next=target, due=due,
                           due_message=_(PASSWORD_MESSAGES[due]) if due else None,
                           errors=errors or {}, hint=password_hint()), status


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
