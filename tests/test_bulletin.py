"""The daily bulletin (一天一通报): its figures, its documents, the scheduler's daily issue,
who may read and make it."""
from __future__ import annotations

import io
import zipfile
from datetime import datetime

import pytest
from sqlalchemy import select

from engine import clock
from engine.models import BulletinRecord, LedgerEntry, Light, Notification, Problem, ProblemStatus, Region, RegionLevel
from engine.scheduling.runner import Scheduler

DAY = "2026-03-23"  # a Monday; the working day before it is Friday 20 March


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=clock.SHANGHAI)


def close_directly(duban, code: str, moment: str) -> None:
    """Mark a problem closed (销号) at a moment, as the end of its flow would (the flow itself is
    tested in test_rectification_flow; here only the bulletin's counting matters)."""
    with duban.db.transaction() as session:
        problem = session.scalar(select(Problem).where(Problem.code == code))
        problem.status, problem.closed_at, problem.light = ProblemStatus.CLOSED, at(moment), Light.CLOSED


@pytest.fixture
def city(api, duban):
    """Four problems in two counties and two lead units, then the sweep of Monday 23 March:
    A is overdue (red), B is near its deadline (yellow), C was closed on Saturday (new since
    Friday), D on Friday afternoon (closed before the previous working day ended)."""
    org = api.org
    with duban.db.transaction() as session:
        east = Region(name="东坪区", level=RegionLevel.COUNTY, parent_id=org["city"])
        session.add(east)
        session.flush()
        east_id = east.id
    api.register(code="A", deadline="2026-03-20", lead_unit_id=org["eco"])
    api.register(code="B", deadline="2026-03-25", lead_unit_id=org["housing"], region_id=org["town"])
    api.register(code="C", deadline="2026-06-30", lead_unit_id=org["eco"], region_id=east_id)
    api.register(code="D", deadline="2026-06-30", lead_unit_id=org["housing"], region_id=east_id)
    close_directly(duban, "D", "2026-03-20T15:00:00")
    close_directly(duban, "C", "2026-03-21T10:00:00")
    clock.freeze(at(f"{DAY}T10:00:00"))
    fired = sorted((f.problem_code, f.level) for f in duban.sweep())
    assert fired == [("A", 1), ("A", 2), ("B", 1)]
    duban.refresh_lights()
    clock.freeze(at(f"{DAY}T17:45:00"))
    return org


def test_the_bulletin_counts_the_day(city, duban):
    made, fresh = duban.make_bulletin(city["user:admin"], DAY)
    assert fresh and made.number == 1 and made.made_by == "admin"
    assert made.title == "清江市生态环境保护督察整改工作通报"
    assert made.previous_working_day.isoformat() == "2026-03-20"
    assert made.totals == {"problems": 4, "closed": 2, "in_progress": 2, "red": 1, "yellow": 1, "green": 0,
                           "sites": 8, "sites_closed": 0, "newly_closed": 1, "close_rate": 50.0}
    assert [p["code"] for p in made.newly_closed] == ["C"]
    assert [p["code"] for p in made.overdue] == ["A"]
    assert [(e["level"], e["problem_code"]) for e in made.escalations] == [(2, "A"), (1, "A"), (1, "B")]
    assert any("张科长" in target for target in made.escalations[0]["targets"])
    assert {row["level"]: row["count"] for row in made.escalations_by_level} == {1: 2, 2: 1, 3: 0, 4: 0, 5: 0}
    assert made.interviews == {"started": [], "held": [], "running": 0} and made.decisions == []
    # B sits in a township of 南岭县 and counts with its county
    assert made.regions == [
        {"name": "东坪区", "problems": 2, "closed": 2, "in_progress": 0, "red": 0, "yellow": 0, "close_rate": 100.0},
        {"name": "南岭县", "problems": 2, "closed": 0, "in_progress": 2, "red": 1, "yellow": 1, "close_rate": 0.0}]
    assert {u["name"]: (u["problems"], u["closed"], u["red"], u["yellow"], u["close_rate"]) for u in made.units} == {
        "南岭县生态环境分局": (2, 1, 1, 0, 50.0), "南岭县住房和城乡建设局": (2, 1, 0, 1, 50.0)}


def test_an_issued_bulletin_is_fixed_until_remade(city, duban, api):
    admin = city["user:admin"]
    first, _ = duban.make_bulletin(admin, DAY)
    close_directly(duban, "B", f"{DAY}T17:50:00")
    clock.freeze(at(f"{DAY}T18:00:00"))
    again, fresh = duban.make_bulletin(admin, DAY)
    assert not fresh and again.totals == first.totals and again.made_at == first.made_at
    remade, fresh = duban.make_bulletin(admin, DAY, remake=True)
    assert fresh and remade.number == 1 and remade.totals["closed"] == 3 and remade.totals["newly_closed"] == 2
    assert duban.bulletin(DAY).totals["closed"] == 3
    with duban.db.reading() as session:
        entries = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "bulletin.issued")).all()
        assert [(e.payload["number"], e.payload["remade"], e.actor_name) for e in entries] == [
            (1, False, "admin"), (1, True, "admin")]
        told = session.scalars(select(Notification).where(Notification.kind == "bulletin.issued")).all()
        assert {n.user_id for n in told} == {city["user:admin"], city["user:jiwei"]}
    assert duban.verify_ledger().intact
    # the next day gets the next number
    clock.freeze(at("2026-03-24T17:40:00"))
    assert duban.make_bulletin(None, "2026-03-24")[0].number == 2
    assert [b.day.isoformat() for b in duban.bulletins().items] == ["2026-03-24", DAY]
    second = duban.bulletins(None, page=2, per_page=1)
    assert ([b.day.isoformat() for b in second.items], second.total) == ([DAY], 2)


def test_an_interview_started_by_the_ladder_is_counted(city, duban):
    # 20 working days after Friday 20 March (Qingming 4-6 April not counted): the interview rung
    clock.freeze(at("2026-04-21T10:00:00"))
    assert ("A", 4) in [(f.problem_code, f.level) for f in duban.sweep()]
    made, _ = duban.make_bulletin(None, "2026-04-21")
    assert [i["problem_code"] for i in made.interviews["started"]] == ["A"]
    assert made.interviews["running"] == 1 and made.made_by == "系统"
    assert {row["level"]: row["count"] for row in made.escalations_by_level}[4] == 1


def test_the_word_document_reads_as_a_bulletin(city, duban, api):
    duban.make_bulletin(city["user:admin"], DAY)
    response = api.get(f"/api/bulletins/{DAY}.docx", as_="jiwei")
    assert response.status_code == 200
    assert response.mimetype.endswith("wordprocessingml.document")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "filename*=UTF-8''" in disposition and "%E7%AC%AC1%E6%9C%9F" in disposition

    from docx import Document

    document = Document(io.BytesIO(response.data))
    lines = [p.text for p in document.paragraphs]
    assert lines[0] == "清江市生态环境保护督察整改工作通报" and lines[1] == "第1期"
    assert "2026年3月23日" in lines[2]
    text = "\n".join(lines)
    assert "全市共有督察整改问题4个，已销号2个，整改推进中2个，销号率50.0%" in text
    assert "逾期（红灯）1个" in text and "新销号1个" in text
    assert "当日共触发督办升级3次：提醒预警2次，催办1次。" in text
    cells = {cell.text for table in document.tables for row in table.rows for cell in row.cells}
    assert {"东坪区", "南岭县", "100.0%", "C", "A"} <= cells


def _docx(duban, api, city):
    from docx import Document

    duban.make_bulletin(city["user:admin"], DAY)
    response = api.get(f"/api/bulletins/{DAY}.docx", as_="jiwei")
    assert response.status_code == 200
    return Document(io.BytesIO(response.data))


def _east_asian_font(element) -> str | None:
    from docx.oxml.ns import qn

    fonts = element.find(f".//{qn('w:rFonts')}")
    return None if fonts is None else fonts.get(qn("w:eastAsia"))


def test_the_word_document_is_an_a4_official_document(city, duban, api):
    """GB/T 9704: A4, the 156 x 225 mm type area, 仿宋_GB2312 三号 on exact lines, the masthead in
    red 方正小标宋简体 over a red rule, 黑体 headings, "— N —" page numbers right on odd pages and
    left on even ones, the colophon last."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
    from docx.oxml.ns import qn
    from docx.shared import Pt

    document = _docx(duban, api, city)
    section = document.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    assert [round(m.mm) for m in (section.top_margin, section.bottom_margin, section.left_margin,
                                  section.right_margin)] == [37, 35, 28, 26]
    assert round(section.page_width.mm - section.left_margin.mm - section.right_margin.mm) == 156
    assert round(section.page_height.mm - section.top_margin.mm - section.bottom_margin.mm) == 225

    normal = document.styles["Normal"]
    assert normal.font.size == Pt(16) and _east_asian_font(normal.element) == "仿宋_GB2312"
    assert normal.paragraph_format.line_spacing_rule == WD_LINE_SPACING.EXACTLY
    assert round(normal.paragraph_format.line_spacing.pt * 22 / 72 * 25.4) == 225  # 22 lines fill the area

    title = document.paragraphs[0].runs[0]
    assert _east_asian_font(title.element) == "方正小标宋简体" and str(title.font.color.rgb) == "E60012"
    rule = document.paragraphs[2]._p.find(f".//{qn('w:pBdr')}/{qn('w:bottom')}")
    assert rule is not None and rule.get(qn("w:color")) == "E60012"
    headings = [p for p in document.paragraphs if p.text.startswith(("一、", "六、"))]
    assert len(headings) == 2 and all(_east_asian_font(p.runs[0].element) == "黑体" for p in headings)

    assert document.settings.odd_and_even_pages_header_footer
    for footer, alignment in ((section.footer, WD_ALIGN_PARAGRAPH.RIGHT),
                              (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT)):
        number = footer.paragraphs[0]
        assert number.alignment == alignment and number.text.startswith("— ") and number.text.endswith(" —")
        codes = [t.text.strip() for t in number._p.iter(qn("w:instrText"))]
        assert codes == ["PAGE"] and _east_asian_font(number.runs[0].element) == "宋体"
    assert document.paragraphs[-1].text.endswith("2026年3月23日印发")


def test_the_word_document_draws_its_breakdowns(city, duban, api):
    """Problems by light and close rates, by region and by unit: four PNG charts inside the type area."""
    document = _docx(duban, api, city)
    pictures = document.inline_shapes
    assert len(pictures) == 4
    for picture in pictures:
        assert picture.width <= document.sections[0].page_width - document.sections[0].left_margin \
            - document.sections[0].right_margin
    images = [part for part in document.part.package.parts if part.partname.endswith(".png")]
    assert len(images) == 4 and all(part.blob.startswith(b"\x89PNG") for part in images)


def test_without_a_chinese_font_the_document_keeps_its_tables(city, duban, api, monkeypatch):
    """A chart whose names would be empty boxes is not drawn; the tables carry the figures."""
    from engine.bulletin import charts

    monkeypatch.setattr(charts, "FONTS", ("没有这个字体",))
    charts._font.cache_clear()
    try:
        document = _docx(duban, api, city)
    finally:
        monkeypatch.undo()
        charts._font.cache_clear()
    assert len(document.inline_shapes) == 0
    cells = {cell.text for table in document.tables for row in table.rows for cell in row.cells}
    assert {"东坪区", "南岭县", "100.0%"} <= cells


def test_the_workbook_has_its_sheets_and_charts(city, duban, api):
    duban.make_bulletin(city["user:admin"], DAY)
    response = api.get(f"/api/bulletins/{DAY}.xlsx", as_="secretary")  # a leader reads it
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert ".xlsx" in response.headers["Content-Disposition"]

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames[:4] == ["总览", "分地区", "分单位", "督办升级"]
    overview = {row[0]: row[1] for row in book["总览"].iter_rows(values_only=True) if len(row) > 1 and row[1] is not None}
    assert overview["问题总数"] == 4 and overview["已销号"] == 2 and overview["红灯（逾期）"] == 1
    regions = list(book["分地区"].iter_rows(values_only=True))
    assert regions[0][0] == "地区" and regions[1][:7] == ("东坪区", 2, 2, 0, 0, 0, 100.0)
    assert [row[2] for row in book["督办升级"].iter_rows(min_row=2, values_only=True)] == ["A", "A", "B"]
    charts = [name for name in zipfile.ZipFile(io.BytesIO(response.data)).namelist() if name.startswith("xl/charts/chart")]
    assert len(charts) == 3  # the pie on 总览, a bar of close rate by region and by unit
    assert len(book["分地区"]._charts) == 1
    chart_xml = "".join(zipfile.ZipFile(io.BytesIO(response.data)).read(name).decode() for name in charts)
    assert "barChart" in chart_xml and "pieChart" in chart_xml and "'分地区'!$G$2:$G$3" in chart_xml


def test_the_plan_has_the_bulletin_on_working_days_only(city, duban, monkeypatch):
    monkeypatch.delenv("DUBAN_BULLETIN_TIME", raising=False)

    def bulletins_planned():
        return {w.id: w.moment for w in Scheduler(duban).wakeups() if w.id.startswith("bulletin:")}

    clock.freeze(at("2026-03-20T10:00:00"))  # Friday morning
    assert bulletins_planned() == {"bulletin:2026-03-20": at("2026-03-20T17:30:00")}
    duban.make_bulletin(None, "2026-03-20")
    # issued: the next is Monday, not the weekend
    assert bulletins_planned() == {"bulletin:2026-03-23": at("2026-03-23T17:30:00")}
    clock.freeze(at("2026-04-03T18:00:00"))  # Friday before Qingming (4-6 April)
    assert bulletins_planned() == {"bulletin:2026-04-07": at("2026-04-07T17:30:00")}
    monkeypatch.setenv("DUBAN_BULLETIN_TIME", "08:15")
    assert bulletins_planned() == {"bulletin:2026-04-07": at("2026-04-07T08:15:00")}
    monkeypatch.setenv("DUBAN_BULLETIN_TIME", "off")
    assert bulletins_planned() == {}


def test_the_cycle_issues_it_once_when_due(city, duban, monkeypatch):
    monkeypatch.delenv("DUBAN_BULLETIN_TIME", raising=False)
    scheduler = Scheduler(duban)
    clock.freeze(at("2026-03-21T18:00:00"))  # Saturday: none
    assert scheduler.cycle("test")["bulletin"] is None
    clock.freeze(at(f"{DAY}T17:29:59"))
    assert scheduler.cycle("test")["bulletin"] is None
    clock.freeze(at(f"{DAY}T17:30:00"))
    made = scheduler.cycle("test")["bulletin"]
    assert made.day.isoformat() == DAY and made.number == 1 and made.made_by == "系统"
    clock.freeze(at(f"{DAY}T17:35:00"))
    assert scheduler.cycle("test")["bulletin"] is None
    assert Scheduler(duban).cycle("another")["bulletin"] is None
    with duban.db.reading() as session:
        assert len(session.scalars(select(BulletinRecord)).all()) == 1
        assert len(session.scalars(select(LedgerEntry).where(LedgerEntry.action == "bulletin.issued")).all()) == 1
    assert "bulletin:2026-03-23" not in {w.id for w in scheduler.wakeups()}


def test_who_may_read_and_make_it(city, api):
    assert api.post("/api/bulletins", as_="responsible", json={"day": DAY}).status_code == 403
    assert api.post("/api/bulletins", as_="secretary", json={"day": DAY}).status_code == 403  # leaders read only
    made = api.post("/api/bulletins", as_="admin", json={"day": DAY})
    assert made.status_code == 201 and made.json["number"] == 1 and made.json["totals"]["problems"] == 4
    again = api.post("/api/bulletins", as_="admin", json={"day": DAY})
    assert again.status_code == 200 and again.json["made_at"] == made.json["made_at"]
    assert api.post("/api/bulletins", as_="admin", json={"day": DAY, "remake": True}).status_code == 201
    for reader in ("admin", "jiwei", "secretary", "magistrate"):
        assert api.get(f"/api/bulletins/{DAY}", as_=reader).json["regions"][0]["name"] == "东坪区"
        assert [b["day"] for b in api.get("/api/bulletins", as_=reader).json["items"]] == [DAY]
    for path in ("/api/bulletins", f"/api/bulletins/{DAY}", f"/api/bulletins/{DAY}.docx", f"/api/bulletins/{DAY}.xlsx"):
        response = api.get(path, as_="responsible")
        assert response.status_code == 403 and response.json["code"] == "forbidden"
        assert api.get(path).status_code == 401


def test_bad_days_are_refused_naming_the_field(city, api):
    for path in ("/api/bulletins/2026-13-40", "/api/bulletins/yesterday.docx", "/api/bulletins/2026-02-30.xlsx"):
        response = api.get(path, as_="admin")
        assert response.status_code == 400 and "day" in response.json["errors"], path
    for body in ({"day": "23/03/2026"}, {"day": 20260323}, {"remake": "perhaps"}):
        response = api.post("/api/bulletins", as_="admin", json=body)
        assert response.status_code == 400 and set(response.json["errors"]) == set(body), body
    future = api.post("/api/bulletins", as_="admin", json={"day": "2026-03-24"})
    assert future.status_code == 400 and future.json["errors"] == {"day": ["must not be in the future"]}
    missing = api.get("/api/bulletins/2026-03-20", as_="admin")
    assert missing.status_code == 404 and "day" in missing.json["errors"]


def test_the_command_line_issues_and_writes_it(city, duban, database_url, tmp_path):
    from click.testing import CliRunner
    from docx import Document
    from openpyxl import load_workbook

    from web.cli import main

    env = {"DUBAN_DATABASE_URL": database_url, "DUBAN_INSTANCE_PATH": str(tmp_path / "cli")}
    out = tmp_path / "通报.docx"
    result = CliRunner().invoke(main, ["bulletin", "--day", DAY, "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "第1期 2026-03-23（made now）" in result.output and "已销号2个" in result.output
    assert Document(str(out)).paragraphs[1].text == "第1期"
    sheet = tmp_path / "通报.xlsx"
    again = CliRunner().invoke(main, ["bulletin", "--day", DAY, "--out", str(sheet)], env=env)
    assert again.exit_code == 0 and "issued 2026-03-23 17:45" in again.output
    assert load_workbook(sheet)["总览"]["A1"].value == "清江市生态环境保护督察整改工作通报"
    wrong = CliRunner().invoke(main, ["bulletin", "--out", str(tmp_path / "x.pdf")], env=env)
    assert wrong.exit_code == 2 and "out: must end in .docx or .xlsx" in wrong.output
    bad = CliRunner().invoke(main, ["bulletin", "--day", "2026-3-xx"], env=env)
    assert bad.exit_code == 2 and "day:" in bad.output
