"""Schema migrations (Alembic), run from the command line or the tests."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Upgrade to every head: features developed side by side may add sibling revisions
    until a merge revision joins them."""
    command.upgrade(alembic_config(database_url), revision)


def revision(database_url: str, message: str) -> None:
    """Autogenerate a migration from the models (for developers)."""
    command.revision(alembic_config(database_url), message=message, autogenerate=True)


def current_revision(engine) -> str | None:
    """The revision the database's schema is at (None: no schema)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        heads = sorted(MigrationContext.configure(connection).get_current_heads())
    return ", ".join(heads) or None


def schema_problem(engine) -> str | None:
    """What keeps this database's schema from being the code's (None: it is current): no schema
    yet, a schema behind the code, or one migrated by a newer release. `engine` is a SQLAlchemy
    Engine; what is said names the command that helps."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    wanted = set(script.get_heads())
    if current == wanted:
        return None
    if not current:
        return "the database has no schema yet: run `duban db upgrade`"
    known = {revision.revision for revision in script.walk_revisions()}
    if current - known:
        return (f"the database is at revision {', '.join(sorted(current - known))}, which this release of "
                f"Duban does not know (a newer release migrated it): run that release")
    return (f"the database is at revision {', '.join(sorted(current))} and this release needs "
            f"{', '.join(sorted(wanted))}: run `duban db upgrade`")
