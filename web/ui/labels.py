"""Engine labels in the user's language: each engine enum value, keyed by its code,
worded from the catalog with a context per enum (pgettext), so that equal Chinese
words of different enums may differ in English.

The engine's members carry their Chinese word (``member.label``) for the engine's own
documents (督办单, exports); pages show ``{{ value | label }}`` instead."""
from __future__ import annotations

import enum

from flask_babel import lazy_pgettext as _p

from engine.models import (AccountabilityCategory, DeadlineKind, ExtensionStatus, Light, ProblemCategory, ProblemSource,
                           ProblemStatus, RevisionOutcome)

LABELS: dict[type[enum.Enum], dict[str, object]] = {
    ProblemStatus: {
        "registered": _p("status", "已交办"), "planning": _p("status", "方案编制"),
        "rectifying": _p("status", "整改中"), "accepting": _p("status", "验收中"),
        "public_notice": _p("status", "公示中"), "closed": _p("status", "已销号")},
    ProblemSource: {
        "central": _p("source", "中央生态环境保护督察"), "provincial": _p("source", "省级生态环境保护督察"),
        "look_back": _p("source", "回头看"), "yangtze_film": _p("source", "长江经济带生态环境警示片"),
        "petition": _p("source", "信访"), "self_check": _p("source", "自查")},
    ProblemCategory: {
        "water": _p("category", "水"), "air": _p("category", "大气"), "soil": _p("category", "土壤"),
        "solid_waste": _p("category", "固废"), "ecology": _p("category", "生态"), "noise": _p("category", "噪声"),
        "other": _p("category", "其他")},
    DeadlineKind: {
        "immediate": _p("deadline kind", "立行立改"), "by_date": _p("deadline kind", "限期整改"),
        "long_term": _p("deadline kind", "长期坚持")},
    Light: {
        "green": _p("light", "绿灯"), "yellow": _p("light", "黄灯"), "red": _p("light", "红灯"),
        "closed": _p("light", "已办结")},
    AccountabilityCategory: {
        "party": _p("accountability", "党内问责"), "government": _p("accountability", "政务处分")},
    ExtensionStatus: {
        "pending": _p("extension", "待审批"), "approved": _p("extension", "已批准"), "refused": _p("extension", "不予批准")},
    RevisionOutcome: {
        "upheld": _p("appeal", "维持原决定"), "revoked": _p("appeal", "撤销"), "changed": _p("appeal", "变更")},
}

# the escalation levels (督办层级) by number, as the rule book names them
LEVEL_NAMES = {1: _p("level", "提醒"), 2: _p("level", "催办"), 3: _p("level", "专函督办"), 4: _p("level", "约谈"),
               5: _p("level", "问责")}
# the same levels in full, as the overview's escalation counts show them
LEVEL_TITLES = {1: _p("level", "提醒预警"), 2: _p("level", "催办"), 3: _p("level", "专函督办 / 挂牌督办"),
                4: _p("level", "约谈"), 5: _p("level", "问责")}


def label(value) -> str:
    """The word for an engine enum member (or a level number) in the user's language;
    a value without an entry shows as its engine label, or as itself."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(LEVEL_NAMES.get(value, value))
    words = LABELS.get(type(value))
    if words is not None and value.value in words:
        return str(words[value.value])
    return str(getattr(value, "label", value))


def install(app) -> None:
    app.add_template_filter(label, "label")


def pending_plan(problem) -> dict | None:
    """The problem's pending plan (待审核方案) for a page: its fields, deadline kind worded,
    deadline as a date, whether it waits or was sent back, and whether it needs an extension."""
    from datetime import date

    from engine import plans

    shown = plans.view(problem)
    if shown is None:
        return None
    kind = shown["deadline_kind"]
    return {**shown, "deadline_kind": label(DeadlineKind(kind)) if kind else None,
            "deadline": date.fromisoformat(shown["deadline"]) if shown["deadline"] else None,
            "returned": shown["state"] == plans.RETURNED}
