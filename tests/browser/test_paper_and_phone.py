"""Paper and phones: the 督办单 prints as one official sheet and downloads as a PDF; on paper no
page shows its top bar; every page a role uses fits a 375 px wide phone (officials report from
the field) without scrolling sideways — a wide table scrolls inside itself."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from engine.models import Escalation, HumanTask
from sqlalchemy import select

from ..support import PASSWORD
from ..test_supervision_notice import fired  # noqa: F401  (the fixture: a problem urged, then supervised)

PHONE = {"width": 375, "height": 740}


def sign_in(page, server, username):
    page.goto(f"{server}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


WIDEST = """() => {
  const out = [];
  for (const e of document.querySelectorAll("body *")) {
    const r = e.getBoundingClientRect();
    if (r.right > 376 && r.width > 0) {
      let hidden = false;
      for (let p = e.parentElement; p; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o === "auto" || o === "scroll" || o === "hidden") { hidden = true; break; }
      }
      if (!hidden || !window.__strict) out.push(e.tagName.toLowerCase() + (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\\s+/).join(".") : "") + " " + Math.round(r.right));
    }
  }
  return out.slice(0, 4).join(", ");
}"""


def overflow(page) -> int:
    """How many CSS pixels the page is wider than the screen (0 when nothing scrolls sideways)."""
    return page.evaluate("() => document.documentElement.scrollWidth") - PHONE["width"]


@pytest.fixture
def phone(browser):
    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True,
                                  device_scale_factor=2)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors
    yield page
    context.close()


def test_every_page_fits_a_phone(server, phone, shoot, fired, duban, org):  # noqa: F811
    with duban.db.reading() as session:
        escalation = session.get(Escalation, fired[("A", 3)])
        problem_id = escalation.problem_id
        task_id = session.scalars(select(HumanTask.id).where(HumanTask.problem_id == problem_id)).first()
    pages = {
        "responsible": ["/tasks", f"/tasks/{task_id}", "/ledger", f"/problems/{problem_id}",
                        f"/escalations/{fired[('A', 3)]}/notice", "/notifications"],
        "admin": ["/ledger", f"/problems/{problem_id}", "/dashboard", "/ledger/import", "/problems/new", "/extensions",
                  "/interviews", "/bulletins", "/admin/", "/admin/definitions", "/admin/rules", "/admin/calendar",
                  "/admin/users", "/admin/organization", "/notifications"],
        "jiwei": ["/dashboard", "/accountability", "/interviews", "/ledger", "/notifications"],
    }
    too_wide = []
    for username, paths in pages.items():
        phone.context.clear_cookies()
        sign_in(phone, server, username)
        for path in paths:
            response = phone.goto(f"{server}{path}")
            assert response.status == 200, f"{username} {path}: {response.status}"
            phone.wait_for_load_state("networkidle")
            if (extra := overflow(phone)) > 1:
                too_wide.append(f"{username} {path}: {extra}px too wide ({phone.evaluate(WIDEST)}) "
                                + str(phone.evaluate("() => [window.innerWidth, document.documentElement.clientWidth, document.body.scrollWidth, document.querySelector('main').scrollWidth]")))
                shoot(phone, f"too-wide-{username}-{path.strip('/').replace('/', '-') or 'home'}")
    shoot(phone, "last-page")
    assert not too_wide, "pages wider than a 375 px phone:\n" + "\n".join(too_wide)
    assert not phone.js_errors


def test_the_notice_prints_as_an_official_sheet(server, page, shoot, fired, duban, org):  # noqa: F811
    sign_in(page, server, "admin")
    page.goto(f"{server}/problems/{_problem(duban, fired)}")
    page.locator(f'[data-notice-link="{fired[("A", 3)]}"]').click()
    expect(page.locator(".paper-sheet .sheet-kind")).to_have_text("督办通知单")
    expect(page.locator(".paper-sheet")).to_contain_text("清江市督办〔2026〕3号")
    shoot(page, "notice-screen")
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator(".sheet-actions")).to_be_hidden()
    expect(page.locator(".paper-sheet")).to_be_visible()
    shoot(page, "notice-print")
    pdf = page.request.get(f"{server}{page.locator('[data-notice-pdf]').get_attribute('href')}")
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
    # the ledger and the problem page on paper: no top bar, no filters
    page.goto(f"{server}/ledger")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator("table").first).to_be_visible()
    assert not page.js_errors


def _problem(duban, fired) -> int:  # noqa: F811
    with duban.db.reading() as session:
        return session.get(Escalation, fired[("A", 3)]).problem_id
