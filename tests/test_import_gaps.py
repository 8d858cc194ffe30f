"""An import that leaves regions and units without their heads (缺主要负责人): the dry run lists
every region and unit it would create (which have no Party head and no government head) and
every existing one its rows name that lacks a head, with the rows naming each and the overdue
rows the ladder would hold for it; a confirmed import that creates any is refused unless the
office accepts them as organisation gaps (accept_gaps), nothing written; accepted, it imports
and its ledger entry keeps the gaps. Through the engine, the API, the pages and the command
line, on both databases."""
from __future__ import annotations

import io
import re

import pytest
from click.testing import CliRunner
from openpyxl import Workbook
from sqlalchemy import func, select

from engine.errors import Invalid
from engine.models import (Escalation, ImportRun, LedgerEntry, Official, OrganisationGap, Post, PostKind, Problem,
                           Region, RegionLevel, Unit, UnitKind)

from .test_pages import login, token_of

HEADER = ["序号", "问题编号", "问题来源/批次", "反馈问题", "问题类型", "所属区县/乡镇", "责任领导", "牵头单位",
          "具体责任人", "整改措施", "整改时限", "整改进展"]
# the tests' clock stands at Monday 2026-03-02 09:00 (see test_ladder_entry for the counting)
ROWS = [  # code, region, lead unit, deadline
    ("GAP-1", "南岭县", "南岭县生态环境分局", "2026年1月23日"),      # row 3: both have both heads; 约谈
    ("GAP-2", "北山县", "南岭县生态环境分局", "2026年1月22日"),      # row 4: a new region; 约谈 targets its heads
    ("GAP-3", "南岭县", "南岭县自然资源局", "2026年2月6日"),         # row 5: a new unit; 专函督办 targets its heads
    ("GAP-4", "南岭县", "南岭县水利局", "2026年2月5日"),             # row 6: no government head; 专函督办
    ("GAP-5", "南岭县", "南岭县水利局", "2026年12月底前"),           # row 7: not overdue
    ("GAP-6", "北山县", "南岭县自然资源局", "长期坚持"),             # row 8: no deadline
]
BOTH = ["party", "government"]
EXPECTED = [  # (kind, name, new, missing, rows, held rows with their level)
    ("region", "北山县", True, BOTH, [4, 8], [(4, "GAP-2", 4, "region_heads")]),
    ("unit", "南岭县自然资源局", True, BOTH, [5, 8], [(5, "GAP-3", 3, "lead_unit_heads")]),
    ("unit", "南岭县水利局", False, ["government"], [6, 7], [(6, "GAP-4", 3, "lead_unit_heads")]),
]


def sheet() -> bytes:
    workbook = Workbook()
    ws = workbook.active
    ws.append(["南岭县生态环境保护督察整改台账"])
    ws.append(HEADER)
    for number, (code, region, lead, deadline) in enumerate(ROWS, 1):
        ws.append([number, code, "省级生态环境保护督察/2025年省级督察", f"{code}：河道沿岸养殖废水直排", "水", region,
                   "吴县长", lead, "张科长", "清理整治", deadline, "推进中"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def water_bureau(duban, org):
    """南岭县水利局: its 党组书记 is in post, its 局长 post is vacant."""
    with duban.db.transaction() as session:
        county = session.get(Region, org["county"])
        unit = Unit(name="南岭县水利局", kind=UnitKind.DEPARTMENT, region=county)
        secretary = Official(name="钱书记", party_member=True)
        session.add_all([unit, secretary, Post(official=secretary, unit=unit, title="党组书记", kind=PostKind.PARTY,
                                              is_head=True)])
        session.flush()
        return unit.id


def shape(found: list[dict]) -> list[tuple]:
    return [(e["kind"], e["name"], e["new"], e["missing"], e["rows"],
             [(h["row"], h["code"], h["level"], h["target"]) for h in e["held"]]) for e in found]


def counts(duban) -> dict[str, int]:
    with duban.db.reading() as session:
        return {model.__name__: session.scalar(select(func.count()).select_from(model))
                for model in (Problem, Region, Unit, Official, Post, LedgerEntry, ImportRun, OrganisationGap)}


def upload(api, content: bytes, **form):
    return api.post("/api/ledger/import", as_="admin", content_type="multipart/form-data",
                    data={"file": (io.BytesIO(content), "南岭县台账.xlsx"), **form})


# -- the dry run ------------------------------------------------------------------------------------

def test_the_dry_run_lists_the_regions_and_units_without_heads(api, duban, water_bureau):
    before = counts(duban)
    dry = upload(api, sheet())
    assert dry.status_code == 200 and dry.json["counts"] == {"ok": 6, "refused": 0, "duplicate": 0}
    found = dry.json["without_heads"]
    # 南岭县 and 南岭县生态环境分局 have both heads: not listed
    assert shape(found) == EXPECTED
    assert [e["row_count"] for e in found] == [2, 2, 2]
    assert {h["name"] for e in found for h in e["held"]} == {"约谈", "专函督办 / 挂牌督办"}
    assert counts(duban) == before                                      # a dry run writes nothing
    # at a grace date three weeks on, GAP-3 and GAP-4 enter at 约谈 (the lead unit's heads again);
    # GAP-2 enters at 问责, which reaches every official in the chain and is never held
    later = upload(api, sheet(), ladder_from="2026-03-23").json["without_heads"]
    assert [[(h["row"], h["level"]) for h in e["held"]] for e in later] == [[], [(5, 4)], [(6, 4)]]


def upload_page(app):
    """The office signed in on the import page, the sheet uploaded: the client and the answer."""
    client = app.test_client()
    login(client, "admin")
    page = client.get("/ledger/import")
    uploaded = client.post("/ledger/import", data={"csrf_token": token_of(page.get_data(as_text=True)),
                                                    "file": (io.BytesIO(sheet()), "南岭县台账.xlsx")},
                           content_type="multipart/form-data")
    assert uploaded.status_code == 303
    return client, uploaded


def test_the_report_page_shows_them(app, duban, org, water_bureau):
    client, uploaded = upload_page(app)
    html = client.get(uploaded.headers["Location"]).get_data(as_text=True)
    assert 'data-without-heads="3"' in html and 'data-new-without-heads="2"' in html
    listed = re.findall(r'data-gap-kind="(\w+)" data-gap-name="([^"]+)" data-gap-new="(\w+)"', html)
    assert listed == [("region", "北山县", "true"), ("unit", "南岭县自然资源局", "true"),
                      ("unit", "南岭县水利局", "false")]
    section = html.split("缺少主要负责人的地区和单位")[1].split("督办起点")[0]
    assert 'data-missing="government"' in section and section.count('data-missing="party government"') == 2
    assert 'data-rows="4 8"' in section and 'data-held="4"' in section and 'data-held="6"' in section
    assert "将新建（无主要负责人）" in section and "GAP-3" in section
    assert "管理 · 区域与单位" in section and 'href="/admin/organization"' in section
    assert 'name="accept_gaps"' in html and "接受组织缺口" in html
    # in English the section speaks English; only the names of the regions and units stay Chinese
    client.get("/lang/en")
    english = client.get(uploaded.headers["Location"]).get_data(as_text=True)
    section = re.search(r"<section class=\"card without-heads\".*?</section>", english, re.S).group(0)
    assert "Regions and units without their heads" in section and "to be created (without heads)" in section
    assert "Admin · Regions and units" in section
    assert set(re.findall(r"[\u3400-\u9fff]+", section)) == {"北山县", "南岭县自然资源局", "南岭县水利局"}
    assert "Accept the organisation gaps" in english


# -- confirming ---------------------------------------------------------------------------------

def test_a_confirmed_import_without_acceptance_is_refused_with_nothing_written(api, duban, water_bureau):
    before = counts(duban)
    refused = upload(api, sheet(), confirm="true")
    assert refused.status_code == 400 and refused.json["code"] == "invalid"
    said = refused.json["errors"]["accept_gaps"]
    assert len(said) == 2 and "北山县 (new region, rows 4, 8)" in said[0] and "南岭县自然资源局 (new unit" in said[1]
    assert "南岭县水利局" not in refused.json["message"]                  # an existing one needs no acceptance
    assert "管理 · 区域与单位" in refused.json["message"] and "accept_gaps=true" in refused.json["message"]
    assert counts(duban) == before
    with pytest.raises(Invalid) as engine_refusal:
        duban.import_ledger(api.org["user:admin"], sheet(), confirm=True, accept_gaps=False)
    assert "accept_gaps" in engine_refusal.value.errors
    assert counts(duban) == before


def test_an_accepted_import_goes_ahead_records_the_gaps_and_the_ladder_holds_what_it_said(api, duban,
                                                                                          water_bureau):
    dry = upload(api, sheet()).json
    done = upload(api, sheet(), confirm="true", accept_gaps="true")
    assert done.status_code == 200, done.json
    assert done.json["imported"] == [code for code, *_ in ROWS]
    assert shape(done.json["without_heads"]) == EXPECTED
    with duban.db.reading() as session:
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "ledger.imported")).one()
        assert entry.payload["accept_gaps"] is True
        assert entry.payload["accepted_gaps"] == [
            {"kind": "region", "name": "北山县", "new": True, "missing": BOTH, "rows": [4, 8], "held_rows": [4]},
            {"kind": "unit", "name": "南岭县自然资源局", "new": True, "missing": BOTH, "rows": [5, 8],
             "held_rows": [5]},
            {"kind": "unit", "name": "南岭县水利局", "new": False, "missing": ["government"], "rows": [6, 7],
             "held_rows": [6]}]
        region = session.scalars(select(Region).where(Region.name == "北山县")).one()
        assert region.level == RegionLevel.COUNTY
    # the next sweep fires GAP-1's 约谈 and holds exactly the rows the dry run named
    fired = {(f.problem_code, f.level) for f in duban.sweep()}
    assert fired == {("GAP-1", 4)}
    with duban.db.reading() as session:
        held = {(gap.problem.code, gap.level, m["name"], m["side"])
                for gap in session.scalars(select(OrganisationGap)) for m in gap.missing}
        assert session.scalars(select(Escalation)).all()[0].problem.code == "GAP-1"
    predicted = {(h["code"], h["level"], e["name"], side) for e in dry["without_heads"] for h in e["held"]
                 for side in e["missing"]}
    assert held == predicted
    listed = api.get("/api/organisation-gaps", as_="admin").json["items"]
    assert len(listed) == 3


def test_heads_entered_first_need_no_acceptance(api, duban, water_bureau):
    """The office's alternative: 北山县 and 南岭县自然资源局 entered with their heads first; the
    import then creates neither and is confirmed without accept_gaps (南岭县水利局 is listed
    still: it exists without its 局长)."""
    with duban.db.transaction() as session:
        city = session.scalars(select(Region).where(Region.name == "清江市")).one()
        county = session.get(Region, api.org["county"])
        beishan = Region(name="北山县", level=RegionLevel.COUNTY, parent=city)
        units = [Unit(name="中共北山县委员会", kind=UnitKind.PARTY_COMMITTEE, region=beishan),
                 Unit(name="北山县人民政府", kind=UnitKind.GOVERNMENT, region=beishan),
                 Unit(name="南岭县自然资源局", kind=UnitKind.DEPARTMENT, region=county)]
        session.add_all([beishan, *units])
        for unit, (name, title, kind) in zip(units + [units[2]], [
                ("郑书记", "县委书记", PostKind.PARTY), ("冯县长", "县长", PostKind.GOVERNMENT),
                ("陈局长", "局长", PostKind.DEPARTMENT), ("褚书记", "党组书记", PostKind.PARTY)]):
            session.add(Post(official=Official(name=name), unit=unit, title=title, kind=kind, is_head=True))
    dry = upload(api, sheet()).json
    assert shape(dry["without_heads"]) == [EXPECTED[2]]
    done = upload(api, sheet(), confirm="true")
    assert done.status_code == 200 and len(done.json["imported"]) == 6


def test_the_confirm_page_asks_for_the_acceptance(app, duban, org, water_bureau):
    client, uploaded = upload_page(app)
    address = uploaded.headers["Location"]
    html = client.get(address).get_data(as_text=True)
    before = counts(duban)
    refused = client.post(address, data={"csrf_token": token_of(html)})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and 'data-error="accept_gaps"' in page
    assert "未导入任何数据" in page and "管理 · 区域与单位" in page
    assert counts(duban) == before
    done = client.post(address, data={"csrf_token": token_of(page), "accept_gaps": "1"})
    assert done.status_code == 303
    result = client.get(address).get_data(as_text=True)
    assert "导入完成" in result and 'data-without-heads="3"' in result and "北山县" in result
    assert "须勾选" not in result                                          # the result asks nothing more
    with duban.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Problem)) == 6


# -- the command line ---------------------------------------------------------------------------

def test_the_command_line_lists_them_and_needs_accept_gaps(duban, org, water_bureau, database_url, tmp_path):
    from web.cli import main

    path = tmp_path / "台账.xlsx"
    path.write_bytes(sheet())
    env = {"DUBAN_DATABASE_URL": database_url, "DUBAN_INSTANCE_PATH": str(tmp_path / "cli")}
    dry = CliRunner().invoke(main, ["import-ledger", str(path)], env=env)
    assert dry.exit_code == 0, dry.output
    assert "without heads:" in dry.output
    assert ("  region 北山县  new, no party and no government head; 2 row(s): 4, 8; held on the ladder: "
            "row 4 GAP-2 L4 约谈") in dry.output
    assert "  unit   南岭县水利局  existing, no government head; 2 row(s): 6, 7; held on the ladder: row 6 GAP-4 L3" \
        in dry.output
    assert "2 new region(s)/unit(s) without heads: --confirm needs --accept-gaps" in dry.output
    before = counts(duban)
    refused = CliRunner().invoke(main, ["import-ledger", str(path), "--confirm", "--as", "admin"], env=env)
    assert refused.exit_code == 2 and "accept_gaps: must be true to create without heads: 北山县" in refused.output
    assert "--accept-gaps" in refused.output
    assert counts(duban) == before
    done = CliRunner().invoke(main, ["import-ledger", str(path), "--confirm", "--accept-gaps", "--as", "admin"],
                              env=env)
    assert done.exit_code == 0, done.output
    assert "accepted as organisation gaps: 2 new region(s)/unit(s) without heads" in done.output
    assert "6 imported" in done.output
    with duban.db.reading() as session:
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "ledger.imported")).one()
        assert [g["name"] for g in entry.payload["accepted_gaps"]] == ["北山县", "南岭县自然资源局", "南岭县水利局"]


def test_the_dry_run_says_whom_each_entering_row_reaches_both_heads_or_the_vacancy(app, api, duban, water_bureau):
    rows = {row["code"]: row for row in upload(api, sheet()).json["ladder"]["rows"]}
    assert set(rows) == {"GAP-1", "GAP-2", "GAP-3", "GAP-4"}  # the overdue ones

    def heads(row, of):
        return [(t["side"], t["name"]) for t in rows[row]["to"] if t["of"] == of]

    # 约谈 reaches the region's and the lead unit's two heads: named where in post, null where vacant
    assert heads("GAP-1", "南岭县") == [("party", "周书记"), ("government", "吴县长")]
    assert heads("GAP-1", "南岭县生态环境分局")[0][0] == "party" and all(n for _, n in heads("GAP-1", "南岭县生态环境分局"))
    assert heads("GAP-2", "北山县") == [("party", None), ("government", None)]              # a new region
    assert heads("GAP-4", "南岭县水利局") == [("party", "钱书记"), ("government", None)]      # a vacant 局长
    assert heads("GAP-3", "南岭县自然资源局") == [("party", None), ("government", None)]      # a new unit
    people = [(t["target"], t["name"]) for t in rows["GAP-1"]["to"] if t["side"] == "person"]
    assert all(name for _, name in people)

    client = app.test_client()
    login(client, "admin")
    page = client.get("/ledger/import")
    uploaded = client.post("/ledger/import", data={"csrf_token": token_of(page.get_data(as_text=True)),
                                                    "file": (io.BytesIO(sheet()), "南岭县台账.xlsx")},
                           content_type="multipart/form-data")
    html = client.get(uploaded.headers["Location"]).get_data(as_text=True)
    row = re.search(r'<tr data-ladder-row="6">.*?</tr>', html, re.S).group(0)
    assert "钱书记" in row and "空缺" in row and 'data-vacant' in row and "南岭县水利局" in row
