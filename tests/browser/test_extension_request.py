"""延期申请 in a real browser: the responsible official asks for a later deadline from the
problem page (refused first for a date not after the current one), the office finds it
first in 延期申请, refuses without a reason and is told at the field, then approves; the
problem page shows the new deadline and the decision in its history."""
from __future__ import annotations

from playwright.sync_api import expect

from ..helpers_pages import register
from ..support import PASSWORD
from .second_user import another_user


def sign_in(page, server, username, path):
    page.goto(f"{server}{path}")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def test_official_asks_and_the_office_decides(server, page, browser, shoot, duban, org):
    problem_id = register(duban, org, code="YQ-2026-001")
    sign_in(page, server, "responsible", f"/problems/{problem_id}")
    form = page.locator('[data-form="extension-request"]')
    expect(form).to_be_visible()
    form.get_by_label("申请延至").fill("2026-05-31")
    form.get_by_label("延期理由").fill("雨季施工受限，管网改造需顺延。")
    form.get_by_role("button", name="提交延期申请").click()
    expect(page.locator('[data-error-for="requested_deadline"]')).to_contain_text("须晚于现在的整改时限 2026-06-30")
    expect(page.locator('[data-form="extension-request"]').get_by_label("延期理由")).to_have_value("雨季施工受限，管网改造需顺延。")
    shoot(page, "refused-date")
    page.locator('[data-form="extension-request"]').get_by_label("申请延至").fill("2026-09-30")
    page.locator('[data-form="extension-request"]').get_by_role("button", name="提交延期申请").click()
    expect(page.locator('#extensions [data-extension-status="pending"]')).to_contain_text("2026-06-30 → 2026-09-30")
    expect(page.locator('[data-form="extension-request"]')).to_have_count(0)
    shoot(page, "filed")

    with another_user(browser) as office:
        sign_in(office, server, "admin", "/ledger")
        office.locator('[data-nav="extensions"]').click()
        expect(office.locator("[data-pending-count]")).to_have_attribute("data-pending-count", "1")
        card = office.locator('section.extension[data-extension-status="pending"]')
        expect(card).to_contain_text("YQ-2026-001")
        expect(card.locator("[data-current]")).to_have_text("2026-06-30")
        expect(card.locator("[data-requested]")).to_have_text("2026-09-30")
        expect(card.locator("[data-reason]")).to_have_text("雨季施工受限，管网改造需顺延。")
        card.get_by_role("button", name="驳回").click()
        expect(office.locator('[data-error-for="note"]')).to_have_text("驳回须说明理由。")
        shoot(office, "refusal-needs-a-reason")
        card = office.locator('section.extension[data-extension-status="pending"]')
        card.get_by_label("审批意见").fill("同意顺延至8月底")
        card.get_by_label("批准至").fill("2026-08-31")
        card.get_by_role("button", name="批准").click()
        expect(office.locator("[data-pending-count]")).to_have_attribute("data-pending-count", "0")
        expect(office.locator('section.extension[data-extension-status="approved"] [data-approved]')).to_have_text(
            "2026-08-31")
        shoot(office, "approved")

    page.reload()
    expect(page.locator("[data-deadline]")).to_have_text("2026年8月底前")
    approved = page.locator('#extensions [data-extension-status="approved"]')
    expect(approved).to_contain_text("批准至 2026-08-31")
    expect(approved).to_contain_text("同意顺延至8月底")
    expect(page.locator('[data-form="extension-request"]')).to_be_visible()  # may ask again
    shoot(page, "decided")
    assert not page.js_errors
