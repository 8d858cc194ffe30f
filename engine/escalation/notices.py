"""The notice an escalation sends its targets (督办通知), written in the firing's transaction.

Every official the firing targets is told, Party and government heads alike (党政同责): what
the problem is, why the ladder fired, at which level, the deadline, and what is now expected.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from .. import notifications
from ..calendar import WorkingCalendar
from ..models import Escalation, Notification
from ..settings import NotificationSettings
from .ladder import overdue_working_days
from .targets import describe

# What each level asks of its targets (the ladder's levels are fixed by the domain; their
# triggers and targets are the data administrators edit).
EXPECTED = {
    1: "请抓紧推进整改，确保在整改时限内完成，并及时报送整改进展。",
    2: "请立即整改，并书面说明逾期原因、下一步措施和完成时间。",
    3: "该问题已专函督办、挂牌督办：请在督办期限内完成整改，逐项报送整改情况。",
    4: "将对党政主要负责同志进行约谈：请按约谈通知准时参加，约谈后30日内提交书面整改承诺。",
    5: "已移送纪委监委追责问责：请配合核实，如实说明情况。",
}
EVENTS = {
    "listed_case_missed": "挂牌督办期限已过仍未完成整改",
    "commitment_missed": "约谈整改承诺未按期兑现",
    "false_rectification": "经核查存在虚假整改、敷衍整改",
}


def situation(escalation: Escalation, calendar: WorkingCalendar) -> str:
    """Why the ladder fired, in words: 距整改时限已不足3个工作日, 已超过整改时限12个工作日…"""
    trigger = escalation.trigger or {}
    kind = trigger.get("kind")
    if kind == "before_deadline":
        return f"距整改时限已不足{trigger['working_days']}个工作日"
    if kind == "overdue":
        days = overdue_working_days(escalation.problem, calendar, escalation.fired_at)
        return f"已超过整改时限{days}个工作日" if days else "已超过整改时限"
    if kind == "repeat":
        return f"第{trigger['level']}级督办已累计{trigger['count']}次"
    if kind == "event":
        return EVENTS.get(trigger.get("event"), f"流程报告：{trigger.get('event')}")
    return "触发督办"


def deadline_text(problem) -> str:
    if problem.deadline is not None:
        return f"{notifications.chinese_date(problem.deadline)}（{problem.deadline_kind.label}）"
    return problem.deadline_kind.label if problem.deadline_kind else "未设定"


def escalation_fired(session: Session, escalation: Escalation, calendar: WorkingCalendar,
                     channels: NotificationSettings | None = None) -> list[Notification]:
    """Tell every target of the firing, in the caller's (the firing's) transaction."""
    officials = [t["official_id"] for t in escalation.targets]
    if not officials:
        return []
    problem = escalation.problem
    responsible = problem.responsible_official.name if problem.responsible_official else "未确定"
    body = "\n".join([
        f"问题 {problem.code}「{problem.title}」{situation(escalation, calendar)}。",
        f"督办等级：第{escalation.level}级 {escalation.rule_name}",
        f"所属区域：{problem.region.name}；牵头单位：{problem.lead_unit.name}；责任人：{responsible}",
        f"整改时限：{deadline_text(problem)}",
        f"工作要求：{EXPECTED.get(escalation.level, '请按督办要求落实整改，并及时报送整改情况。')}",
        f"督办对象：{describe(escalation.targets)}",
        f"发出时间：{notifications.beijing(escalation.fired_at)}",
    ])
    return notifications.notify(
        session, officials=officials, subject=f"【{escalation.rule_name}】{problem.code} {problem.title}", body=body,
        kind="escalation", problem_id=problem.id, channels=channels,
        payload={"escalation_id": escalation.id, "level": escalation.level, "rule": escalation.rule_code,
                 "due_at": escalation.due_at.isoformat(),
                 "deadline": problem.deadline.isoformat() if problem.deadline else None})
