"""The 督办单: the notice an urging (催办, rung 2) or a supervised case (专函督办 / 挂牌督办,
rung 3) sends to the people it names, as an office prints, stamps and sends it: the office, its
number (清江市督办〔2026〕7号), the heads it is addressed to (党政同责: both heads of each unit
and region the rung targets), the problem, its deadline and how late it is, what is asked, and
the date by which to answer in writing.

It is read from the stored escalation (whom it reached, when, for which deadline), never
recomputed from today's organisation, so a reprint says what was sent. Its number counts the
notices of its Beijing year in firing order, so it does not change once given.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, joinedload

from . import clock
from .calendar import WorkingCalendar
from .errors import NotFound
from .excel.deadlines import text as deadline_text
from .models import Escalation, Problem, Region, RegionLevel

LEVELS = {2: "催办通知单", 3: "督办通知单"}   # the rungs that send a notice on paper
REPLY_WORKING_DAYS = 5                       # the written answer is due five working days after issue
SIDE_NAMES = {"party": "党委（党组）主要负责人", "government": "行政主要负责人", "both": "党政主要负责人"}
PERSON_ROLES = {"responsible_person": "责任人", "leading_official": "牵头领导"}   # targets naming a person
ASKS = {
    2: ("该问题已超过整改时限，请责任单位切实履行整改主体责任，立即组织推进，"
        "于回复时限前将整改进展、存在困难和下一步措施书面报送市督察整改办。"),
    3: ("该问题经催办后仍未按期完成整改，现予专函督办（挂牌督办）。请责任单位党政主要负责人"
        "亲自研究部署，明确整改措施、责任人和完成时限，于回复时限前将整改方案和进展书面报送"
        "市督察整改办；逾期未完成的，将按规定启动约谈、问责程序。"),
}


@dataclass(frozen=True)
class Addressee:
    name: str
    title: str | None      # the post held where the target was found (区委书记, 局长 …)
    side: str              # party, government, both (one person holds both posts), person
    of: str | None         # the unit or region whose head they are; None for a person named by the problem
    role: str              # the target that named them (responsible_person, lead_unit_heads …)

    @property
    def side_name(self) -> str:
        return SIDE_NAMES.get(self.side) or PERSON_ROLES.get(self.role, "")


@dataclass(frozen=True)
class SupervisionNotice:
    escalation_id: int
    kind: str                # 催办通知单 / 督办通知单
    level: int
    rung: str                # the rule's name as it fired
    number: str              # 清江市督办〔2026〕7号
    office: str              # the issuing office
    issued_on: date          # the day it fired, Beijing time
    reply_by: date           # REPLY_WORKING_DAYS working days after
    addressees: list[Addressee]
    problem_id: int
    problem_code: str
    problem_title: str
    problem_description: str
    region: str
    lead_unit: str
    responsible: str
    deadline: str            # the deadline the rung fired for, as the ledger writes it
    days_late: int | None    # calendar days between that deadline and the issue
    ask: str

    @property
    def units(self) -> list[str]:
        """The units and regions whose heads are addressed, each once, in the order the rung named
        them; the lead unit when the rung names persons only."""
        seen: list[str] = []
        for a in self.addressees:
            if a.of and a.of not in seen:
                seen.append(a.of)
        return seen or [self.lead_unit]


def _city(session: Session) -> str:
    name = session.scalar(select(Region.name).where(Region.level == RegionLevel.CITY).order_by(Region.id).limit(1))
    return name or "清江市"


def _ordinal(session: Session, escalation: Escalation, year_start: datetime, year_end: datetime) -> int:
    """The notice's place among the year's notices, by firing moment then id (one indexed count)."""
    return session.scalar(
        select(func.count()).select_from(Escalation)
        .where(Escalation.level.in_(tuple(LEVELS)), Escalation.fired_at >= year_start, Escalation.fired_at < year_end,
               or_(Escalation.fired_at < escalation.fired_at,
                   and_(Escalation.fired_at == escalation.fired_at, Escalation.id <= escalation.id))))


def compose(session: Session, escalation_id: int, calendar: WorkingCalendar) -> SupervisionNotice:
    escalation = session.scalar(select(Escalation).where(Escalation.id == escalation_id).options(
        joinedload(Escalation.problem).options(joinedload(Problem.region), joinedload(Problem.lead_unit),
                                               joinedload(Problem.responsible_official))))
    if escalation is None:
        raise NotFound(f"no escalation {escalation_id}")
    if escalation.level not in LEVELS:
        raise NotFound(f"escalation {escalation_id} is rung {escalation.level}, which sends no 督办单 "
                       f"(only {', '.join(LEVELS.values())})")
    problem = escalation.problem
    issued = escalation.fired_at.astimezone(clock.SHANGHAI)
    year_start = WorkingCalendar.start_of_day(date(issued.year, 1, 1))
    year_end = WorkingCalendar.start_of_day(date(issued.year + 1, 1, 1))
    city = _city(session)
    number = _ordinal(session, escalation, year_start, year_end)
    reply_by = calendar.shift(issued.date(), REPLY_WORKING_DAYS)
    deadline = escalation.deadline or problem.deadline
    return SupervisionNotice(
        escalation_id=escalation.id, kind=LEVELS[escalation.level], level=escalation.level,
        rung=escalation.rule_name, number=f"{city}督办〔{issued.year}〕{number}号",
        office=f"{city}生态环境保护督察整改工作领导小组办公室", issued_on=issued.date(), reply_by=reply_by,
        addressees=[Addressee(t.get("name", ""), t.get("title"), t.get("side", "person"), t.get("of"), t.get("role", ""))
                    for t in escalation.targets or []],
        problem_id=problem.id, problem_code=problem.code, problem_title=problem.title,
        problem_description=problem.description, region=problem.region.name, lead_unit=problem.lead_unit.name,
        responsible=problem.responsible_official.name,
        deadline=deadline_text(problem.deadline_kind, deadline),
        days_late=(issued.date() - deadline).days if deadline and issued.date() > deadline else None,
        ask=ASKS[escalation.level])
