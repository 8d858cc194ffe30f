"""The security log's actions (engine/security_log.py): reading and exporting it and the action
log (engine/action_log.py; the audit administrator, 审计管理员, alone), checking its chain,
purging what is older than it keeps.

A part of the Duban facade (engine/service.py): each method one action, one transaction."""
from __future__ import annotations

from .. import action_log, log_reading, security_log
from ..models import Role, SecurityEvent
from ..security_log import Filter, Kind


class SecurityLogActions:
    def security_events(self, user_id: int, where: Filter, page: int, per_page: int
                        ) -> tuple[list[SecurityEvent], int]:
        """One page of the security log, newest first, and how many events `where` selects."""
        return self._audit_read(user_id, "read the security log", "security_event",
                                lambda session: security_log.page(session, where, page, per_page))

    def export_security_events(self, user_id: int, where: Filter) -> bytes:
        """The events `where` selects as .xlsx, oldest first; the export is itself an event."""
        return self._audit_export(user_id, "export the security log", "security_event", Kind.SECURITY_LOG_EXPORTED,
                                  "security log", where, security_log.every, security_log.workbook)

    def action_log(self, user_id: int, where: action_log.Filter, page: int, per_page: int) -> tuple[list, int]:
        """One page of the action log (the ledger's entries), newest first (the audit administrator)."""
        return self._audit_read(user_id, "read the action log", "ledger",
                                lambda session: action_log.page(session, where, page, per_page))

    def export_action_log(self, user_id: int, where: action_log.Filter) -> bytes:
        """The entries `where` selects as .xlsx, oldest first; the export is a security event."""
        return self._audit_export(user_id, "export the action log", "ledger", Kind.ACTION_LOG_EXPORTED,
                                  "action log", where, action_log.every, action_log.workbook)

    def _audit_read(self, user_id: int, what: str, area: str, read):
        with self.db.reading() as session:
            if self.actor(session, user_id).has_role(Role.AUDIT_ADMIN):
                return read(session)
        self.deny(user_id, what, area, None)

    def _audit_export(self, user_id: int, what: str, area: str, kind: Kind, name: str, where, rows_of,
                      workbook) -> bytes:
        """The audit administrator's export: the rows streamed into the workbook (never all held
        at once), then a security event saying how many and under which filter."""
        with self.db.reading() as session:
            allowed = self.actor(session, user_id).has_role(Role.AUDIT_ADMIN)
            if allowed:
                rows = log_reading.Counted(rows_of(session, where))
                made = workbook(rows)
        if not allowed:
            self.deny(user_id, what, area, None)
        with self.db.transaction() as session:
            security_log.record(session, kind, actor=self.actor(session, user_id), object=name,
                                details={"rows": rows.count, **{k: str(v) for k, v in where.__dict__.items() if v}})
        return made

    def verify_security_log(self) -> security_log.Verification:
        with self.db.reading() as session:
            return security_log.verify(session)

    def purge_security_log(self, kept_days: int | None = None, daily: bool = False) -> int:
        """Remove the events older than the log keeps (`DUBAN_SECURITY_LOG_DAYS`, at least 180).
        `daily` (the scheduler's periodic sweep): only when no purge ran in the last day."""
        with self.db.transaction() as session:
            if daily and security_log.purged_lately(session):
                return 0
            return security_log.purge(session, kept_days or self.settings.security_log_days)
