"""The state an imported ledger row is in (历史台账的状态), read from its status columns.

An office's ledger says, in 完成情况 / 是否销号 / 整改进展 / 销号时间 and their synonyms
(engine/excel/columns.py), how far each problem has gone. A row is registered in that state:

| what the row says | state | what the import does |
| --- | --- | --- |
| 是否销号 = 是/已销号, or 完成情况/整改进展 = 已销号, or 已完成 with a 销号时间 | closed | the problem is registered CLOSED, closed at the 销号时间 (or the moment of the import), no process, never on the ladder |
| 已申请销号, 待验收, 验收中, 申请销号 | acceptance | the rectification process starts and its token is moved to 行业部门认定 (Task_industry_certify) |
| 整改中, 正在整改, 推进中, 阶段性办结, 已完成 without a 销号时间 | implementation | the process starts and its token is moved to 整改实施并申请销号 (Task_rectify) |
| 方案编制, 编制方案, 方案制定中, 方案待审 | planning | the process starts and its token is moved to 提交整改方案 (Task_submit_plan) |
| nothing, 未开始, 未完成, 未整改, 待签收 | new | the process starts at 签收 (Task_sign), as for any new problem |

Contradictions (是否销号 = 是 while 完成情况 says 未完成 or 整改中, a 销号时间 on a row not
closed, an unreadable 销号时间 or 是否销号) refuse the row, naming the column; text that
is not understood is a warning and the row is read as new.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ..errors import Reason

CLOSED, ACCEPTANCE, IMPLEMENTATION, PLANNING, NEW = "closed", "acceptance", "implementation", "planning", "new"
STATES = (CLOSED, ACCEPTANCE, IMPLEMENTATION, PLANNING, NEW)
LABELS = {CLOSED: "已销号", ACCEPTANCE: "验收中", IMPLEMENTATION: "整改中", PLANNING: "方案编制", NEW: "待签收"}
# the element of bpmn/rectification.bpmn a row in this state waits at (None: no process)
ELEMENT = {CLOSED: None, ACCEPTANCE: "Task_industry_certify", IMPLEMENTATION: "Task_rectify",
           PLANNING: "Task_submit_plan", NEW: "Task_sign"}
LOOK_BACK = "Task_look_back"   # where a closed row waits when the office wants its 回头看

_YES = {"是", "已销号", "销号", "已", "y", "yes", "√", "✓", "1"}
_NO = {"否", "未销号", "未", "n", "no", "×", "0", "无"}
# the words of 完成情况 / 整改进展, the most specific first
_WORDS = [
    (CLOSED, ("已销号", "销号完成", "完成销号", "已办结销号")),
    (ACCEPTANCE, ("已申请销号", "申请销号", "待验收", "验收中", "待销号", "公示中", "已验收")),
    (PLANNING, ("方案编制", "编制方案", "方案制定", "制定方案", "方案待审", "方案审核")),
    ("not_done", ("未完成", "未整改", "未开始", "尚未", "待签收", "未启动", "未销号")),
    (IMPLEMENTATION, ("整改中", "正在整改", "推进中", "阶段性办结", "阶段性完成", "持续推进", "正在推进", "长期坚持")),
    ("done", ("已完成", "已整改", "完成整改", "整改完成", "已办结", "完成")),
]


# the labels of ProblemStatus, as Duban's own export writes them in 整改进展: read as they are,
# before the words of the other column (the export writes 推进中 in 完成情况 for any open problem)
_EXACT = {"已交办": "not_done", "方案编制": PLANNING, "整改中": IMPLEMENTATION, "验收中": ACCEPTANCE,
          "公示中": ACCEPTANCE, "已销号": CLOSED}


_FURTHEST_FIRST = (CLOSED, ACCEPTANCE, "done", IMPLEMENTATION, PLANNING, "not_done")


@dataclass
class Status:
    state: str
    closed_on: date | None
    reasons: list[Reason]
    warnings: list[Reason]


def _clean(value) -> str:
    return re.sub(r"\s+", "", str(value or "")).strip()


def _word(text: str) -> str | None:
    for kind, words in _WORDS:
        if any(w in text for w in words):
            return kind
    return None


def _date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _clean(value)
    match = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", text)
    if match:
        return date(int(match[1]), int(match[2]), int(match[3]))
    month = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})月?(?:底|末)?", text)
    if not month:
        raise ValueError(text)
    year, number = int(month[1]), int(month[2])  # a month alone: its last day, as deadlines read it
    return date(year + number // 12, number % 12 + 1, 1) - timedelta(days=1)


def judge(values: dict, header, why, today: date) -> Status:
    """The row's state from its status cells (`values`: field → cell); `header(field)` the
    sheet's own name of a column, `why` the reason builder of engine/excel/importing.py."""
    reasons: list[Reason] = []
    warnings: list[Reason] = []
    closed_text = _clean(values.get("closed"))
    words = {f: _clean(values.get(f)) for f in ("completion", "progress")}
    said = {f: _EXACT.get(t) or _word(t) for f, t in words.items() if t}
    exact = {f: _EXACT[t] for f, t in words.items() if t in _EXACT}
    closed_on = None
    raw_date = values.get("closed_at")
    if raw_date not in (None, "") and _clean(raw_date):
        try:
            closed_on = _date(raw_date)
        except ValueError:
            reasons.append(why(header("closed_at"), "status_date", f"cannot read {_clean(raw_date)!r} as a date",
                               value=_clean(raw_date)))
        else:
            if closed_on > today:
                reasons.append(why(header("closed_at"), "status_future", f"{closed_on.isoformat()} is after today",
                                   value=closed_on.isoformat()))
    closed_flag = None
    if closed_text:
        if closed_text.lower() in _YES:
            closed_flag = True
        elif closed_text.lower() in _NO:
            closed_flag = False
        else:
            reasons.append(why(header("closed"), "status_closed", f"{closed_text!r} is neither 是 nor 否",
                               value=closed_text))
    for f, text in words.items():
        if text and said.get(f) is None:
            warnings.append(why(header(f), "status_unknown", f"{text!r} is not a status Duban knows and is not "
                                "read", value=text))
    kinds = set(exact.values()) if exact else set(said.values()) - {None}
    if exact:
        said = {f: k for f, k in said.items() if f in exact or k in (CLOSED, "not_done")}
    # the state the words give, the furthest first
    worded = next((kind for kind in _FURTHEST_FIRST if kind in kinds), None)
    if closed_flag is True or worded == CLOSED or (worded == "done" and closed_on is not None and closed_flag is not False):
        state = CLOSED
        against = [f for f, k in said.items() if k in ("not_done", IMPLEMENTATION, PLANNING)]
        if closed_flag is False:
            against.append("closed")
        for f in against:
            text = closed_text if f == "closed" else words[f]
            reasons.append(why(header(f), "status_contradiction",
                               f"{text!r} contradicts {header('closed')}={closed_text or '是'}: the row says closed and not closed",
                               value=text, other=header("closed")))
    elif closed_flag is False and worded is None and closed_on is None:
        state = NEW
    elif worded == ACCEPTANCE:
        state = ACCEPTANCE
    elif worded == PLANNING:
        state = PLANNING
    elif worded in ("done", IMPLEMENTATION):
        state = IMPLEMENTATION
        if worded == "done":
            warnings.append(why(header("completion") if said.get("completion") == "done" else header("progress"),
                                "status_done_open", "rectified but not closed out (no 销号时间): imported as in "
                                "progress, at 整改实施并申请销号"))
    else:
        state = NEW
    if closed_on is not None and state != CLOSED:
        reasons.append(why(header("closed_at"), "status_contradiction",
                           f"a close date {closed_on.isoformat()} on a row that is not closed out",
                           value=closed_on.isoformat(), other=header("closed")))
    return Status(state, closed_on if state == CLOSED else None, reasons, warnings)
