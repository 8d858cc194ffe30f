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


def situation(escalation: Escalation, calendar: WorkingCalendar) -> list:
    """Why the ladder fired, as a sentence: 距整改时限已不足3个工作日, 已超过整改时限12个工作日…"""
    trigger = escalation.trigger or {}
    kind = trigger.get("kind")
    if kind == "before_deadline":
        return notifications.words("escalation.before_deadline", days=trigger["working_days"])
    if kind == "overdue":
        days = overdue_working_days(escalation.problem, calendar, escalation.fired_at)
        return notifications.words("escalation.overdue_days", days=days) if days else \
            notifications.words("escalation.overdue")
    if kind == "repeat":
        return notifications.words("escalation.repeat", level=trigger["level"], count=trigger["count"])
    if kind == "event":
        event = trigger.get("event")
        if event in EVENTS:
            return notifications.words(f"escalation.event.{event}")
        return notifications.words("escalation.event", event=event)
    return notifications.words("escalation.fired")


def escalation_fired(session: Session, escalation: Escalation, calendar: WorkingCalendar,
                     channels: NotificationSettings | None = None) -> list[Notification]:
    """Tell every target of the firing, in the caller's (the firing's) transaction."""
    officials = [t["official_id"] for t in escalation.targets]
    if not officials:
        return []
    problem = escalation.problem
    responsible = problem.responsible_official.name if problem.responsible_official else None
    deadline = (notifications.words("escalation.deadline", deadline_on=problem.deadline.isoformat(),
                                    deadline_kind=problem.deadline_kind.value)
                if problem.deadline is not None else
                notifications.words("escalation.deadline_kind", deadline_kind=problem.deadline_kind.value)
                if problem.deadline_kind else notifications.words("escalation.no_deadline"))
    body = [
        notifications.words("escalation.problem", code=problem.code, title=problem.title),
        situation(escalation, calendar),
        notifications.words("escalation.level", level=escalation.level, rule=escalation.rule_name),
        notifications.words("escalation.where", region=problem.region.name, unit=problem.lead_unit.name,
                            responsible=responsible),
        deadline,
        notifications.words(f"escalation.expected.{escalation.level}" if escalation.level in EXPECTED
                            else "escalation.expected"),
        notifications.words("escalation.targets", targets=describe(escalation.targets)),
        notifications.words("escalation.fired_at", fired_at=escalation.fired_at.isoformat()),
    ]
    return notifications.notify(
        session, officials=officials, body=body,
        subject=[notifications.words("escalation.subject", rule=escalation.rule_name, level=escalation.level,
                                     code=problem.code, title=problem.title)],
        kind="escalation", problem_id=problem.id, channels=channels,
        payload={"escalation_id": escalation.id, "level": escalation.level, "rule": escalation.rule_code,
                 "due_at": escalation.due_at.isoformat(),
                 "deadline": problem.deadline.isoformat() if problem.deadline else None})
