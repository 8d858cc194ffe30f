"""通知 in a real browser, on the demo city: the sign-in page lists the demo accounts, an official
signs in and sees the bell's count, opens 通知, filters to the unread ones, marks one read and
sees the count drop, then follows a notice to its task."""
from __future__ import annotations

import dataclasses
import re
import threading

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine import notifications
from engine.demo import PASSWORD, load_demo
from engine.models import User


@pytest.fixture
def demo_server(settings):
    """The app on the demo city, with the demo setting on, served on a free port."""
    from werkzeug.serving import make_server

    from engine.service import Duban
    from web import create_app

    duban = Duban(dataclasses.replace(settings, demo=True))
    load_demo(duban)
    app = create_app(duban=duban)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", duban
    httpd.shutdown()
    thread.join(5)
    duban.db.dispose()


def unread(duban, username: str) -> int:
    with duban.db.reading() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        return notifications.unread_count(session, user)


def test_an_official_reads_a_notice_and_follows_it_to_the_task(demo_server, page, shoot):
    server, duban = demo_server
    official = "wuxiaofeng"
    count = unread(duban, official)
    assert count >= 2

    page.goto(f"{server}/login")
    roster = page.locator("#demo-roster")
    expect(roster).to_be_visible()
    expect(roster.locator(f'li[data-username="{official}"]')).to_contain_text("项待办")
    expect(roster.locator('li[data-username="huangqiming"]')).to_contain_text("1 项待办")
    shoot(page, "login-with-demo-accounts")
    page.get_by_label("用户名").fill(official)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="我的待办")).to_be_visible()
    bell = page.locator("#bell")
    expect(bell.locator(".bell-count")).to_have_text(str(count))
    shoot(page, "bell")

    bell.click()
    expect(page.get_by_role("heading", name="通知")).to_be_visible()
    expect(page.locator("li.notice").first).to_be_visible()
    page.locator("#filter-show").select_option("unread")
    expect(page).to_have_url(re.compile(r"/notifications\?show=unread$"))
    expect(page.locator('li.notice[data-read="true"]')).to_have_count(0)
    shoot(page, "unread")

    first = page.locator("li.notice").first
    notice_id = first.get_attribute("data-notice-id")
    first.locator('[data-action="mark-read"]').click()
    expect(page.locator(f"#notice-{notice_id}")).to_have_attribute("data-read", "true")
    expect(page.locator("#bell .bell-count")).to_have_text(str(count - 1))
    assert unread(duban, official) == count - 1
    shoot(page, "marked-read")

    # a notice of a task still waiting leads to that task
    page.locator("#filter-kind").select_option("task_assigned")
    expect(page).to_have_url(re.compile(r"kind=task_assigned"))
    link = page.locator('a[data-link="notice"]', has_text="办理任务").first
    href = link.get_attribute("href")
    assert re.fullmatch(r"/tasks/\d+", href)
    link.click()
    expect(page).to_have_url(re.compile(re.escape(href) + "$"))
    expect(page.locator("#task-form[data-ready=true]")).to_be_attached()
    shoot(page, "task")
    assert not page.js_errors, page.js_errors
