"""The Content-Security-Policy in a real browser: the listener every browser test carries sees
a refused inline script (so it can fail), the API docs (Swagger UI) run under the policy, a
form's data-confirm (no inline handler) asks first, and signing out ends the session."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from ..support import PASSWORD


def sign_in(page, server, username="admin", next_path="/admin"):
    page.goto(f"{server}/login?next={next_path}")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def test_the_policy_refuses_an_inline_script_and_the_listener_sees_it(server, page):
    page.goto(f"{server}/login")
    page.evaluate("""() => { const s = document.createElement("script");
                             s.textContent = "window.injected = true"; document.body.appendChild(s); }""")
    page.wait_for_timeout(200)  # let the violation event reach the console
    assert page.evaluate("() => window.injected === undefined")
    assert any("script-src" in v for v in page.csp_violations), page.csp_violations
    page.csp_violations.clear()  # seen on purpose; the fixture asserts there is nothing else


def test_swagger_ui_runs_under_the_policy(server, page):
    page.goto(f"{server}/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Duban")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    page.locator(".opblock-summary").first.click()  # an operation opens
    expect(page.locator(".opblock-body").first).to_be_visible()
    assert page.js_errors == []


def test_a_confirmation_asks_before_a_form_is_sent_and_sign_out_ends_the_session(server, page, org):
    sign_in(page, server)
    page.goto(f"{server}/admin/calendar?year=2027")
    form = page.locator('[data-form="day"]')
    form.locator('input[name="date"]').fill("2027-10-09")
    form.get_by_label("上班").check()
    form.locator('input[name="note"]').fill("国庆调休上班")
    form.get_by_role("button", name="保存").click()
    expect(page.locator('button[data-remove="2027-10-09"]')).to_be_visible()

    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.locator('button[data-remove="2027-10-09"]').click()
    expect(page.locator('button[data-remove="2027-10-09"]')).to_be_visible()  # dismissed: kept
    assert asked and "2027-10-09" in asked[0]
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('button[data-remove="2027-10-09"]').click()
    expect(page.locator('button[data-remove="2027-10-09"]')).to_have_count(0)

    cookies = page.context.cookies()
    [session] = [c for c in cookies if c["name"] == "session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.context.add_cookies([session])  # the cookie from before signing out, put back
    page.goto(f"{server}/admin")
    expect(page).to_have_url(re.compile(r"/login\?next=/admin"))
    assert page.js_errors == []
