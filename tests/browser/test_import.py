"""导入台账 in a real browser: the office opens 整改台账 → 导入台账, uploads an office's sheet
(merged title, dated subtitle, a refused row), reads the dry-run report, confirms with the
refused row skipped and the new regions and units accepted without heads, and lands on the
result."""
from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from engine.models import Problem

from ..support import PASSWORD
from ..test_excel import BAD, GOOD, ledger_sheet

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sign_in(page, server, username, target):
    page.goto(f"{server}{target}")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def test_office_imports_a_ledger_after_the_dry_run(server, page, shoot, duban, org):
    sign_in(page, server, "admin", "/ledger")
    expect(page).to_have_url(re.compile(r"/ledger$"))
    to_import = page.get_by_role("link", name="导入台账")
    if to_import.count():                       # the ledger page links to the import
        to_import.first.click()
    else:
        page.goto(f"{server}/ledger/import")
    expect(page.get_by_role("heading", name="导入台账")).to_be_visible()
    expect(page.locator('[data-nav="ledger"]')).to_have_class(re.compile("active"))
    shoot(page, "upload-form")

    # a text file renamed is refused on the page, nothing read
    page.locator("#ledger-file").set_input_files(files=[{"name": "台账.xlsx", "mimeType": XLSX,
                                                         "buffer": "这不是表格".encode()}])
    page.get_by_role("button", name="上传并预检").click()
    expect(page.locator('[data-errors="file"]')).to_contain_text("不是有效的 Excel 工作簿")
    shoot(page, "not-a-workbook")

    sheet = ledger_sheet(GOOD + BAD[:1])      # NL-X-004's deadline reads 尽快: refused
    page.locator("#ledger-file").set_input_files(files=[{"name": "南岭县整改台账.xlsx", "mimeType": XLSX,
                                                         "buffer": sheet}])
    page.get_by_role("button", name="上传并预检").click()
    expect(page.get_by_role("heading", name=re.compile("预检结果"))).to_be_visible()
    expect(page.locator("[data-sheet]")).to_have_text("Sheet")
    expect(page.locator('tr[data-status="ok"]')).to_have_count(3)
    refused = page.locator('tr[data-status="refused"]')
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("第 8 行")
    expect(refused).to_contain_text("NL-X-004")
    expect(refused.locator(".column")).to_have_text("整改时限（完成时间）")
    expect(refused).to_contain_text("无法识别“尽快”")
    expect(page.locator('[data-created="units"]')).to_contain_text("北山县水利局")
    expect(page.locator('[data-created="officials"]')).to_contain_text("陈镇长")
    without_heads = page.locator("[data-without-heads]")       # new regions and units come without heads
    expect(without_heads.locator('tr[data-gap-new="true"]')).to_have_count(4)
    expect(without_heads.locator('tr[data-gap-name="北山县"]')).to_contain_text("将新建（无主要负责人）")
    shoot(page, "dry-run-report")

    # confirming without skipping imports nothing
    page.get_by_role("button", name="确认导入").click()
    expect(page.locator('[data-error="confirm"]')).to_contain_text("有 1 行被拒绝，未导入任何数据")
    with duban.db.reading() as session:
        assert session.scalars(select(Problem)).first() is None
    shoot(page, "refused-without-skip")

    page.get_by_label(re.compile("跳过被拒绝的行")).check()
    page.get_by_role("button", name="确认导入").click()
    # the new regions and units have no heads: the office accepts them as organisation gaps
    expect(page.locator('[data-error="accept_gaps"]')).to_contain_text("未导入任何数据")
    with duban.db.reading() as session:
        assert session.scalars(select(Problem)).first() is None
    page.get_by_label(re.compile("跳过被拒绝的行")).check()
    page.get_by_label(re.compile("接受组织缺口")).check()
    page.get_by_role("button", name="确认导入").click()
    expect(page.get_by_role("heading", name=re.compile("导入完成"))).to_be_visible()
    expect(page.locator('[data-count="imported"] b')).to_have_text("3")
    expect(page.locator("[data-imported]")).to_contain_text("NL-X-003")
    shoot(page, "imported")
    with duban.db.reading() as session:
        assert sorted(session.scalars(select(Problem.code))) == ["NL-X-001", "NL-X-002", "NL-X-003"]

    page.get_by_role("link", name="查看整改台账").click()
    expect(page).to_have_url(re.compile(r"/ledger$"))
    assert page.js_errors == []


def test_office_resumes_an_import_that_stopped_part_way(server, page, shoot, duban, org):
    """An import stopped after some batches committed (an error in between): the dry run of the
    same sheet shows the run with the rows it kept, 继续导入 imports the rest."""
    import dataclasses

    import pytest

    from ..test_import_batches import sheet

    duban.settings = dataclasses.replace(duban.settings,
                                         imports=dataclasses.replace(duban.settings.imports, batch_seconds=0.01))
    content = sheet(8)

    def stops(run):
        raise RuntimeError("连接中断")

    with pytest.raises(RuntimeError):
        duban.import_ledger(org["user:admin"], content, confirm=True, filename="南岭县整改台账.xlsx", committed=stops)
    with duban.db.reading() as session:
        kept = len(session.scalars(select(Problem)).all())
    assert 0 < kept < 8

    sign_in(page, server, "admin", "/ledger/import")
    page.locator("#ledger-file").set_input_files(files=[{"name": "南岭县整改台账.xlsx", "mimeType": XLSX,
                                                         "buffer": content}])
    page.get_by_role("button", name="上传并预检").click()
    run = page.locator("[data-run-status]")
    expect(run).to_have_attribute("data-run-status", "failed")
    expect(run).to_contain_text(f"已导入 {kept} / 8 行")
    expect(page.locator('tr[data-status="duplicate"]')).to_have_count(kept)
    expect(page.locator('tr[data-status="duplicate"]').first).to_contain_text("号导入记录导入")
    shoot(page, "stopped-run")

    page.get_by_role("button", name="继续导入").click()
    expect(page.get_by_role("heading", name=re.compile("导入完成"))).to_be_visible()
    expect(page.locator('[data-count="imported"] b')).to_have_text(str(8 - kept))
    expect(page.locator("[data-run]")).to_contain_text("共导入 8 行（分 2 次确认）")
    shoot(page, "resumed")
    with duban.db.reading() as session:
        assert sorted(session.scalars(select(Problem.code))) == [f"PI-{n:03d}" for n in range(1, 9)]
    assert page.js_errors == []
