"""通报 through the pages: the list, issuing today's bulletin on demand, a bulletin as a page
with its charts' data, its Word and Excel downloads, remaking with a confirmation, who may read,
and bad dates."""
from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from engine import clock
from engine.models import BulletinRecord, LedgerEntry

from .test_bulletin import DAY, at, city, close_directly  # noqa: F401 - `city` is the fixture: four problems, one sweep
from .test_pages import login, token_of


@pytest.fixture
def client(app):
    return app.test_client()


def signed_in(app, username):
    client = app.test_client()
    login(client, username)
    return client


def make_today(client):
    page = client.get("/bulletins").get_data(as_text=True)
    return client.post("/bulletins", data={"csrf_token": token_of(page)})


def issued(duban) -> int:
    with duban.db.reading() as session:
        return session.scalar(select(func.count()).select_from(BulletinRecord))


def test_the_list_is_empty_then_today_is_made_on_demand(app, city, duban):
    office = signed_in(app, "admin")
    page = office.get("/bulletins").get_data(as_text=True)
    assert "督察整改工作通报" in page and "尚未发布通报" in page and "生成今日通报" in page

    response = make_today(office)
    assert response.status_code == 303 and response.headers["Location"] == f"/bulletins/{DAY}"
    assert issued(duban) == 1
    shown = office.get(response.headers["Location"]).get_data(as_text=True)
    assert "已生成第 1 期通报（2026-03-23）" in shown

    listing = office.get("/bulletins").get_data(as_text=True)
    row = re.search(rf'<tr data-day="{DAY}">(.*?)</tr>', listing, re.S).group(1)
    assert "第 1 期" in row and "50.0%" in row and "admin" in row
    assert f"/bulletins/{DAY}.docx" in row and f"/bulletins/{DAY}.xlsx" in row
    assert "生成今日通报" not in listing and "查看今日通报（第 1 期）" in listing

    again = make_today(office)  # already issued: the stored one is shown, nothing made
    assert again.status_code == 303 and issued(duban) == 1
    assert "今日通报已生成（第 1 期）" in office.get(again.headers["Location"]).get_data(as_text=True)


def test_the_bulletin_page(app, city, duban):
    duban.make_bulletin(None, DAY)  # as the scheduler issues it
    page = signed_in(app, "jiwei").get(f"/bulletins/{DAY}").get_data(as_text=True)
    assert "清江市生态环境保护督察整改工作通报" in page and "第 1 期" in page and "2026年3月23日" in page
    assert "定时生成" in page
    figures = dict(re.findall(r'data-figure="(\w+)"><b>([^<]+)</b>', page))
    assert figures == {"problems": "4", "closed": "2", "in_progress": "2", "red": "1", "yellow": "1",
                       "close_rate": "50.0%", "newly_closed": "1"}
    assert "销号率 50.0%" in page and "自上一工作日（2026年3月20日）以来新销号 1 个" in page
    escalations = page.split('data-section="escalations"')[1].split("</section>")[0]
    assert re.search(r'data-level="1">\s*提醒预警 <b>2</b>', escalations)
    assert re.search(r'data-level="2">\s*催办 <b>1</b>', escalations) and "张科长" in escalations
    assert "尚在办理 0 起" in page and "当日无新增问责决定" in page
    regions = page.split('data-section="regions"')[1].split("</section>")[0]
    assert regions.index("东坪区") < regions.index("南岭县") and "100.0%" in regions
    units = page.split('data-section="units"')[1].split("</section>")[0]
    assert "南岭县生态环境分局" in units and "南岭县住房和城乡建设局" in units
    overdue = page.split('data-section="overdue"')[1].split("</section>")[0]
    assert "A" in re.findall(r'<span class="code">(\w+)</span>', overdue)
    assert '<span class="code">C</span>' in page.split('data-section="newly_closed"')[1]
    assert "/vendor/echarts/dist/echarts.min.js" in page
    charts = json.loads(re.search(r'<script id="bulletin-charts" type="application/json">(.*?)</script>',
                                  page, re.S).group(1))
    assert charts["status"] == {"closed": 2, "green": 0, "yellow": 1, "red": 1}
    assert {r["name"]: (r["closed"], r["green"], r["yellow"], r["red"]) for r in charts["regions"]} == {
        "东坪区": (2, 0, 0, 0), "南岭县": (0, 0, 1, 1)}
    assert charts["labels"]["red"] == "逾期（红灯）"
    assert "重新生成" not in page                       # the discipline office reads; only the office remakes
    assert 'data-make' not in page


def test_downloads_are_real_documents(app, city, duban):
    duban.make_bulletin(None, DAY)
    leader = signed_in(app, "magistrate")
    docx = leader.get(f"/bulletins/{DAY}.docx")
    assert docx.status_code == 200 and docx.mimetype.endswith("wordprocessingml.document")
    assert "attachment" in docx.headers["Content-Disposition"]
    text = zipfile.ZipFile(io.BytesIO(docx.data)).read("word/document.xml").decode("utf-8")
    assert "第1期" in text and "生态环境保护督察整改工作通报" in text
    xlsx = leader.get(f"/bulletins/{DAY}.xlsx")
    assert xlsx.status_code == 200 and xlsx.mimetype.endswith("spreadsheetml.sheet")
    workbook = load_workbook(io.BytesIO(xlsx.data))
    assert len(workbook.sheetnames) >= 2
    cells = [str(c) for ws in workbook.worksheets for row in ws.iter_rows(values_only=True) for c in row if c]
    assert any("南岭县生态环境分局" in c for c in cells)


def test_remaking_needs_the_confirmation(app, city, duban):
    duban.make_bulletin(None, DAY)
    office = signed_in(app, "admin")
    page = office.get(f"/bulletins/{DAY}").get_data(as_text=True)
    assert "重新生成本期通报" in page and 'name="confirm"' in page
    close_directly(duban, "B", f"{DAY}T17:50:00")
    clock.freeze(at(f"{DAY}T17:55:00"))
    refused = office.post(f"/bulletins/{DAY}/remake", data={"csrf_token": token_of(page)})
    assert refused.status_code == 400 and "确认重新生成" in refused.get_data(as_text=True)
    assert 'data-figure="closed"><b>2<' in office.get(f"/bulletins/{DAY}").get_data(as_text=True)
    done = office.post(f"/bulletins/{DAY}/remake", data={"csrf_token": token_of(page), "confirm": "1"})
    assert done.status_code == 303
    remade = office.get(f"/bulletins/{DAY}").get_data(as_text=True)
    assert "已按当前数据重新生成第 1 期通报" in remade and 'data-figure="closed"><b>3<' in remade
    assert issued(duban) == 1


TODAY = "2026-03-02"  # the tests' frozen clock, without the city's problems


@pytest.mark.parametrize("username", ["responsible", "eco_head"])
def test_officials_may_not_read_or_make_bulletins(app, org, duban, username):
    duban.make_bulletin(None, TODAY)
    official = signed_in(app, username)
    for address in ("/bulletins", f"/bulletins/{TODAY}", f"/bulletins/{TODAY}.docx", f"/bulletins/{TODAY}.xlsx"):
        response = official.get(address)
        assert response.status_code == 403, address
        assert "通报仅供环督办、纪委监委和领导查阅" in response.get_data(as_text=True)
    token = token_of(official.get("/tasks").get_data(as_text=True))
    assert official.post("/bulletins", data={"csrf_token": token}).status_code == 403
    assert official.post(f"/bulletins/{TODAY}/remake", data={"csrf_token": token, "confirm": "1"}).status_code == 403
    with duban.db.reading() as session:
        assert session.scalars(select(LedgerEntry).where(LedgerEntry.action == "permission.denied")).first()


def test_leaders_read_but_do_not_make(app, org, duban):
    leader = signed_in(app, "secretary")
    page = leader.get("/bulletins").get_data(as_text=True)
    assert "尚未发布通报" in page and "生成今日通报" not in page
    assert make_today(leader).status_code == 403 and issued(duban) == 0


def test_no_csrf_token_makes_nothing(app, org, duban):
    office = signed_in(app, "admin")
    assert office.post("/bulletins").status_code == 400 and issued(duban) == 0


BAD_DAYS = [
    ("2026-13-01", "不是有效的日期"), ("abc", "不是有效的日期"), ("2026-3-1", "不是有效的日期"),
    ("2026-03-02x", "不是有效的日期"), ("2026-02-30.docx", "不是有效的日期"), ("abc.xlsx", "不是有效的日期"),
    ("2026-03-20", "2026-03-20 没有发布通报"), ("2026-03-20.xlsx", "2026-03-20 没有发布通报"),
    ("2026-03-20.docx", "2026-03-20 没有发布通报"),
]


def test_bad_dates_are_pages_not_errors(app, org, duban):
    duban.make_bulletin(None, TODAY)
    office = signed_in(app, "admin")
    for day, message in BAD_DAYS:
        response = office.get(f"/bulletins/{day}")
        page = response.get_data(as_text=True)
        assert response.status_code == 404 and message in page and 'data-status="404"' in page, day
    assert office.get(f"/bulletins/{TODAY}").status_code == 200


def test_remaking_a_day_never_issued_is_a_404(app, org, duban):
    office = signed_in(app, "admin")
    token = token_of(office.get("/bulletins").get_data(as_text=True))
    assert office.post("/bulletins/2026-03-20/remake", data={"csrf_token": token, "confirm": "1"}).status_code == 404
    assert issued(duban) == 0


def test_a_bulletin_of_a_city_without_problems(app, org, duban):
    office = signed_in(app, "admin")
    response = make_today(office)
    assert response.status_code == 303 and response.headers["Location"] == f"/bulletins/{TODAY}"
    page = office.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-figure="problems"><b>0<' in page and "暂无问题" in page and "没有逾期问题" in page
    assert "当日未触发督办升级" in page
