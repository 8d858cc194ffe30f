"""Log lines: text for a person at a terminal, or one JSON object a line for a log collector
(DUBAN_LOG_FORMAT=json), each with the request id of engine/request_id.py where there is one."""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone

from . import request_id


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        rid = getattr(record, "request_id", None)
        if rid:
            line["request_id"] = rid
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class _WithRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.current() or ""
        return True


def configure(level: int = logging.INFO) -> None:
    """The root logger's one handler, to stderr, in the format DUBAN_LOG_FORMAT names (`text`
    by default, or `json`)."""
    handler = logging.StreamHandler()
    handler.addFilter(_WithRequestId())
    if (os.environ.get("DUBAN_LOG_FORMAT") or "text").strip().lower() == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s %(request_id)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # SpiffWorkflow says every task's every change of state at INFO: thousands of lines a burst
    # of timers, none of them an operator's concern (the ledger says what happened)
    logging.getLogger("spiff").setLevel(max(level, logging.WARNING))
