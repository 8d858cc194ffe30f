"""What falls due when: the moments the scheduler puts a job at, read from the database.

Each wake-up has a stable id, so that planning again changes only what moved:
  timer:<instance id>   the next BPMN timer of a running instance (SpiffWorkflow's waiting
                        events, stored as the instance's next_wakeup_at), an instance
                        stopped at an incident included (its other branches go on);
  incident:<id>         the next automatic retry of an open incident (engine/incidents.py);
  ladder:<firing key>   a rung of the escalation ladder for one problem and deadline;
  lights                the next moment any traffic light changes colour;
  outbox                the next email or webhook notice due for (another) attempt;
  bulletin:<date>       the next working day's daily bulletin (一天一通报), not yet issued.
Moments further away than the horizon are left to a later planning, so the job store holds
weeks of work, not years.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import bulletin, lights
from ..calendar import WorkingCalendar
from ..escalation import firing
from ..escalation.rules import Ladder
from ..models import Incident, IncidentStatus, InstanceStatus, Notification, NotificationStatus, ProcessInstance

HORIZON = timedelta(days=31)
# SpiffWorkflow fires a timer once its moment has passed (strictly), so its job runs just after.
TIMER_MARGIN = timedelta(milliseconds=5)


@dataclass(frozen=True)
class Wakeup:
    id: str
    moment: datetime
    what: str  # a line for the log and `duban scheduler --plan`


def upcoming(session: Session, ladder: Ladder, calendar: WorkingCalendar, now: datetime,
             horizon: timedelta = HORIZON, light_rules=None) -> list[Wakeup]:
    """Every wake-up due after `now` and within the horizon, soonest first. (What is already
    due is not here: the cycle that runs at start and after every job fires it.)"""
    until = now + horizon
    found: list[Wakeup] = []
    for instance_id, moment in session.execute(
            select(ProcessInstance.id, ProcessInstance.next_wakeup_at)
            .where(ProcessInstance.status.in_((InstanceStatus.RUNNING, InstanceStatus.ERROR)),
                   ProcessInstance.next_wakeup_at.is_not(None),
                   ProcessInstance.next_wakeup_at <= until)):
        found.append(Wakeup(f"timer:{instance_id}", max(moment + TIMER_MARGIN, now), f"BPMN timer of instance {instance_id}"))
    for incident_id, instance_id, moment in session.execute(
            select(Incident.id, Incident.instance_id, Incident.next_retry_at)
            .where(Incident.status == IncidentStatus.OPEN, Incident.next_retry_at <= until)):
        found.append(Wakeup(f"incident:{incident_id}", max(moment, now),
                            f"retry of incident {incident_id} (instance {instance_id})"))
    for due in firing.forecast(session, ladder, calendar, now, until):
        found.append(Wakeup(f"ladder:{due.key}", due.moment, f"L{due.rule['level']} {due.rule['name']} for problem {due.problem_id}"))
    light_change = lights.next_change(session, calendar, now, light_rules)
    if light_change is not None and light_change <= until:
        found.append(Wakeup("lights", light_change, "traffic lights change"))
    retry = session.scalar(select(func.min(Notification.next_attempt_at)).where(
        Notification.status.in_((NotificationStatus.PENDING, NotificationStatus.SENDING))))
    if retry is not None and retry <= until:
        found.append(Wakeup("outbox", max(retry, now), "notices to send"))
    issue = bulletin.next_issue(session, calendar, now, until, bulletin.issue_time())
    if issue is not None:
        found.append(Wakeup(f"bulletin:{issue[0].isoformat()}", issue[1], f"daily bulletin of {issue[0].isoformat()}"))
    return sorted(found, key=lambda w: (w.moment, w.id))
