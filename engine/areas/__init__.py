"""The Duban facade's actions by area, as mixins of engine.service.Duban: each module one area
of the domain, each method one action in one transaction."""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy.orm import Session

from ..calendar import WorkingCalendar

DEFAULT_PROCESS = "rectification"
# what a door wants back from an action, built inside its transaction: (session, id) -> answer
Answer = Callable[[Session, int], Any]
# the same for a calendar change: (session, the calendar as changed, what the change did) -> answer
CalendarAnswer = Callable[[Session, WorkingCalendar, dict], Any]
