"""管理: what the rectification office (环督办) administers — the organisation, users and roles,
the escalation rules, the working-day calendar and the process definitions. Administrators only."""
from __future__ import annotations

from flask import abort, render_template
from flask_babel import lazy_gettext as _l

from engine.models import Role

from ..layout import current_user, page_blueprint

bp = page_blueprint("admin", __name__, url_prefix="/admin")

# the sections of the administration, in the order the home page lists them
SECTIONS = [
    ("admin.organization", _l("区域与单位"), _l("行政区域、党委政府和部门，以及各单位的主要负责人。")),
    ("admin.officials", _l("人员与职务"), _l("责任人员及其职务（党委、政府、部门），谁是单位主要负责人。")),
    ("admin.users", _l("用户与角色"), _l("登录账号、角色（环督办、纪委监委、责任人员、领导）和密码。")),
    ("admin.rules", _l("督办规则"), _l("逐级督办的阶梯：何时提醒、督办、通报、约谈、问责，对谁。")),
    ("admin.calendar", _l("节假日安排"), _l("法定节假日和调休上班日，决定工作日时限。")),
    ("admin.definitions", _l("流程定义"), _l("整改、督办、约谈、问责流程及其各个版本。")),
    ("admin.incidents", _l("异常流程"), _l("出错停下的流程：重试、跳转、迁移到其他版本或终止。")),
]


@bp.before_request
def _administrators_only():
    user = current_user()
    if user is not None and Role.ADMIN not in user.roles:
        abort(403)


@bp.get("/")
def home():
    return render_template("admin/home.html", sections=SECTIONS)


from . import calendar, definitions, incidents, modeler, organization, rules, users, versions  # noqa: E402,F401  (their views)
