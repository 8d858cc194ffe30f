"""Writing the ledger (导出台账) in the columns an import reads: a title row, a dated
subtitle in Beijing time, one row per problem."""
from __future__ import annotations

import io
from typing import Callable, Sequence

from .. import clock
from ..models import Problem, ProblemStatus
from . import deadlines, text_cells
from .columns import label

FIELDS = ("seq", "code", "title", "source", "batch", "description", "category", "region", "leading_official",
          "lead_unit", "cooperating_units", "responsible", "target", "measures", "deadline", "progress",
          "completion", "light", "closed", "closed_at", "sites")
WIDTHS = {"description": 48, "measures": 40, "target": 30, "title": 28, "source": 20, "batch": 18,
          "lead_unit": 22, "cooperating_units": 24, "deadline": 18, "closed_at": 12, "sites": 24}
TITLE = "生态环境保护督察反馈问题整改台账"


def _cells(number: int, problem: Problem) -> list:
    closed = problem.status == ProblemStatus.CLOSED
    values = {
        "seq": number, "code": problem.code, "title": problem.title, "source": problem.source.label,
        "batch": problem.batch, "description": problem.description, "category": problem.category.label,
        "region": problem.region.name,
        "leading_official": problem.leading_official.name if problem.leading_official else None,
        "lead_unit": problem.lead_unit.name, "cooperating_units": "、".join(u.name for u in problem.cooperating_units),
        "responsible": problem.responsible_official.name, "target": problem.target, "measures": problem.measures,
        "deadline": deadlines.text(problem.deadline_kind, problem.deadline), "progress": problem.status.label,
        "completion": "已完成" if closed else "推进中", "light": problem.light.label if problem.light else None,
        "closed": "是" if closed else "否", "sites": "、".join(s.name for s in problem.sites),
        # 销号时间, the day in Beijing time: read back, a closed row closes on the same day
        "closed_at": problem.closed_at.astimezone(clock.SHANGHAI).date().isoformat()
        if closed and problem.closed_at else None,
    }
    return [values[f] or None for f in FIELDS]


def write(rows: Sequence[Problem], title: str = TITLE, progress: Callable[[int, int], None] | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "整改台账"
    width = len(FIELDS)
    sheet.append([title])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    sheet["A1"].font = Font(bold=True, size=16)
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.append([f"（截至北京时间 {clock.local_now():%Y年%m月%d日 %H:%M}）"])
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=width)
    sheet["A2"].alignment = Alignment(horizontal="center")
    sheet.append([label(f) for f in FIELDS])
    thin = Side(style="thin")
    for cell in sheet[3]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = Border(left=thin, right=thin, top=thin, bottom=thin)
    count = 0
    for count, problem in enumerate(rows, 1):
        sheet.append(_cells(count, problem))
        for cell in sheet[sheet.max_row]:
            cell.alignment = Alignment(vertical="top", wrap_text=True)
            cell.border = Border(left=thin, right=thin, top=thin, bottom=thin)
        if progress:
            progress(count, len(rows))
    sheet.append([])
    sheet.append([f"注：共 {count} 个问题。完成情况、红黄绿灯以导出时刻为准；整改时限按“X年X月底前”“立行立改”“长期坚持”填写。"])
    for index, field in enumerate(FIELDS, 1):
        sheet.column_dimensions[get_column_letter(index)].width = WIDTHS.get(field, 12)
    sheet.freeze_panes = "C4"
    text_cells.as_text(workbook)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
