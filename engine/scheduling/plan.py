"""What falls due when: the moments the scheduler puts a job at, read from the database.

Each wake-up has a stable id, so that planning again changes only what moved:
  timer:<instance id>   the next BPMN timer of a running instance (SpiffWorkflow's waiting
                        events, stored as the instance's next_wakeup_at), an instance
                        stopped at an incident included (its other branches go on);
  timer:due             every timer already due (a burst, what fell due while nobody led):
                        one wake-up now, not one per instance;
  incident:<id>         the next automatic retry of an open incident (engine/incidents.py);
  ladder:<firing key>   a rung of the escalation ladder for one problem and deadline;
  ladder:due            rungs due and not fired (a sweep cut short by a leader that died or
                        froze, a firing that failed): the sweep again, at the next whole
                        minute, so that a firing that keeps failing is tried once a minute;
  gap:<firing key>      a rung held as an organisation gap whose heads are entered now:
                        it fires at once (engine/escalation/gaps.py);
  lights                the next moment any traffic light changes colour;
  outbox                the next email or webhook notice due for (another) attempt;
  bulletin:<date>       the next working day's daily bulletin (一天一通报), not yet issued.
Timers, and rungs, falling due at the same moment are one wake-up (`together`).
Moments further away than the horizon are left to a later planning, and so are those past the
first LIMIT of a kind: every kind is read by time through an index (an instance's
next_wakeup_at, a problem's ladder_due_at and light_changes_at, an incident's next retry, a
notice's next attempt), so planning costs the same whether the city holds a hundred problems
or a hundred thousand. The job at the last planned moment plans again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import bulletin, lights
from ..calendar import WorkingCalendar
from ..escalation import due_moments, firing, gaps
from ..escalation.rules import Ladder
from ..models import Incident, IncidentStatus, InstanceStatus, Notification, NotificationStatus, ProcessInstance

HORIZON = timedelta(days=31)
LIMIT = 200  # wake-ups of one kind planned at a time
# SpiffWorkflow fires a timer once its moment has passed (strictly), so its job runs just after.
TIMER_MARGIN = timedelta(milliseconds=5)
DUE_TIMERS = "timer:due"  # the one wake-up of the timers already due when the plan is made
ROUND = timedelta(seconds=60)  # how often the sweep runs again for rungs due and not fired (ladder:due)
GROUPED = ("timer", "ladder")  # kinds whose wake-ups at one moment are one (`together`)
SINGLE = (DUE_TIMERS, "ladder:due", "ladder:work-out")  # never folded into another


@dataclass(frozen=True)
class Wakeup:
    id: str
    moment: datetime
    what: str  # a line for the log and `duban scheduler --plan`


def upcoming(session: Session, ladder: Ladder, calendar: WorkingCalendar, now: datetime,
             horizon: timedelta = HORIZON, limit: int = LIMIT) -> list[Wakeup]:
    """The wake-ups due after `now` and within the horizon, soonest first, as far as every kind
    is complete: where a kind has more than `limit`, the plan ends at its last one read. (What
    is already due is here as one wake-up a kind: the timers due now, the rungs of problems
    just worked out now, and rungs due and not fired at the next whole minute.)"""
    until = now + horizon
    found: list[Wakeup] = []
    ends: list[datetime] = []  # where a kind read `limit` rows and may have more after

    def read(rows, make) -> None:
        rows = list(rows)
        found.extend(make(*row) for row in rows)
        if len(rows) >= limit:
            ends.append(found[-1].moment)

    read(session.execute(select(ProcessInstance.id, ProcessInstance.next_wakeup_at)
                         .where(ProcessInstance.status.in_((InstanceStatus.RUNNING, InstanceStatus.ERROR)),
                                ProcessInstance.next_wakeup_at.is_not(None),
                                ProcessInstance.next_wakeup_at <= until)
                         .order_by(ProcessInstance.next_wakeup_at, ProcessInstance.id).limit(limit)),
         lambda instance_id, moment: Wakeup(f"timer:{instance_id}", max(moment + TIMER_MARGIN, now),
                                            f"BPMN timer of instance {instance_id}"))
    due_now = [w for w in found if w.moment <= now]
    if due_now:  # a backlog (a burst, a take-over) is one wake-up, not one a timer planned again and again
        found[:] = [w for w in found if w.moment > now] + [Wakeup(DUE_TIMERS, now, f"{len(due_now)} BPMN timers due")]
    read(session.execute(select(Incident.id, Incident.instance_id, Incident.next_retry_at)
                         .where(Incident.status == IncidentStatus.OPEN, Incident.next_retry_at <= until)
                         .order_by(Incident.next_retry_at, Incident.id).limit(limit)),
         lambda incident_id, instance_id, moment: Wakeup(f"incident:{incident_id}", max(moment, now),
                                                         f"retry of incident {incident_id} (instance {instance_id})"))
    found += _ladder(session, ladder, calendar, now, until, limit, ends)
    for gap in gaps.fillable(session):
        found.append(Wakeup(f"gap:{gap.key}", now, f"L{gap.level} {gap.rule_name} for problem {gap.problem_id}, "
                                                    "held for want of heads, now fillable"))
    light_change = lights.next_change(session, now)
    if light_change is not None and light_change <= until:
        found.append(Wakeup("lights", light_change, "traffic lights change"))
    retry = session.scalar(select(func.min(Notification.next_attempt_at)).where(
        Notification.status.in_((NotificationStatus.PENDING, NotificationStatus.SENDING))))
    if retry is not None and retry <= until:
        found.append(Wakeup("outbox", max(retry, now), "notices to send"))
    issue = bulletin.next_issue(session, calendar, now, until, bulletin.issue_time())
    if issue is not None:
        found.append(Wakeup(f"bulletin:{issue[0].isoformat()}", issue[1], f"daily bulletin of {issue[0].isoformat()}"))
    end = min(ends, default=None)
    return together(sorted((w for w in found if end is None or w.moment <= end), key=lambda w: (w.moment, w.id)))


def together(wakeups: list[Wakeup]) -> list[Wakeup]:
    """One wake-up for the BPMN timers, and one for the rungs, that fall due at the same
    moment (deadlines at midnight, problems registered at one instant): the first one's id
    stands for them all, since a wake-up runs its whole stage, which fires everything due.
    Two hundred jobs at one instant cost two hundred job-store transactions to run and to
    remove, holding up the scheduler's loop and its plan for seconds; one costs one. `wakeups`
    in order of (moment, id)."""
    kept: list[Wakeup] = []
    counts: dict[tuple, int] = {}
    first: dict[tuple, int] = {}
    for wakeup in wakeups:
        kind = wakeup.id.split(":", 1)[0]
        group = (kind, wakeup.moment) if kind in GROUPED and wakeup.id not in SINGLE else None
        if group is not None and group in first:
            counts[group] += 1
            continue
        if group is not None:
            first[group], counts[group] = len(kept), 1
        kept.append(wakeup)
    for group, index in first.items():
        if counts[group] > 1:
            wakeup = kept[index]
            kept[index] = Wakeup(wakeup.id, wakeup.moment, f"{wakeup.what}, and {counts[group] - 1} more at that moment")
    return kept


def _ladder(session: Session, ladder: Ladder, calendar: WorkingCalendar, now: datetime, until: datetime,
            limit: int, ends: list[datetime]) -> list[Wakeup]:
    """The rungs of the ladder: first the problems to be worked out are worked out, a slice of
    them (their next moment stored; a rung already due wakes the scheduler now, and so do
    problems left to work out: the sweep works them out a slice a transaction), then the rungs
    of the first `limit` problems whose next rung falls due by `until`."""
    found = []
    todo = due_moments.to_work_out(session, limit=due_moments.WORK_OUT_SLICE)
    if len(todo) == due_moments.WORK_OUT_SLICE and due_moments.any_to_work_out(session, after=todo[-1]):
        found.append(Wakeup("ladder:work-out", now, "problems left to work out"))
    if todo:
        worked = firing.survey(session, todo, ladder, calendar, now)
        found += [_rung(due, now) for due in worked.due]  # due now: stored as such, so the sweep fires it
        due_moments.store(session, due_moments.until_fired(worked.later, worked.due), worked.rungs)
    if due_moments.any_due(session, now):  # due, not fired: a sweep cut short, a firing that failed
        found.append(Wakeup("ladder:due", _next_round(now), "rungs due and not fired yet: the sweep again"))
    nearest = due_moments.next_after(session, now, until, limit)
    if nearest:
        ahead = firing.survey(session, [problem_id for problem_id, _ in nearest], ladder, calendar, now, until).ahead
        if len(nearest) >= limit:
            ends.append(nearest[-1][1])
        found += [_rung(due, due.moment) for due in ahead]
    return found


def _next_round(now: datetime) -> datetime:
    """The next moment on the grid of ROUND from `now` (now, if on it): wake-ups for what was
    due and did not fire stay put while plans come and go, and come once a round at most."""
    return now + timedelta(seconds=-now.timestamp() % ROUND.total_seconds())


def _rung(due, moment: datetime) -> Wakeup:
    return Wakeup(f"ladder:{due.key}", moment, f"L{due.rule['level']} {due.rule['name']} for problem {due.problem_id}")
