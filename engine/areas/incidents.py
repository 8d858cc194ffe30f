"""Incidents (流程异常): the instances a failure stopped.

A part of the Duban facade (engine/service.py): each method one action, one transaction."""
from __future__ import annotations

from .. import incidents  # noqa: F401 (the annotations name incidents.View)
from ..models import IncidentStatus


class IncidentActions:
    def incidents(self, user_id: int, status: IncidentStatus | None = None, page: int = 1,
                  per_page: int = 20) -> tuple[list[incidents.View], int]:
        """Incidents, newest first (admins and the discipline office)."""
        return self.incident_desk.listing(user_id, status, page, per_page)

    def incident(self, user_id: int, incident_id: int) -> incidents.View:
        return self.incident_desk.get(user_id, incident_id)

    def retry_incident(self, user_id: int, incident_id: int, reason: str | None = None) -> incidents.View:
        """Run an incident's failed step again now (admins), with the reason if one is given
        (kept in the ledger); 409 when it is resolved."""
        return self.incident_desk.retry(user_id, incident_id, reason)
