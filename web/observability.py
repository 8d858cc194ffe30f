"""Operators' view: every request given an id (X-Request-Id, answered in the same header,
written into its log lines and ledger entries), counted by route and status with its latency, and
`/metrics` (engine/metrics.py) answered to the addresses DUBAN_METRICS_ALLOW names
(comma-separated addresses or networks; default the loopback, 127.0.0.1 and ::1), 403 to
the others. No session is asked for: a Prometheus server scrapes it."""
from __future__ import annotations

import ipaddress
import logging
import os
import time

from flask import Flask, Response, current_app, g, request

from engine import metrics, request_id

log = logging.getLogger("duban.metrics")


def install(app: Flask) -> None:
    app.config["DUBAN_METRICS_ALLOW"] = _networks(os.environ.get("DUBAN_METRICS_ALLOW") or "127.0.0.1,::1")
    app.before_request(_started)
    app.after_request(_answered)
    app.teardown_request(_ended)
    app.add_url_rule("/metrics", "metrics", _metrics)


def _networks(text: str) -> list:
    found = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            found.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise SystemExit(f"DUBAN_METRICS_ALLOW: {part!r} is not an address or a network") from None
    return found


def _started() -> None:
    """The request's id (the X-Request-Id a proxy sent, else a new one), for its log lines and
    its ledger entries, and the moment it began."""
    g.duban_started = time.perf_counter()
    g.duban_request_id = request_id.accepted(request.headers.get("X-Request-Id"))
    g.duban_request_token = request_id.begin(g.duban_request_id)
    g.duban_source_token = request_id.begin_source(request.remote_addr)  # after ProxyFix, when configured


def _ended(_error) -> None:
    for name, end in (("duban_request_token", request_id.end), ("duban_source_token", request_id.end_source)):
        token = g.pop(name, None)
        if token is not None:
            try:
                end(token)
            except ValueError:  # set in another context (a streamed answer): it dies with that context
                pass


def _answered(response: Response) -> Response:
    if g.get("duban_request_id"):
        response.headers["X-Request-Id"] = g.duban_request_id
    began = g.get("duban_started")
    if began is not None and request.endpoint not in ("static", "metrics"):
        route = request.url_rule.rule if request.url_rule is not None else "(no route)"
        metrics.request_answered(request.method, route, response.status_code, time.perf_counter() - began)
    return response


def _metrics() -> Response:
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        address = None
    if address is None or not any(address in network for network in current_app.config["DUBAN_METRICS_ALLOW"]):
        return Response("metrics are served to the addresses DUBAN_METRICS_ALLOW names\n", status=403,
                        mimetype="text/plain")
    running = current_app.extensions.get("duban_scheduler")
    body, content_type = metrics.exposition(current_app.extensions["duban"].db,
                                            None if running is None else running.leading.is_set())
    return Response(body, content_type=content_type)
