"""Deadline texts (整改时限) as real ledgers write them, and back.

"2020年12月底前" → 2020-12-31; "2021年6月" → 2021-06-30; "2021年3月15日" → that day;
"2021年底前" → 2021-12-31; "立行立改" → immediate; "长期坚持" → long-term. A text may name a
kind and a date ("2021年6月底前完成，长期坚持"): the kind comes from the words (长期坚持 before
立行立改, else 限期整改) and the deadline is the latest date named.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime

from ..models import DeadlineKind

_FULL_WIDTH = str.maketrans("０１２３４５６７８９．／－", "0123456789./-")
_CN_NUMBERS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}

_PATTERNS = [  # (regex, how to turn the match into (year, month, day or None for the month's end))
    (re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日"), lambda m: (int(m[1]), int(m[2]), int(m[3]))),
    (re.compile(r"(\d{4})[-./](\d{1,2})[-./](\d{1,2})"), lambda m: (int(m[1]), int(m[2]), int(m[3]))),
    (re.compile(r"(\d{4})年(\d{1,2})月"), lambda m: (int(m[1]), int(m[2]), None)),
    (re.compile(r"(\d{4})[./](\d{1,2})(?![\d./])"), lambda m: (int(m[1]), int(m[2]), None)),
    (re.compile(r"(\d{4})年(?:第)?([一二三四1-4])季度"), lambda m: (int(m[1]), 3 * _CN_NUMBERS[m[2]], None)),
    (re.compile(r"(\d{4})年上半年"), lambda m: (int(m[1]), 6, None)),
    (re.compile(r"(\d{4})年(?:下半年|年?底|年?末|内|全年)"), lambda m: (int(m[1]), 12, None)),
    (re.compile(r"(\d{4})年(?!\d)"), lambda m: (int(m[1]), 12, None)),
]


class DeadlineError(ValueError):
    """The text names no deadline Duban understands."""


@dataclass(frozen=True)
class Deadline:
    kind: DeadlineKind
    due: date | None


def parse(value) -> Deadline:
    """A cell's deadline: a date cell is that date; text is read as above."""
    if isinstance(value, datetime):
        return Deadline(DeadlineKind.BY_DATE, value.date())
    if isinstance(value, date):
        return Deadline(DeadlineKind.BY_DATE, value)
    text = re.sub(r"\s+", "", str(value or "")).translate(_FULL_WIDTH)
    if not text:
        raise DeadlineError("no deadline given")
    dates = []
    rest = text
    for pattern, parts in _PATTERNS:
        for match in pattern.finditer(rest):
            year, month, day = parts(match)
            try:
                dates.append(date(year, month, day or calendar.monthrange(year, month)[1]))
            except ValueError:
                raise DeadlineError(f"{match[0]!r} is not a date") from None
        rest = pattern.sub("#", rest)  # a date is read once, by the most precise pattern
    if "长期" in text:
        kind = DeadlineKind.LONG_TERM
    elif "立行立改" in text or "立即整改" in text:
        kind = DeadlineKind.IMMEDIATE
    elif dates:
        kind = DeadlineKind.BY_DATE
    else:
        raise DeadlineError(f"{value!r} names no date and is not 立行立改 or 长期坚持")
    return Deadline(kind, max(dates) if dates else None)


def text(kind: DeadlineKind, due: date | None) -> str:
    """The ledger's way of writing a deadline: "2020年12月底前", "立行立改", "长期坚持"."""
    written = None
    if due is not None:
        if due.day == calendar.monthrange(due.year, due.month)[1]:
            written = f"{due.year}年{due.month}月底前"
        else:
            written = f"{due.year}年{due.month}月{due.day}日前"
    if kind == DeadlineKind.BY_DATE:
        return written or ""
    return f"{kind.label}（{written}）" if written else kind.label
