"""The bulletin as a reader gets it: a Word document laid out as a 通报 reads, and a workbook
with one sheet per breakdown and native charts.

The Word document is an A4 official document (official_document.py, GB/T 9704) whose breakdowns
are charts drawn as images (charts.py) over tables whose lights are coloured cells.
"""
from __future__ import annotations

import io

from ..excel import text_cells
from . import Bulletin

RED, YELLOW, GREEN, GREY = "F4B6B6", "FBE8A6", "C8E6C9", "E7E6E6"


def chinese_date(day) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def summary(b: Bulletin) -> str:
    t = b.totals
    return (f"截至{chinese_date(b.day)}，全市共有督察整改问题{t['problems']}个，已销号{t['closed']}个，"
            f"整改推进中{t['in_progress']}个，销号率{t['close_rate']}%；推进中的问题里，逾期（红灯）{t['red']}个，"
            f"临近整改时限（黄灯）{t['yellow']}个。涉及点位{t['sites']}个，已完成整改{t['sites_closed']}个。"
            f"自上一工作日（{chinese_date(b.previous_working_day)}）以来新销号{t['newly_closed']}个。")


def escalation_summary(b: Bulletin) -> str:
    if not b.escalations:
        return "当日未触发督办升级。"
    parts = "，".join(f"{row['name']}{row['count']}次" for row in b.escalations_by_level if row["count"])
    return f"当日共触发督办升级{len(b.escalations)}次：{parts}。"


def interview_summary(b: Bulletin) -> str:
    i = b.interviews
    return f"当日启动约谈{len(i['started'])}起，实施约谈{len(i['held'])}起；目前尚在办理的约谈共{i['running']}起。"


def decision_summary(b: Bulletin) -> str:
    if not b.decisions:
        return "当日无新增问责决定。"
    return f"当日新增问责决定{len(b.decisions)}项。"


# -- Word ---------------------------------------------------------------------------------------

def to_docx(b: Bulletin) -> bytes:
    """The bulletin as an A4 official document (official_document.py) with its charts as images
    (charts.py) above the tables they draw."""
    from . import charts
    from .official_document import OfficialDocument

    office = f"{b.city}生态环境保护督察整改工作领导小组办公室"
    doc = OfficialDocument()
    doc.masthead(b.title, f"第{b.number}期" if b.number else "（未发布）", office, chinese_date(b.day))

    doc.heading("一、总体情况")
    doc.text(summary(b))
    t = b.totals
    doc.table(["问题总数", "已销号", "整改推进中", "红灯（逾期）", "黄灯（临近时限）", "绿灯", "销号率"],
              [[t["problems"], t["closed"], t["in_progress"], t["red"], t["yellow"], t["green"],
                f"{t['close_rate']}%"]],
              [[None, GREEN, None, RED if t["red"] else None, YELLOW if t["yellow"] else None, None, None]])

    doc.heading("二、新销号问题")
    if b.newly_closed:
        doc.table(["问题编号", "问题", "所属地区", "牵头单位"],
                  [[p["code"], p["title"], p["region"], p["lead_unit"]] for p in b.newly_closed])
    else:
        doc.text("自上一工作日以来无新销号问题。")

    doc.heading("三、督办升级情况")
    doc.text(escalation_summary(b))
    if b.escalations:
        doc.table(["级别", "措施", "问题编号", "问题", "督办对象"],
                  [[f"{e['level']}级", e["name"], e["problem_code"], e["problem_title"], "、".join(e["targets"])]
                   for e in b.escalations],
                  [[RED if e["level"] >= 2 else YELLOW] + [None] * 4 for e in b.escalations])

    doc.heading("四、约谈情况")
    doc.text(interview_summary(b))
    meetings = [["启动", i["problem_code"], i["problem_title"]] for i in b.interviews["started"]] + \
               [["实施", i["problem_code"], i["problem_title"]] for i in b.interviews["held"]]
    if meetings:
        doc.table(["环节", "问题编号", "问题"], meetings)

    doc.heading("五、问责情况")
    doc.text(decision_summary(b))
    if b.decisions:
        doc.table(["被问责人", "类别", "问责方式", "决定文号", "问题编号"],
                  [[d["official"], d["category"], d["form"], d["decision_no"] or "", d["problem_code"]]
                   for d in b.decisions])

    def breakdown(rows: list[dict], label: str) -> None:
        if not rows:
            doc.text("无。")
            return
        for png in (charts.problems_by_light(rows, label), charts.close_rates(rows, label)):
            if png:
                doc.picture(png)
        doc.table([label, "问题数", "已销号", "推进中", "红灯", "黄灯", "销号率"],
                  [[r["name"], r["problems"], r["closed"], r["in_progress"], r["red"], r["yellow"],
                    f"{r['close_rate']}%"] for r in rows],
                  [[None] * 4 + [RED if r["red"] else None, YELLOW if r["yellow"] else None, None] for r in rows])

    doc.heading("六、分地区情况")
    breakdown(b.regions, "地区")
    doc.heading("七、分牵头单位情况")
    breakdown(b.units, "牵头单位")

    doc.heading("八、逾期问题清单")
    if b.overdue:
        doc.table(["问题编号", "问题", "牵头单位", "整改时限"],
                  [[p["code"], p["title"], p["lead_unit"], p["deadline"] or ""] for p in b.overdue],
                  [[RED, None, None, None] for _ in b.overdue])
    else:
        doc.text("无逾期问题。")

    doc.note(f"（数据截至{b.as_of.astimezone(_shanghai()):%Y年%m月%d日 %H:%M}，由{b.made_by or '系统'}生成）")
    doc.colophon(office, chinese_date(b.day))
    return doc.bytes()


def _shanghai():
    from .. import clock

    return clock.SHANGHAI


# -- Excel --------------------------------------------------------------------------------------

def to_xlsx(b: Bulletin) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, PieChart, Reference
    from openpyxl.styles import Alignment, Font, PatternFill

    def fill(colour: str) -> PatternFill:
        return PatternFill("solid", start_color=colour, end_color=colour)

    bold = Font(bold=True)
    book = Workbook()

    def sheet(title: str, headers: list[str], rows: list[list], first=None):
        ws = book.create_sheet(title) if first is None else first
        ws.title = title
        ws.append(headers)
        for cell in ws[ws.max_row]:
            cell.font, cell.fill = bold, fill(GREY)
        for row in rows:
            ws.append(row)
        for column in ws.columns:
            width = max(len(str(c.value or "")) for c in column)
            ws.column_dimensions[column[0].column_letter].width = min(max(10, width * 2), 60)
        return ws

    t = b.totals
    overview = book.active
    overview.title = "总览"
    overview.append([b.title])
    overview["A1"].font = Font(bold=True, size=16)
    overview.append([f"第{b.number}期" if b.number else "（未发布）", chinese_date(b.day)])
    overview.append([])
    header_row = overview.max_row + 1
    for row in (["指标", "数量"], ["问题总数", t["problems"]], ["已销号", t["closed"]],
                ["红灯（逾期）", t["red"]], ["黄灯（临近时限）", t["yellow"]], ["绿灯", t["green"]],
                ["整改推进中", t["in_progress"]], ["销号率（%）", t["close_rate"]], ["点位总数", t["sites"]], ["点位已完成整改", t["sites_closed"]],
                ["新销号", t["newly_closed"]], ["当日督办升级", len(b.escalations)],
                ["当日启动约谈", len(b.interviews["started"])], ["当日实施约谈", len(b.interviews["held"])],
                ["当日问责决定", len(b.decisions)]):
        overview.append(row)
    for cell in overview[header_row]:
        cell.font, cell.fill = bold, fill(GREY)
    colours = {"已销号": GREEN, "红灯（逾期）": RED, "黄灯（临近时限）": YELLOW, "绿灯": GREEN}
    for row in overview.iter_rows(min_row=header_row + 1):
        if row[0].value in colours:
            row[0].fill = fill(colours[row[0].value])
    overview.append([])
    overview.append([summary(b)])
    overview.cell(overview.max_row, 1).alignment = Alignment(wrap_text=True)
    overview.column_dimensions["A"].width = 24
    overview.column_dimensions["B"].width = 14
    # the pie: 已销号, 红灯, 黄灯, 绿灯 (the four rows after 问题总数 add up to it)
    pie = PieChart()
    pie.title = "问题整改状态"
    first = header_row + 2
    pie.add_data(Reference(overview, min_col=2, min_row=first, max_row=first + 3), titles_from_data=False)
    pie.set_categories(Reference(overview, min_col=1, min_row=first, max_row=first + 3))
    overview.add_chart(pie, "D4")

    headers = ["问题数", "已销号", "推进中", "红灯", "黄灯", "销号率（%）"]

    def breakdown(title: str, label: str, rows: list[dict]):
        ws = sheet(title, [label, *headers], [[r["name"], r["problems"], r["closed"], r["in_progress"], r["red"],
                                               r["yellow"], r["close_rate"]] for r in rows])
        for row in ws.iter_rows(min_row=2):
            if row[4].value:
                row[4].fill = fill(RED)
            if row[5].value:
                row[5].fill = fill(YELLOW)
        if rows:
            chart = BarChart()
            chart.type = "bar"
            chart.title = f"{label}销号率（%）"
            chart.y_axis.title = "销号率（%）"
            chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 100
            chart.legend = None
            chart.add_data(Reference(ws, min_col=7, min_row=1, max_row=len(rows) + 1), titles_from_data=True)
            chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=len(rows) + 1))
            chart.height = max(6, 1.2 * len(rows) + 3)
            ws.add_chart(chart, "J2")
        return ws

    breakdown("分地区", "地区", b.regions)
    breakdown("分单位", "牵头单位", b.units)
    ws = sheet("督办升级", ["级别", "措施", "问题编号", "问题", "督办对象", "触发时间"],
               [[e["level"], e["name"], e["problem_code"], e["problem_title"], "、".join(e["targets"]),
                 e["fired_at"][:16].replace("T", " ")] for e in b.escalations])
    for row in ws.iter_rows(min_row=2):
        row[0].fill = fill(RED if row[0].value >= 2 else YELLOW)
    sheet("约谈与问责", ["事项", "问题编号", "问题或被问责人", "方式"],
          [["启动约谈", i["problem_code"], i["problem_title"], ""] for i in b.interviews["started"]]
          + [["实施约谈", i["problem_code"], i["problem_title"], ""] for i in b.interviews["held"]]
          + [["问责决定", d["problem_code"], d["official"], f"{d['category']}·{d['form']}"] for d in b.decisions])
    sheet("新销号与逾期", ["类别", "问题编号", "问题", "牵头单位", "整改时限或销号时间"],
          [["新销号", p["code"], p["title"], p["lead_unit"], p["closed_at"][:10]] for p in b.newly_closed]
          + [["逾期", p["code"], p["title"], p["lead_unit"], p["deadline"] or ""] for p in b.overdue])
    text_cells.as_text(book)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
