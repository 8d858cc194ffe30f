"""The daily bulletin (一天一通报): the figures of one working day, composed from the database,
issued once and kept as issued.

`compose` reads the state of things for a Beijing date; `issue` stores it as 第N期 (one bulletin
per day: issuing a day again returns the stored one unless it is remade). The scheduler issues
it every working day at DUBAN_BULLETIN_TIME (default 17:30 Beijing time; "off" disables it):
`next_issue` is the moment it plans, `due_day` is what a cycle makes when that moment passed.
Rendering to .docx and .xlsx is in `engine.bulletin.render`.
"""
from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from .. import clock, ledger, paging
from ..calendar import WorkingCalendar
from ..errors import Invalid, NotFound
from ..ledger import Action
from ..models import (AccountabilityDecision, BulletinRecord, Escalation, HumanTask, Light, Problem, ProblemStatus,
                      ProcessDefinition, ProcessInstance, Region, RegionLevel, Role, TaskState, User)

log = logging.getLogger("duban.bulletin")

TIME_VARIABLE = "DUBAN_BULLETIN_TIME"
DEFAULT_TIME = time(17, 30)
INTERVIEW_PROCESS = "interview"     # bpmn/interview.bpmn
INTERVIEW_HELD_TASK = "Task_hold"   # 实施约谈并形成纪要: completed when the interview was held
READERS = (Role.ADMIN, Role.DISCIPLINE, Role.LEADER)
LEVEL_NAMES = {1: "提醒预警", 2: "催办", 3: "专函督办", 4: "约谈", 5: "问责"}


@dataclass
class Bulletin:
    """One day's figures. Counts are as at `as_of` (the end of the day, or the moment it was
    made when that came first); lights are those the problems had when it was made."""

    day: date
    previous_working_day: date
    as_of: datetime
    city: str
    totals: dict            # problems, closed, in_progress, red, yellow, green, sites, sites_closed, newly_closed
    newly_closed: list      # problems closed since the previous working day's bulletin
    escalations: list       # the ladder's firings that day, level by level
    escalations_by_level: list  # [{level, name, count}]
    interviews: dict        # started: [...], held: [...], running: n
    decisions: list         # accountability decisions recorded that day
    regions: list           # [{name, problems, closed, in_progress, red, yellow, close_rate}]
    units: list
    number: int | None = None
    made_at: datetime | None = None
    made_by: str | None = None
    overdue: list = field(default_factory=list)  # the red problems: code, title, lead unit, deadline

    @property
    def title(self) -> str:
        return f"{self.city}生态环境保护督察整改工作通报"

    def to_content(self) -> dict:
        data = asdict(self)
        for key in ("number", "made_at", "made_by"):
            data.pop(key)
        data["day"] = self.day.isoformat()
        data["previous_working_day"] = self.previous_working_day.isoformat()
        data["as_of"] = self.as_of.isoformat()
        return data

    @classmethod
    def from_record(cls, record: BulletinRecord) -> "Bulletin":
        data = dict(record.content)
        data["day"] = date.fromisoformat(data["day"])
        data["previous_working_day"] = date.fromisoformat(data["previous_working_day"])
        data["as_of"] = datetime.fromisoformat(data["as_of"])
        return cls(**data, number=record.number, made_at=record.made_at, made_by=record.made_by)

    def to_json(self) -> dict:
        data = self.to_content()
        data.update(number=self.number, title=self.title,
                    made_at=self.made_at.isoformat() if self.made_at else None, made_by=self.made_by)
        return data


# -- composing ----------------------------------------------------------------------------------

def window(day: date) -> tuple[datetime, datetime]:
    """The Beijing day as a half-open UTC interval."""
    start = WorkingCalendar.start_of_day(day)
    return start, WorkingCalendar.start_of_day(day + timedelta(days=1))


def rate(closed: int, total: int) -> float:
    return round(100.0 * closed / total, 1) if total else 0.0


def _district(region: Region) -> Region:
    """The county or district (县/区) a problem counts under; a township counts with its county."""
    while region.level == RegionLevel.TOWNSHIP and region.parent is not None:
        region = region.parent
    return region


def _city_name(session: Session) -> str:
    name = session.scalar(select(Region.name).where(Region.level == RegionLevel.CITY).order_by(Region.id).limit(1))
    return name or "清江市"


def _targets(escalation: Escalation) -> list[str]:
    return [f"{t.get('name')}（{t.get('title') or t.get('of') or t.get('role')}）" for t in escalation.targets or []]


def compose(session: Session, day: date, calendar: WorkingCalendar, now: datetime | None = None) -> Bulletin:
    """The bulletin for the Beijing date `day`, as the database has it now."""
    now = now or clock.now()
    start, end = window(day)
    if start > now:
        raise Invalid(f"{day.isoformat()} has not begun yet; a bulletin reports a day that has",
                      {"day": ["must not be in the future"]})
    as_of = min(now, end)
    cut = end if now >= end else now + timedelta(microseconds=1)  # what happened at or before `as_of`
    previous = calendar.shift(day, -1)
    since = window(previous)[1]  # closed after the previous working day ended

    problems = session.scalars(select(Problem).where(Problem.registered_at < cut)
                               .options(joinedload(Problem.region), joinedload(Problem.lead_unit),
                                        joinedload(Problem.sites)).order_by(Problem.code)).unique().all()
    totals = dict.fromkeys(("problems", "closed", "in_progress", "red", "yellow", "green", "sites",
                            "sites_closed", "newly_closed"), 0)
    by_region: dict[str, dict] = defaultdict(lambda: dict.fromkeys(("problems", "closed", "in_progress", "red",
                                                                    "yellow"), 0))
    by_unit: dict[str, dict] = defaultdict(lambda: dict.fromkeys(("problems", "closed", "in_progress", "red",
                                                                  "yellow"), 0))
    newly_closed, overdue = [], []
    for problem in problems:
        closed = problem.status == ProblemStatus.CLOSED and problem.closed_at is not None and problem.closed_at < cut
        # closed after as_of (a day remade later): the light it had then is not kept; green
        light = problem.light if problem.light != Light.CLOSED else Light.GREEN
        totals["problems"] += 1
        totals["sites"] += len(problem.sites)
        totals["sites_closed"] += sum(1 for site in problem.sites if site.closed_at is not None and site.closed_at < cut)
        groups = (by_region[_district(problem.region).name], by_unit[problem.lead_unit.name])
        key = "closed" if closed else "in_progress"
        totals[key] += 1
        for group in groups:
            group["problems"] += 1
            group[key] += 1
        if not closed and light in (Light.RED, Light.YELLOW):
            name = light.value
            totals[name] += 1
            for group in groups:
                group[name] += 1
        elif not closed:
            totals["green"] += 1
        if not closed and light == Light.RED:
            overdue.append({"code": problem.code, "title": problem.title, "lead_unit": problem.lead_unit.name,
                            "deadline": problem.deadline.isoformat() if problem.deadline else None})
        if closed and problem.closed_at >= since:
            totals["newly_closed"] += 1
            newly_closed.append({"code": problem.code, "title": problem.title,
                                 "region": _district(problem.region).name, "lead_unit": problem.lead_unit.name,
                                 "closed_at": problem.closed_at.astimezone(clock.SHANGHAI).isoformat()})

    escalations = []
    for escalation in session.scalars(
            select(Escalation).where(Escalation.fired_at >= start, Escalation.fired_at < cut)
            .options(joinedload(Escalation.problem)).order_by(Escalation.level.desc(), Escalation.id)):
        escalations.append({"level": escalation.level, "name": escalation.rule_name,
                            "problem_code": escalation.problem.code, "problem_title": escalation.problem.title,
                            "targets": _targets(escalation),
                            "fired_at": escalation.fired_at.astimezone(clock.SHANGHAI).isoformat()})
    counted = defaultdict(int)
    names = {}
    for item in escalations:
        counted[item["level"]] += 1
        names.setdefault(item["level"], item["name"])
    by_level = [{"level": level, "name": names.get(level, LEVEL_NAMES.get(level, f"L{level}")), "count": counted[level]}
                for level in sorted(set(LEVEL_NAMES) | set(counted))]

    interview = (select(ProcessInstance).join(ProcessDefinition)
                 .where(ProcessDefinition.key == INTERVIEW_PROCESS).options(joinedload(ProcessInstance.problem)))
    started = [{"problem_code": i.problem.code, "problem_title": i.problem.title, "instance_id": i.id}
               for i in session.scalars(interview.where(ProcessInstance.started_at >= start,
                                                        ProcessInstance.started_at < cut)
                                        .order_by(ProcessInstance.id))]
    held = [{"problem_code": t.problem.code, "problem_title": t.problem.title, "instance_id": t.instance_id,
             "held_on": (t.data or {}).get("held_on")}
            for t in session.scalars(select(HumanTask).join(ProcessInstance).join(ProcessDefinition)
                                     .where(ProcessDefinition.key == INTERVIEW_PROCESS,
                                            HumanTask.element_id == INTERVIEW_HELD_TASK,
                                            HumanTask.state == TaskState.COMPLETED,
                                            HumanTask.completed_at >= start, HumanTask.completed_at < cut)
                                     .options(joinedload(HumanTask.problem)).order_by(HumanTask.id))]
    running = session.scalar(select(func.count()).select_from(ProcessInstance).join(ProcessDefinition)
                             .where(ProcessDefinition.key == INTERVIEW_PROCESS, ProcessInstance.started_at < cut,
                                    (ProcessInstance.ended_at.is_(None)) | (ProcessInstance.ended_at >= cut)))

    decisions = [{"official": d.official.name, "category": d.category.label, "form": d.form_label,
                  "decision_no": d.decision_no, "decision_date": d.decision_date.isoformat(),
                  "problem_code": d.problem.code}
                 for d in session.scalars(select(AccountabilityDecision)
                                          .where(AccountabilityDecision.decided_at >= start,
                                                 AccountabilityDecision.decided_at < cut)
                                          .options(joinedload(AccountabilityDecision.official),
                                                   joinedload(AccountabilityDecision.problem))
                                          .order_by(AccountabilityDecision.id))]

    def rows(groups: dict[str, dict]) -> list[dict]:
        return [{"name": name, **counts, "close_rate": rate(counts["closed"], counts["problems"])}
                for name, counts in sorted(groups.items(), key=lambda item: (-item[1]["problems"], item[0]))]

    return Bulletin(day=day, previous_working_day=previous, as_of=as_of, city=_city_name(session),
                    totals={**totals, "close_rate": rate(totals["closed"], totals["problems"])},
                    newly_closed=newly_closed, escalations=escalations, escalations_by_level=by_level,
                    interviews={"started": started, "held": held, "running": running}, decisions=decisions,
                    regions=rows(by_region), units=rows(by_unit), overdue=overdue)


# -- issuing and reading ------------------------------------------------------------------------

def may_read(user: User | None) -> bool:
    return user is None or user.has_role(*READERS)


def audience(session: Session) -> list[User]:
    """Who is told in-app when a bulletin is issued: the office and the discipline office."""
    return [user for user in session.scalars(select(User).where(User.active.is_(True)).order_by(User.id))
            if user.has_role(Role.ADMIN, Role.DISCIPLINE)]


def stored(session: Session, day: date) -> BulletinRecord | None:
    return session.scalar(select(BulletinRecord).where(BulletinRecord.day == day))


def get(session: Session, day: date) -> BulletinRecord:
    record = stored(session, day)
    if record is None:
        raise NotFound(f"no bulletin was issued for {day.isoformat()}", {"day": ["no bulletin for this day"]})
    return record


def page(session: Session, number: int, size: int) -> paging.Paged:
    """One page of the bulletins issued, newest day first (one bulletin per day)."""
    return paging.page(session, select(BulletinRecord).order_by(BulletinRecord.day.desc()), number, size)


def issue(session: Session, day: date, calendar: WorkingCalendar, actor: User | None,
          remake: bool = False) -> tuple[BulletinRecord, bool]:
    """The bulletin of `day`: the stored one, or a new one composed, stored as the next 第N期
    and entered in the ledger. Remaking recomposes a stored bulletin under its number.
    Whether it was (re)made is the second value."""
    record = stored(session, day)
    if record is not None and not remake:
        return record, False
    remade = record is not None
    bulletin = compose(session, day, calendar)
    now = clock.now()
    if record is None:
        number = (session.scalar(select(func.max(BulletinRecord.number))) or 0) + 1
        record = BulletinRecord(day=day, number=number)
        session.add(record)
    record.made_at = now
    record.made_by_id = actor.id if actor else None
    record.made_by = actor.display_name if actor else ledger.SYSTEM
    record.content = bulletin.to_content()
    session.flush()  # the unique day and number: a bulletin made meanwhile fails here
    ledger.record(session, Action.BULLETIN_ISSUED, actor=actor, subject_type="bulletin", subject_id=day.isoformat(),
                  payload={"day": day.isoformat(), "number": record.number, "remade": remade,
                           "totals": bulletin.totals})
    return record, True


def parse_day(text) -> date:
    """A YYYY-MM-DD date, or Invalid naming the field `day`."""
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise Invalid(f"{text!r} is not a date; write it as YYYY-MM-DD", {"day": ["Not a valid date (YYYY-MM-DD)."]}) from None


# -- when the scheduler issues it ---------------------------------------------------------------

def issue_time(value: str | None = None) -> time | None:
    """The time of day (Beijing) of the scheduled bulletin, from DUBAN_BULLETIN_TIME ("HH:MM";
    "off" for none). A value that is not a time is reported and the default kept."""
    text = (os.environ.get(TIME_VARIABLE, "") if value is None else value).strip()
    if not text:
        return DEFAULT_TIME
    if text.lower() in ("off", "none", "no"):
        return None
    try:
        return time.fromisoformat(text)
    except ValueError:
        log.error("%s=%r is not a time of day (HH:MM); the bulletin is made at %s", TIME_VARIABLE, text,
                  DEFAULT_TIME.strftime("%H:%M"))
        return DEFAULT_TIME


def moment_of(day: date, at: time) -> datetime:
    return datetime.combine(day, at, clock.SHANGHAI).astimezone(clock.UTC)


def due_day(session: Session, calendar: WorkingCalendar, now: datetime, at: time | None) -> date | None:
    """Today's date when today is a working day, its bulletin time has passed and no bulletin
    was issued for it yet; None otherwise."""
    if at is None:
        return None
    today = now.astimezone(clock.SHANGHAI).date()
    if not calendar.is_working_day(today) or now < moment_of(today, at) or stored(session, today) is not None:
        return None
    return today


def next_issue(session: Session, calendar: WorkingCalendar, now: datetime, until: datetime,
               at: time | None) -> tuple[date, datetime] | None:
    """The next scheduled bulletin after `now` and by `until`: the first working day, from today
    on, whose bulletin time is still ahead and that has no bulletin yet."""
    if at is None:
        return None
    day = now.astimezone(clock.SHANGHAI).date()
    while (moment := moment_of(day, at)) <= until:
        if moment > now and calendar.is_working_day(day) and stored(session, day) is None:
            return day, moment
        day += timedelta(days=1)
    return None
