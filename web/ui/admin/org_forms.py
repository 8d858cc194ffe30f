"""What the organisation and user pages share: the Chinese names of the engine's words, the
engine's refusals said at their fields, and the list pages' query arguments."""
from __future__ import annotations

from flask import abort, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.errors import DubanError
from engine.models import PostKind, RegionLevel, UnitKind
from engine.organization_admin import MIN_PASSWORD_LENGTH, OrganizationInvalid, Reason, Side

from ..layout import page_number

PER_PAGE = 20
LONGEST_SEARCH = 60

REGION_LEVELS = {RegionLevel.CITY: _l("市"), RegionLevel.COUNTY: _l("县（区）"), RegionLevel.TOWNSHIP: _l("乡镇")}
UNIT_KINDS = {UnitKind.PARTY_COMMITTEE: _l("党委"), UnitKind.GOVERNMENT: _l("政府"), UnitKind.DEPARTMENT: _l("部门"),
              UnitKind.OFFICE: _l("环督办"), UnitKind.DISCIPLINE: _l("纪委监委"), UnitKind.OTHER: _l("其他")}
POST_KINDS = {PostKind.PARTY: _l("党委（党组）"), PostKind.GOVERNMENT: _l("政府"), PostKind.DEPARTMENT: _l("部门行政")}
SIDES = {Side.PARTY: _l("党委"), Side.GOVERNMENT: _l("政府（行政）")}


def _label(table: dict, value) -> str:
    for key, label in table.items():
        if key.value == value:
            return str(label)
    return str(value)


def reason_text(reason: Reason) -> str:
    """One refusal of the engine, in the page's language."""
    p = reason.params
    code = reason.code
    if code == "required":
        return _("必填。")
    if code == "too_long":
        return _("最多 %(max)s 个字符。", max=p["max"])
    if code == "choice":
        return _("请从给出的选项中选择。")
    if code == "unknown":
        return _("所选的记录不存在。")
    if code == "taken":
        return _("“%(value)s”已存在，请换一个。", value=p["value"])
    if code == "city_no_parent":
        return _("市是最高一级，不能选择上级区域。")
    if code == "parent_needed":
        return _("乡镇必须选择所属的县（区）或市。")
    if code == "parent_level":
        return _("上级区域的层级必须高于本区域（%(level)s）。", level=_label(REGION_LEVELS, p["level"]))
    if code == "one_per_region":
        return _("该区域已有%(kind)s：%(name)s。", kind=_label(UNIT_KINDS, p["kind"]), name=p["name"])
    if code == "email":
        return _("电子邮箱格式不正确。")
    if code == "mobile":
        return _("手机号码格式不正确。")
    if code == "post_taken":
        return _("%(official)s 在%(unit)s已任“%(title)s”。", official=p["official"], unit=p["unit"], title=p["title"])
    if code == "head_kind":
        return _("党委的主要负责人须担任党委职务。")
    if code == "already_head":
        return _("%(name)s 已是该单位的%(side)s主要负责人（%(title)s）。", name=p["name"],
                 side=_label(SIDES, p["side"]), title=p["title"])
    if code == "second_head":
        return _("该单位已有%(side)s主要负责人：%(name)s（%(title)s）。一个单位只有一名%(side)s主要负责人；"
                 "如系接任，请勾选“接任”，原职务同时结束。", side=_label(SIDES, p["side"]), name=p["name"],
                 title=p["title"])
    if code == "nothing_to_succeed":
        return _("只有主要负责人职务可以接任，且该单位须已有同一方面的主要负责人。")
    if code == "last_member":
        return _("%(unit)s有 %(count)s 项待办由单位办理，此后单位中将没有可登录办理的人员。"
                 "请先为该单位其他人员开通账号或任职。", unit=p["unit"], count=p["count"])
    if code == "head_needed":
        return _("%(unit)s还有 %(count)s 个未销号问题依靠其%(side)s主要负责人（交办、督办、约谈都要找到他），"
                 "不能空缺。请为继任者新增职务并勾选“接任”，本职务随之结束。", unit=p["unit"], count=p["count"],
                 side=_label(SIDES, p["side"]))
    if code == "username_format":
        return _("3 至 60 个字母、数字或 . _ -，以字母或数字开头。")
    if code == "password_short":
        return _("密码至少 %(min)s 个字符。", min=p["min"])
    if code == "password_common":
        return _("这是最常见的密码之一，请换一个。")
    if code == "password_username":
        return _("密码不能包含用户名。")
    if code == "password_sequence":
        return _("密码不能是连续或重复的字符（如 1234567890、aaaaaaaaaa）。")
    if code == "password_classes":
        return _("密码须混合至少两类字符：小写字母、大写字母、数字、其他符号（16 个字符以上的口令短语除外）。")
    if code == "password_reused":
        return _("新密码不能与最近 %(count)s 次使用过的密码相同。", count=p["count"])
    if code == "official_linked":
        return _("%(name)s 已有登录账号：%(username)s。", name=p["name"], username=p["username"])
    if code == "own_roles":
        return _("不能修改自己的角色：请由安全管理员操作。")
    if code == "security_admin_grants":
        return _("环督办（系统管理员）、安全管理员、审计管理员和纪委监委角色由安全管理员授予和撤销（三员分立）。")
    if code == "last_admin":
        return _("这是最后一个在用的环督办账号，必须保留。")
    if code == "self_deactivate":
        return _("不能停用自己的账号。")
    if code == "separated_admins":
        return _("系统管理员（环督办）、安全管理员、审计管理员三员分立，一个账号只能担任其中之一。")
    return _("格式不正确。")


def field_errors(failure: DubanError) -> dict[str, list[str]]:
    """The engine's refusal as {field: [messages]} in the page's language ("" = the form)."""
    if isinstance(failure, OrganizationInvalid):
        return {name: [reason_text(r) for r in reasons] for name, reasons in failure.reasons.items()}
    return {"": [failure.message]}


def list_arguments() -> tuple[str, int]:
    """The search text and the page number of a list page; 400 when they make no sense."""
    search = (request.args.get("q") or "").strip()
    if len(search) > LONGEST_SEARCH:
        abort(400, _("搜索内容最多 %(max)s 个字符。", max=LONGEST_SEARCH))
    return search, page_number()


def password_hint() -> str:
    return _("至少 %(min)s 个字符。", min=MIN_PASSWORD_LENGTH)
