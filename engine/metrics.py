"""What operators watch, in the Prometheus format (prometheus-client); web/ only exposes it
at `/metrics`.

Two kinds of figures:
- counted by the process that did the work: requests by route and status with their
  latency, task completions, escalations fired by level, BPMN timers' lateness, email and
  webhook sends by result. Under gunicorn every worker counts in files of its own under
  PROMETHEUS_MULTIPROC_DIR, and a scrape of any worker adds them all up (prometheus-client's
  multiprocess mode; see deploy/gunicorn.conf.py);
- read from the database at each scrape, so that every host reports the same: incidents open,
  the outbox's backlog, the scheduler's **lag** (per kind of wake-up, how long the oldest one
  that is due has waited: timers, ladder, lights, outbox; 0 when nothing waits) and its lease
  (holder, fencing number, seconds left).
"""
from __future__ import annotations

import os
from datetime import datetime

from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram,
                               generate_latest)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from . import clock

REQUESTS = Counter("duban_http_requests", "HTTP requests answered, by method, route and status",
                   ["method", "route", "status"])
LATENCY = Histogram("duban_http_request_seconds", "Time to answer an HTTP request, by method and route",
                    ["method", "route"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
COMPLETIONS = Counter("duban_task_completions", "Tasks completed")
ESCALATIONS = Counter("duban_escalations_fired", "Rungs of the escalation ladder fired, by level", ["level"])
TIMER_LATENESS = Histogram("duban_timer_lateness_seconds", "How long after its moment a BPMN timer fired",
                           buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600))
SENDS = Counter("duban_notification_sends", "Email and webhook sends, by result (sent, retrying, failed)",
                ["result"])


def task_completed() -> None:
    COMPLETIONS.inc()


def escalations_fired(levels) -> None:
    for level in levels:
        ESCALATIONS.labels(level=str(level)).inc()


def timer_fired(due: datetime | None) -> None:
    if due is not None:
        late = max((clock.now() - due).total_seconds(), 0.0)
        if LATENESS_KEPT is not None:
            LATENESS_KEPT.append(late)
        else:
            TIMER_LATENESS.observe(late)


# a timer worker's process (engine/timer_workers.py) keeps its timers' lateness here, for the
# scheduler's process to observe: the histogram is the scheduler's
LATENESS_KEPT: list[float] | None = None


def sends(delivery) -> None:
    for result in ("sent", "retrying", "failed"):
        count = getattr(delivery, result, 0)
        if count:
            SENDS.labels(result=result).inc(count)


def request_answered(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    LATENCY.labels(method=method, route=route).observe(seconds)


class DatabaseCollector:
    """The figures read from the database at each scrape (the same from every host)."""

    def __init__(self, db, leading: bool | None = None):
        self.db, self.leading = db, leading

    def collect(self):
        from .models import Incident, IncidentStatus, Notification, NotificationStatus, Problem, ProcessInstance
        from .models import InstanceStatus, ProblemStatus
        from .escalation import due_moments
        from .models.base import LONG_AGO
        from .scheduling.lease import standing

        now = clock.now()
        with self.db.reading() as session:
            incidents_open = session.scalar(select(func.count()).select_from(Incident).where(
                Incident.status == IncidentStatus.OPEN))
            backlog = session.scalar(select(func.count()).select_from(Notification).where(
                Notification.status == NotificationStatus.PENDING))
            oldest = {
                "timers": session.scalar(select(func.min(ProcessInstance.next_wakeup_at)).where(
                    ProcessInstance.status == InstanceStatus.RUNNING, ProcessInstance.next_wakeup_at <= now)),
                "ladder": session.scalar(select(func.min(Problem.ladder_due_at)).where(
                    Problem.status != ProblemStatus.CLOSED, Problem.ladder_due_at <= now,
                    Problem.ladder_due_at > due_moments.TO_WORK_OUT)),
                "lights": session.scalar(select(func.min(Problem.light_changes_at)).where(
                    Problem.light_changes_at <= now, Problem.light_changes_at > LONG_AGO)),
                "outbox": session.scalar(select(func.min(Notification.next_attempt_at)).where(
                    Notification.status == NotificationStatus.PENDING, Notification.next_attempt_at <= now)),
            }
        lease = standing(self.db.engine)
        yield GaugeMetricFamily("duban_incidents_open", "Incidents open (instances stopped at an element)",
                                value=incidents_open)
        yield GaugeMetricFamily("duban_outbox_backlog", "Email and webhook notices waiting to be sent", value=backlog)
        lag = GaugeMetricFamily("duban_scheduler_lag_seconds",
                                "How long the oldest due wake-up not yet served has waited, by kind", labels=["kind"])
        for kind, moment in oldest.items():
            lag.add_metric([kind], max((now - moment).total_seconds(), 0.0) if moment else 0.0)
        yield lag
        yield GaugeMetricFamily("duban_scheduler_lease_seconds_left",
                                "Seconds left on the scheduler's lease (negative: expired, nobody leads)",
                                value=lease["expires_in"] if lease["holder"] else -1.0)
        yield GaugeMetricFamily("duban_scheduler_lease_fencing", "The lease's fencing number (raised by each taking)",
                                value=lease["fencing"])
        if self.leading is not None:
            yield GaugeMetricFamily("duban_scheduler_leading", "1 when the scheduler in this process leads",
                                    value=1.0 if self.leading else 0.0)


def exposition(db, leading: bool | None = None) -> tuple[bytes, str]:
    """The text a scrape answers: this process's figures (every worker's under gunicorn's
    multiprocess mode), then the database's."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from prometheus_client import multiprocess

        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted, path=directory)
    else:
        counted = REGISTRY
    read = CollectorRegistry()
    read.register(DatabaseCollector(db, leading))
    return generate_latest(counted) + generate_latest(read), CONTENT_TYPE_LATEST
