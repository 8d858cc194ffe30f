"""Notices (通知) in the reader's language. A notice written with codes keeps its sentences in
`payload["words"]` (see engine.notifications.NOTICES); each is worded here from the catalog,
its moments in Beijing time. A notice without codes (rows written before them, a process
author's own message) shows its stored Chinese text."""
from __future__ import annotations

from datetime import date, datetime

from markupsafe import Markup, escape
from flask_babel import get_locale
from flask_babel import gettext as _

from engine import notifications

from engine.models import DeadlineKind

from .labels import label
from .layout import local_time


def _chinese() -> bool:
    locale = get_locale()
    return locale is None or locale.language == "zh"


# the parameters worded from the catalog (not data: the page does not mark them)
WORDED = {"deadline_kind", "rule", "responsible"}


def _params(params: dict, marked: bool) -> dict:
    shown = notifications.chinese_params(params) if _chinese() else _english(params)
    if marked:  # data (names, titles, codes, task names) marked as such on the page
        shown = {key: (escape(value) if key in WORDED and (key != "responsible" or params.get(key) is None)
                       or key.endswith(("_at", "_on")) else Markup('<span data-data>%s</span>') % value)
                 for key, value in shown.items()}
    return shown


def _english(params: dict) -> dict:
    shown = {}
    for key, value in params.items():
        if isinstance(value, str) and key.endswith("_at"):
            value = local_time(datetime.fromisoformat(value))
        elif isinstance(value, str) and key.endswith("_on"):
            value = date.fromisoformat(value[:10]).isoformat()
        elif key == "deadline_kind" and value in DeadlineKind._value2member_map_:
            value = label(DeadlineKind(value))
        elif key == "rule" and isinstance(params.get("level"), int):
            value = label(params["level"])  # the level's name from the catalog, not the rule's Chinese name
        elif value is None:
            value = _("未确定") if key == "responsible" else "—"
        shown[key] = value
    return shown


def sentences(parts, marked: bool = False) -> str | None:
    """The sentences in the reader's language; None when they are not all known codes.
    `marked`: HTML, each parameter that is data in an element marked `data-data`."""
    if not isinstance(parts, list) or not parts:
        return None
    said = []
    for part in parts:
        if not (isinstance(part, list) and len(part) == 2 and part[0] in notifications.NOTICES
                and isinstance(part[1], dict)):
            return None
        try:
            wording = _(notifications.NOTICES[part[0]])
            said.append((Markup(escape(wording)) if marked else wording) % _params(part[1], marked))
        except (KeyError, TypeError, ValueError):
            return None
    joined = (Markup if marked else str)("")
    for index, sentence in enumerate(said):
        if index and not _chinese() and not said[index - 1].endswith("\n"):
            joined += " "
        joined += sentence
    return joined


def worded(row, marked: bool = False) -> tuple[str, str]:
    """(subject, body) of a notification row in the reader's language (`marked`: HTML for a page)."""
    wording = row.payload.get("words") if isinstance(row.payload, dict) else None
    wording = wording if isinstance(wording, dict) else {}
    subject = sentences(wording.get("subject"), marked)
    body = sentences(wording.get("body"), marked)
    return (subject if subject is not None else row.subject), (body if body is not None else row.body)
