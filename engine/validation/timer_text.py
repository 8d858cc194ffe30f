"""What a timer written in words meant, in ISO 8601: '5 days' → P5D, '2 hours' → PT2H,
'3个月' → P3M, '5 working days' → P5D with calendar=working."""
from __future__ import annotations

import re

_UNITS = [  # (words, date part or time part, ISO letter)
    (("year", "years", "yr", "yrs", "y", "年"), "P", "Y"),
    (("month", "months", "mo", "个月", "月"), "P", "M"),
    (("week", "weeks", "wk", "wks", "w", "周", "星期", "个星期"), "P", "W"),
    (("working day", "working days", "workday", "workdays", "business day", "business days", "工作日", "个工作日"),
     "P", "WD"),
    (("day", "days", "d", "天", "日"), "P", "D"),
    (("hour", "hours", "hr", "hrs", "h", "小时", "个小时"), "T", "H"),
    (("minute", "minutes", "min", "mins", "m", "分钟"), "T", "M"),
    (("second", "seconds", "sec", "secs", "s", "秒"), "T", "S"),
]
_WORD = {word: (part, letter) for words, part, letter in _UNITS for word in words}
_PIECE = re.compile(r"(\d+)\s*(" + "|".join(sorted(map(re.escape, _WORD), key=len, reverse=True)) + r")(?![a-z])")


def guess_duration(text: str) -> tuple[str, bool] | None:
    """(the ISO duration, whether it counts working days) a text in words means, or None."""
    raw = text.strip().strip("'\"").strip()
    if re.fullmatch(r"[pP](\d+[yYmMwWdD])+(t(\d+[hHmMsS])+)?", raw, re.IGNORECASE):
        return raw.upper(), False  # p5d: only the case is wrong
    lowered = raw.lower()
    pieces = _PIECE.findall(lowered)
    if not pieces or _PIECE.sub("", lowered).strip(" ,，、和and") != "":
        return None
    date, time, working = "", "", False
    for number, word in pieces:
        part, letter = _WORD[word]
        if letter == "WD":
            letter, working = "D", True
        if part == "P":
            date += f"{int(number)}{letter}"
        else:
            time += f"{int(number)}{letter}"
    if working and (time or date != date.rstrip("D") + "D" or not re.fullmatch(r"\d+D", date)):
        return None
    return "P" + date + (("T" + time) if time else ""), working
