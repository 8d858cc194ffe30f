"""Browser libraries installed by npm (package.json), served from node_modules."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_from_directory

from engine.settings import ROOT

NODE_MODULES = ROOT / "node_modules"
ALLOWED = {"swagger-ui-dist", "bpmn-js", "bpmn-js-bpmnlint", "@bpmn-io", "echarts", "htmx.org"}

vendor = Blueprint("vendor", __name__, url_prefix="/vendor")


@vendor.get("/<path:path>")
def asset(path: str):
    if Path(path).parts[0] not in ALLOWED:
        abort(404)
    return send_from_directory(NODE_MODULES, path, max_age=86400)
