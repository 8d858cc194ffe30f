"""Duban's web door: the JSON API (and, later, the pages), a thin layer over engine.service."""
from __future__ import annotations

from flask import Flask, current_app, request

from engine.service import Duban
from engine.settings import Settings


def create_app(settings: Settings | None = None, duban: Duban | None = None) -> Flask:
    settings = settings or (duban.settings if duban else Settings.from_env())
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=64 * 1024 * 1024, JSON_AS_ASCII=False)
    app.json.ensure_ascii = False
    app.extensions["duban"] = duban or Duban(settings)

    from . import edge
    from . import security
    from .api import register_api

    edge.install(app)  # before any route: the id converter binds when a rule is added
    from . import observability

    observability.install(app)
    app.before_request(_current_lights)
    from .pages import pages
    from .ui import install as install_pages
    from .vendor import vendor

    register_api(app)
    app.register_blueprint(pages)
    app.register_blueprint(vendor)
    install_pages(app)
    security.install(app, settings.sign_in.session_hours)
    _mark_stopped_imports(app.extensions["duban"])
    return app


def _current_lights() -> None:
    """Every page and answer shows the lights that hold now, scheduler or not: the rows whose
    light has changed since it was stored are brought up to date first (engine/lights.py)."""
    if request.endpoint == "static" or request.blueprint == "vendor":
        return
    current_app.extensions["duban"].current_lights()


def _mark_stopped_imports(duban: Duban) -> None:
    """At start-up: import runs left running by a process that is gone are interrupted (each
    gunicorn worker and `duban serve` come through here; engine/excel/runs.py says how a
    process is known to be gone)."""
    import logging

    from sqlalchemy.exc import SQLAlchemyError

    try:
        marked = duban.mark_stopped_imports()
    except SQLAlchemyError as error:  # not migrated yet, or the database is away: the next start sees to it
        logging.getLogger("duban.imports").warning("import runs not checked at start-up: %s", error)
        return
    for run_id in marked:
        logging.getLogger("duban.imports").warning("import run #%s was left running by a stopped process; "
                                                   "marked interrupted", run_id)
