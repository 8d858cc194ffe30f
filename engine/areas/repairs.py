"""Repairing running work (流程修复, admins).

A part of the Duban facade (engine/service.py): each method one action, one transaction."""
from __future__ import annotations

from .. import incidents, repair, version_migration
from ..models import Role


class RepairActions:
    def move_token(self, user_id: int, instance_id: int | None, reason, to_element: str,
                   from_element: str | None = None, incident_id: int | None = None) -> repair.Repaired:
        """Move an instance's token to another element (redo or skip a step), with a reason."""
        return self.repair_desk.move(user_id, instance_id, reason, to_element, from_element, incident_id)

    def cancel_instance(self, user_id: int, instance_id: int | None, reason,
                        incident_id: int | None = None) -> repair.Repaired:
        """End an instance (终止流程); its problem stays, the reason in its timeline."""
        return self.repair_desk.cancel(user_id, instance_id, reason, incident_id)

    def migrate_instance(self, user_id: int, instance_id: int | None, reason, to_version, choices=None,
                         process: str | None = None, incident_id: int | None = None) -> repair.Repaired:
        """Put one instance on another version of its process."""
        return self.repair_desk.migrate(user_id, instance_id, reason, to_version, choices, process, incident_id)

    def incident_case(self, user_id: int, incident_id: int, target_version: int | None = None) -> dict:
        """An incident with what its repair needs (its page): version, diagram, data, elements
        (and those of `target_version`, to choose where a task without counterpart goes)."""
        with self.db.reading() as session:
            incident = incidents.get(session, incident_id)
            if self.actor(session, user_id).has_role(Role.ADMIN):
                return repair.incident_case(session, self.runtime, incident, target_version)
            problem_id = incident.problem_id
        self.deny(user_id, f"read incident {incident_id}", "incident", incident_id, problem_id)

    def migration_dry_run(self, user_id: int, key: str, version: int, to_version, page: int = 1,
                          per_page: int = 20) -> version_migration.DryRun:
        """What migrating the open instances of a version would change (nothing is changed)."""
        with self.db.reading() as session:
            if self.actor(session, user_id).has_role(Role.ADMIN):
                return version_migration.dry_run(session, self.runtime, key, version, to_version, page, per_page)
        self.deny(user_id, f"plan the migration of {key} version {version}", "process_definition", None)

    def migrate_version(self, user_id: int, key: str, version: int, to_version, reason, choices=None,
                        instance_choices=None, limit: int = 100):
        """Migrate up to `limit` open instances of a version, one transaction each."""
        with self.db.reading() as session:
            allowed = self.actor(session, user_id).has_role(Role.ADMIN)
        if not allowed:
            self.deny(user_id, f"migrate the instances of {key} version {version}", "process_definition", None)
        return self.migrations.run(user_id, key, version, to_version, reason, choices, instance_choices, limit)
