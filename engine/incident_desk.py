"""The actions on incidents (流程异常), each in its own transaction; `Duban` delegates to them.

Waking the due timers and retrying the due incidents handles one instance per transaction:
a failure of one becomes its incident (engine/incidents.py) and the others go on. When even
the step's own bookkeeping fails (an error outside SpiffWorkflow's engine steps, a state
that does not load), that transaction is rolled back whole and a separate one records the
incident against the state as it was before the step, with the instance no longer due: its
retry runs the step again.
"""
from __future__ import annotations

import logging

from sqlalchemy.orm.exc import StaleDataError

from . import clock, incidents, metrics
from .errors import Conflict, Forbidden, NotFound, Unauthenticated
from .models import Incident, IncidentStatus, InstanceStatus, ProcessInstance, Role

log = logging.getLogger("duban.incidents")


class Wakening(list):
    """What `wake_due` did: a list of (instance id, names of the timers fired) per instance
    woken, and in `incidents` the incidents opened or failed again on the way."""

    def __init__(self):
        super().__init__()
        self.incidents: list[incidents.View] = []


class IncidentDesk:
    def __init__(self, duban):
        self.duban = duban

    # -- the scheduler's step -------------------------------------------------------------------

    def wake_due(self) -> Wakening:
        """Fire every timer due by the engine's clock and retry every incident whose retry is
        due, one instance per transaction; a failing instance becomes an incident and the
        others go on."""
        now = clock.now()
        with self.duban.db.reading() as session:
            due_instances = self.duban.runtime.due_instances(session, now)
            due_incidents = incidents.due(session, now)
        woken = Wakening()
        for instance_id in due_instances:
            fired, incident = self._wake(instance_id)
            if fired is not None:
                woken.append(fired)
            if incident is not None:
                woken.incidents.append(incident)
        for incident_id in due_incidents:
            try:
                _retried, now_open = self._retry(None, incident_id, scheduled=True)
            except (Conflict, NotFound):
                continue  # retried or changed by another process meanwhile
            if now_open is not None:
                woken.incidents.append(now_open)
        return woken

    def _wake(self, instance_id: int):
        duban = self.duban

        def rehearse(session):
            instance = session.get(ProcessInstance, instance_id)
            if instance is not None:
                duban.runtime.rehearse_wake(instance)

        try:
            with duban.scripts_first(rehearse), duban.db.transaction() as session:
                duban._calendar(session)
                instance = session.get(ProcessInstance, instance_id)
                if (instance is None or instance.status not in (InstanceStatus.RUNNING, InstanceStatus.ERROR)
                        or instance.next_wakeup_at is None or instance.next_wakeup_at > clock.now()):
                    return None, None  # another process woke it first
                due = instance.next_wakeup_at
                names, incident = duban.runtime.wake(session, instance)
                woken = (instance_id, names), incidents.View.of(incident) if incident is not None else None
            if names:  # committed: a timer fired (not only an incident retried)
                metrics.timer_fired(due)
            return woken
        except StaleDataError:
            return None, None
        except BaseException as error:  # noqa: BLE001 - contained: see incidents.contained
            if not incidents.contained(error):
                raise
            return None, self._after_rollback(instance_id, error, None)

    # -- retrying -------------------------------------------------------------------------------

    def retry(self, user_id: int, incident_id: int, reason: str | None = None) -> incidents.View:
        """Run an incident's failed step again now (admins): the incident, resolved or with one
        more attempt and the new error. 409 when it is already resolved."""
        duban = self.duban
        with duban.db.reading() as session:
            allowed = duban.actor(session, user_id).has_role(Role.ADMIN)
            incident = incidents.get(session, incident_id)
            problem_id = incident.problem_id
        if not allowed:
            duban.deny(user_id, f"retry incident {incident_id}", "incident", incident_id, problem_id)
        return self._retry(user_id, incident_id, reason=reason)[0]

    def _retry(self, user_id: int | None, incident_id: int, scheduled: bool = False, reason: str | None = None):
        """(the incident retried, the incident open for its instance afterwards or None)."""
        duban = self.duban
        with duban.db.reading() as session:
            instance_id = incidents.get(session, incident_id).instance_id
        def rehearse(session):
            incident = session.get(Incident, incident_id)
            if incident is not None and incident.status == IncidentStatus.OPEN:
                duban.runtime.rehearse_retry(incident)

        try:
            with duban.scripts_first(rehearse), duban.db.transaction() as session:
                duban._calendar(session)
                actor = duban.actor(session, user_id)
                incident = session.get(Incident, incident_id)
                if incident.status != IncidentStatus.OPEN:
                    raise Conflict(f"incident {incident_id} is already resolved")
                if scheduled and (incident.next_retry_at is None or incident.next_retry_at > clock.now()):
                    raise Conflict(f"incident {incident_id} was retried meanwhile")
                now_open = duban.runtime.retry(session, incident, actor, reason)
                session.flush()
                return (incidents.View.of(incident),
                        incidents.View.of(now_open) if now_open is not None else None)
        except StaleDataError:
            raise Conflict(f"the process of incident {incident_id} changed at the same moment; retry again") from None
        except (Conflict, Forbidden, NotFound, Unauthenticated):
            raise  # about the request, not the instance
        except BaseException as error:  # noqa: BLE001 - contained: see incidents.contained
            if not incidents.contained(error):
                raise
            view = self._after_rollback(instance_id, error, user_id, incident_id)
            return view, view

    # -- when the step's own transaction failed --------------------------------------------------

    def _after_rollback(self, instance_id: int, error: BaseException, user_id: int | None,
                        incident_id: int | None = None) -> incidents.View | None:
        """The step's transaction was rolled back: the incident recorded in a transaction of
        its own (a new one, or one more attempt on `incident_id`), the instance no longer due."""
        duban = self.duban
        failure = incidents.Failure.of(error)
        log.error("instance %s could not be stepped: %s: %s", instance_id, failure.error_type, failure.message,
                  exc_info=error)
        try:
            with duban.db.transaction() as session:
                actor = duban.actor(session, user_id)
                instance = session.get(ProcessInstance, instance_id)
                instance.next_wakeup_at = None  # its retry, not its timers, runs the step again
                if incident_id is not None:
                    incident = incidents.failed_again(session, session.get(Incident, incident_id), failure, actor,
                                                      duban.runtime.backoff)
                else:
                    incident = incidents.record(session, instance, failure, actor, duban.runtime.backoff,
                                                duban.runtime.channels)
                return incidents.View.of(incident)
        except Exception:  # noqa: BLE001 - the database itself failed: the next cycle tries again
            log.exception("the incident of instance %s could not be recorded", instance_id)
            return None

    # -- reading --------------------------------------------------------------------------------

    def listing(self, user_id: int, status: IncidentStatus | None, page: int, per_page: int):
        duban = self.duban
        with duban.db.reading() as session:
            if duban.actor(session, user_id).reads_everything:
                return incidents.page(session, status, page, per_page)
        duban.deny(user_id, "read the incidents", "incident", None)

    def get(self, user_id: int, incident_id: int) -> incidents.View:
        duban = self.duban
        with duban.db.reading() as session:
            incident = incidents.get(session, incident_id)
            if duban.actor(session, user_id).reads_everything:
                return incidents.View.of(incident)
            problem_id = incident.problem_id
        duban.deny(user_id, f"read incident {incident_id}", "incident", incident_id, problem_id)
