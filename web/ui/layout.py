"""What every page shares: who is signed in, the navigation, languages, HTML error pages.

`page_blueprint()` makes a Blueprint whose views need a signed-in user (unless
`public=True`) and whose errors (403, 404, engine errors, an expired form) answer with a
page in the layout instead of the API's JSON.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from engine import clock
from engine.areas.sessions import SessionOver
from engine.errors import DubanError, Forbidden, NotFound, Unauthenticated
from engine.models import Light, Role
from engine.service import Duban

from .labels import LABELS

DEFAULT_LANGUAGE = "zh_CN"
LANGUAGES = {"zh_CN": "中文", "en": "English"}


@dataclass(frozen=True)
class NavItem:
    key: str
    label: object                        # a lazy translation
    endpoint: str | None                 # None: the page is not built yet (shown disabled)
    roles: tuple[Role, ...] = ()         # who sees the entry; () = everyone signed in
    section: str | None = None           # the blueprint whose pages light the entry up (default: the endpoint's)

    def shown_to(self, user: "SignedIn | None") -> bool:
        return user is not None and (not self.roles or any(role in self.roles for role in user.roles))

    def active(self, endpoint: str | None) -> bool:
        if not endpoint or not self.endpoint:
            return False
        return endpoint.split(".")[0] in (self.section or self.endpoint.split(".")[0]).split(",")


OVERSIGHT = (Role.ADMIN, Role.DISCIPLINE, Role.LEADER)
# the roles that do the rectification work; the security and audit administrators see none of it
BUSINESS = (Role.ADMIN, Role.DISCIPLINE, Role.LEADER, Role.OFFICIAL)

# The top navigation, in order.
NAV = [
    NavItem("inbox", _l("我的待办"), "inbox.my_tasks", BUSINESS),
    NavItem("ledger", _l("整改台账"), "ledger.problem_list", BUSINESS, section="ledger,imports"),
    NavItem("register", _l("登记问题"), "registration.register_form", (Role.ADMIN,)),
    NavItem("extensions", _l("延期申请"), "extension_requests.request_list", (Role.ADMIN,)),
    NavItem("dashboard", _l("督办看板"), "dashboard.overview", OVERSIGHT),
    NavItem("interviews", _l("约谈"), "interviews.interview_list", (Role.ADMIN, Role.DISCIPLINE)),
    NavItem("accountability", _l("问责"), "cases.case_list", (Role.ADMIN, Role.DISCIPLINE)),
    NavItem("bulletins", _l("通报"), "bulletin.bulletin_list", OVERSIGHT),
    NavItem("admin", _l("管理"), "admin.home", (Role.ADMIN,)),
    NavItem("security_accounts", _l("账号与授权"), "security_accounts.account_list", (Role.SECURITY_ADMIN,)),
    NavItem("session_policy", _l("会话与口令策略"), "session_policy.policy_form", (Role.SECURITY_ADMIN,)),
    NavItem("sso_settings", _l("统一身份认证设置"), "sso_settings.show", (Role.SECURITY_ADMIN,)),
    NavItem("security_log", _l("安全审计"), "security_log.event_list", (Role.AUDIT_ADMIN,), section="security_log"),
]

ROLE_LABELS = {Role.ADMIN: _l("环督办"), Role.DISCIPLINE: _l("纪委监委"), Role.OFFICIAL: _l("责任人员"),
               Role.LEADER: _l("领导"), Role.SECURITY_ADMIN: _l("安全管理员"), Role.AUDIT_ADMIN: _l("审计管理员")}
# the events a process reports to the escalation ladder (engine.escalation.rules.EVENTS), as
# the rules page, the case page and the timelines name them
EVENT_LABELS = {"listed_case_missed": _l("挂牌督办期限已过仍未完成整改"),
                "commitment_missed": _l("约谈整改承诺未按期兑现"),
                "false_rectification": _l("经核查存在虚假整改、敷衍整改")}
LIGHT_LABELS = {Light(code): word for code, word in LABELS[Light].items()}


@dataclass(frozen=True)
class SignedIn:
    """The signed-in user as a page needs it (read once per request, detached from the session)."""

    id: int
    username: str
    name: str
    roles: tuple[Role, ...]
    official_id: int | None = None  # the official the account belongs to, if any

    @property
    def role_labels(self) -> list:
        return [ROLE_LABELS.get(role, role.value) for role in self.roles]


def duban() -> Duban:
    return current_app.extensions["duban"]


SESSION_KEYS = ("user_id", "sid")
# what a signed-in user whose password must change first may still reach
PASSWORD_FIRST = {"signin.change_password", "signin.logout", "signin.switch_language", "static", "vendor"}


def current_user() -> SignedIn | None:
    """The page session's user, while the session is live: its row (engine/sessions.py) not
    ended (signed out, ended from another session, a new password, deactivation), used within
    the policy's idle time and younger than DUBAN_SESSION_HOURS, the account active."""
    if "user" not in g:
        g.user, g.session_row, g.password_due = None, None, None
        raw = session.get("sid")
        if raw:
            app = duban()
            try:
                with app.db.reading() as db:
                    page = app.session_user(db, raw)
                    user = page.user
                    g.user = SignedIn(user.id, user.username, user.display_name,
                                      tuple(sorted(user.roles, key=list(Role).index)), user.official_id)
            except SessionOver as over:
                app.close_page_session(over.row_id, over.reason)
                _forget_session()
            except Unauthenticated:
                _forget_session()
            else:
                g.session_row, g.password_due = page.row_id, page.password_due
                if page.touch:  # used now: the idle time starts again (written once a minute at most)
                    app.touch_page_session(page.row_id)
        elif "user_id" in session:  # a cookie from before server-side sessions: it has ended
            _forget_session()
    return g.user


def _forget_session() -> None:
    for key in (*SESSION_KEYS, "epoch", "since", "seen"):
        session.pop(key, None)


def session_row() -> int | None:
    """The row id of this request's page session (engine/sessions.py), once signed in."""
    current_user()
    return g.get("session_row")


def password_due() -> str | None:
    """"password_expired" or "password_change_required" when the signed-in user must set a
    new password before anything else; None otherwise."""
    current_user()
    return g.get("password_due")


def home_for(user: SignedIn | None) -> str:
    """Where a user starts: the discipline office and leaders on the dashboard, the
    rectification office on the ledger, everyone else in their tasks."""
    if user is None:
        return url_for("signin.login")
    if Role.DISCIPLINE in user.roles or (Role.LEADER in user.roles and Role.ADMIN not in user.roles):
        return url_for("dashboard.overview")
    if Role.ADMIN in user.roles:
        return url_for("ledger.problem_list")
    if Role.AUDIT_ADMIN in user.roles:
        return url_for("security_log.event_list")
    if Role.SECURITY_ADMIN in user.roles:
        return url_for("security_accounts.account_list")
    return url_for("inbox.my_tasks")


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host) may be a redirect target; without one,
    the signed-in user's home."""
    parts = urlsplit(target or "")
    if not target or parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        g.pop("user", None)  # just signed in: read the user afresh
        return home_for(current_user())
    return target


def page_number() -> int:
    """The `page` query argument of a list page (1 when absent); a 400 page when it is not a
    whole number from 1."""
    text = request.args.get("page", "").strip() or "1"
    if not re.fullmatch(r"\d{1,7}", text) or int(text) < 1:
        abort(400, str(_l("参数 page 无效：应为从 1 起的页码。")))
    return int(text)


def error_page(status: int, message: str):
    return render_template("error.html", status=status, message=message), status


# what a page says for an HTTP error that carries no message of Duban's own (werkzeug's default
# sentences are English, whatever the reader's language)
STATUS_MESSAGES = {
    400: _l("请求无效，请检查后重试。"),
    403: _l("您没有权限查看或办理这项内容。"),
    404: _l("没有这个页面，请检查地址是否正确。"),
    405: _l("这个地址不接受这种请求方式。"),
    413: _l("提交的内容太大。"),
    500: _l("系统出错，错误已记录，请稍后重试。"),
}
# an engine refusal shown on a page: its own message is the API's English one, kept in the ledger
DOMAIN_MESSAGES = {Forbidden: STATUS_MESSAGES[403], NotFound: _l("要查看的内容不存在或已被删除。")}


def http_error_page(error: HTTPException):
    """An HTTP error as a page in the reader's language: Duban's own message when it gave one,
    else the status's sentence from the catalog."""
    status = error.code or 500
    own = error.description and error.description != type(error).description
    return error_page(status, error.description if own else str(STATUS_MESSAGES.get(status, error.name)))


def domain_error_page(error: DubanError):
    status = 403 if isinstance(error, Forbidden) else 404 if isinstance(error, NotFound) else 400
    translated = next((text for kind, text in DOMAIN_MESSAGES.items() if isinstance(error, kind)), None)
    return error_page(status, str(translated) if translated is not None else error.message)


def page_blueprint(name: str, import_name: str, public: bool = False, **kwargs) -> Blueprint:
    bp = Blueprint(name, import_name, **kwargs)

    if not public:
        @bp.before_request
        def _signed_in():
            if current_user() is None:
                return redirect(url_for("signin.login", next=request.full_path.rstrip("?")))
            if password_due() and request.endpoint not in PASSWORD_FIRST:
                return redirect(url_for("signin.change_password", next=request.full_path.rstrip("?")))

    @bp.errorhandler(CSRFError)
    def _csrf(error):
        return error_page(400, str(_l("表单已过期或来源不明，请刷新页面后重试。")))

    bp.register_error_handler(HTTPException, http_error_page)
    bp.register_error_handler(DubanError, domain_error_page)

    return bp


def local_time(moment, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment as people in China read it (Asia/Shanghai)."""
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        return moment.astimezone(clock.SHANGHAI).strftime(fmt)
    return moment.isoformat()


def keep_separated_administrators_out(app: Flask, blueprints: set[str]) -> None:
    """三员分立: the security and audit administrators see none of the rectification work; an
    account holding only their roles is refused (403) the pages of these blueprints."""
    @app.before_request
    def _refuse():
        if request.blueprint not in blueprints:
            return None
        user = current_user()
        if user is not None and user.roles and set(user.roles) <= {Role.SECURITY_ADMIN, Role.AUDIT_ADMIN}:
            return error_page(403, str(_l("安全管理员和审计管理员不办理、不查看整改业务（三员分立）。")))
        return None
def sign_in_notice() -> tuple[str, str] | None:
    """The 鉴别警示 once after a page sign-in, (category, text): when and from where the account
    last signed in successfully, and how many sign-ins failed since (engine/areas/sessions.py)."""
    notice = session.pop("sign_in_notice", None) if current_user() is not None else None
    if not isinstance(notice, dict):
        return None
    failures = int(notice.get("failures") or 0)
    more = str(_l("此后登录失败 %(count)s 次，如非本人操作请立即修改密码并告知安全管理员。", count=failures)) if failures else ""
    if not notice.get("at"):
        return "notice", str(_l("这是该账号的首次登录。")) + more
    at = local_time(datetime.fromisoformat(notice["at"]))
    text = str(_l("上次成功登录：%(time)s，来自 %(address)s。", time=at,
                  address=notice.get("from") or _l("本机命令或未知地址")))
    return ("warning" if failures else "notice"), text + more


def install(app: Flask) -> None:
    app.add_template_filter(local_time, "local")
    app.add_template_global(sign_in_notice)

    @app.context_processor
    def _layout():
        return {"current_user": current_user(), "nav": NAV, "languages": LANGUAGES,
                "language": session.get("lang") if session.get("lang") in LANGUAGES else DEFAULT_LANGUAGE,
                "light_labels": LIGHT_LABELS}
