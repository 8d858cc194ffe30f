"""The problem page's section on the rungs that did not fire when they fell due: passed over
because the problem entered the ladder late, or held for want of a Party or government head
(组织缺口, 党政同责), open or resolved."""
from __future__ import annotations

from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from engine import clock
from engine.escalation import unfired
from engine.models import Problem

from .timeline import SIDE_LABELS

GAP_STATES = {"open": _l("暂缓中"), "resolved": _l("已发出"), "lapsed": _l("不再暂缓（问题已销号或时限已变更）")}
WHERE_LABELS = {"region": _l("区域"), "unit": _l("单位")}


def delay_text(delay: timedelta | None) -> str:
    """3 天 4 小时; 2 小时 5 分钟; 1 分钟 (at least)."""
    if delay is None:
        return "—"
    minutes = max(int(delay.total_seconds() // 60), 1)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return _("%(days)s 天 %(hours)s 小时", days=days, hours=hours)
    if hours:
        return _("%(hours)s 小时 %(minutes)s 分钟", hours=hours, minutes=minutes)
    return _("%(minutes)s 分钟", minutes=minutes)


def view(db: Session, problem: Problem) -> dict:
    """What the section shows: {"passed_over": [...], "gaps": [...]}."""
    passed = [{"level": p.level, "rule_name": p.rule_name, "due_at": p.due_at, "deadline": p.deadline,
               "entered_at": problem.ladder_from or p.escalation.due_at, "entered_level": p.escalation.level,
               "entered_name": p.escalation.rule_name} for p in unfired.passed_over(db, problem.id)]
    gaps = [{"id": h.gap.id, "level": h.gap.level, "rule_name": h.gap.rule_name, "state": h.state,
             "state_label": GAP_STATES[h.state], "since": h.gap.since, "resolved_at": h.gap.resolved_at,
             "delay": delay_text(h.delay),
             "missing": [{"where": m["where"], "where_label": WHERE_LABELS.get(m["where"], m["where"]), "id": m["id"],
                          "name": m["name"], "side": m["side"], "side_label": SIDE_LABELS.get(m["side"], m["side"])}
                         for m in h.gap.missing]}
            for h in unfired.held(db, problem, clock.now())]
    return {"passed_over": passed, "gaps": gaps}
