"""通知 through Flask's test client: the bell in the top bar and its polled fragment, the
notices page with its filters in the address, marking one and all read (plain forms and
htmx), where each notice leads, the 待办 panel of the home pages, and the demo accounts on
the sign-in page only where the server runs the demo."""
from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import clock
from engine.models import Notification

from .helpers_pages import ready_tasks, register
from .test_pages import login, token_of

HTMX = {"HX-Request": "true"}


@pytest.fixture
def client(app):
    return app.test_client()


def notices_of(duban, org, key) -> list[Notification]:
    with duban.db.reading() as session:
        return list(session.scalars(select(Notification).where(Notification.user_id == org[f"user:{key}"])
                                    .order_by(Notification.id)))


def bell_count(html: str) -> int:
    found = re.search(r'<a id="bell"[^>]*data-unread="(\d+)"', html)
    assert found, "no bell"
    return int(found.group(1))


def listed(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-notice-id="(\d+)"', html)]


def test_the_bell_shows_the_unread_count_on_every_page_and_polls_its_fragment(client, duban, org):
    assert client.get("/notifications/bell").status_code == 204  # signed out: nothing to swap
    register(duban, org)
    register(duban, org, code="NL-2026-002")
    login(client, "responsible")
    for path in ("/tasks", "/ledger", "/notifications"):
        page = client.get(path).get_data(as_text=True)
        assert bell_count(page) == 2, path
        assert 'hx-get="/notifications/bell"' in page and 'hx-trigger="every 30s"' in page
    fragment = client.get("/notifications/bell", headers=HTMX)
    assert fragment.status_code == 200 and bell_count(fragment.get_data(as_text=True)) == 2
    assert "<html" not in fragment.get_data(as_text=True)
    duban.mark_notification_read(org["user:responsible"], notices_of(duban, org, "responsible")[0].id)
    assert bell_count(client.get("/notifications/bell").get_data(as_text=True)) == 1
    login(client, "outsider")
    assert bell_count(client.get("/tasks").get_data(as_text=True)) == 0


def test_the_page_lists_newest_first_with_its_filters_in_the_address(client, duban, org):
    register(duban, org)
    clock.advance(timedelta(days=3))
    register(duban, org, code="NL-2026-002")
    first, second = notices_of(duban, org, "responsible")
    duban.mark_notification_read(org["user:responsible"], first.id)
    login(client, "responsible")
    page = client.get("/notifications").get_data(as_text=True)
    assert listed(page) == [second.id, first.id]
    assert "新待办：<span data-data>签收</span>（<span data-data>NL-2026-002</span>）" in page and 'data-unread="1"' in page
    assert listed(client.get("/notifications?show=unread").get_data(as_text=True)) == [second.id]
    assert listed(client.get("/notifications?kind=task_assigned").get_data(as_text=True)) == [second.id, first.id]
    assert listed(client.get("/notifications?kind=escalation").get_data(as_text=True)) == []
    today = clock.today()
    assert listed(client.get(f"/notifications?since={today}").get_data(as_text=True)) == [second.id]
    before = (today - timedelta(days=1)).isoformat()
    assert listed(client.get(f"/notifications?until={before}").get_data(as_text=True)) == [first.id]
    chosen = client.get(f"/notifications?show=unread&since={today}").get_data(as_text=True)
    assert '<option value="unread" selected>' in chosen and f'value="{today}"' in chosen
    # the list alone for htmx, its pager keeping the filters
    fragment = client.get("/notifications?show=all&kind=task_assigned",
                          headers={**HTMX, "HX-Target": "notice-list"}).get_data(as_text=True)
    assert "<html" not in fragment and listed(fragment) == [second.id, first.id]
    with duban.db.transaction() as session:  # a third page-full: 41 notices
        template = session.get(Notification, first.id)
        for n in range(39):
            session.add(Notification(**{c.name: getattr(template, c.name) for c in Notification.__table__.columns
                                        if c.name != "id"}))
    paged = client.get("/notifications?kind=task_assigned&page=2").get_data(as_text=True)
    assert len(listed(paged)) == 20 and 'href="/notifications?page=3&amp;kind=task_assigned"' in paged


@pytest.mark.parametrize("query, field", [("show=some", "show"), ("kind=A;B", "kind"), ("since=2026-02-30", "since"),
                                          ("until=yesterday", "until"), ("since=2026-03-05&until=2026-03-01", "until"),
                                          ("page=0", "page")])
def test_a_bad_filter_is_refused_naming_it(client, duban, org, query, field):
    register(duban, org)
    login(client, "responsible")
    response = client.get(f"/notifications?{query}")
    assert response.status_code == 400 and f"参数 {field} 无效" in response.get_data(as_text=True)
    token = token_of(client.get("/notifications").get_data(as_text=True))
    notice = notices_of(duban, org, "responsible")[0]
    refused = client.post(f"/notifications/{notice.id}/read?{query}", data={"csrf_token": token})
    assert refused.status_code == 400 and notices_of(duban, org, "responsible")[0].read_at is None


def test_mark_one_read_with_a_plain_form_and_with_htmx(client, duban, org):
    register(duban, org)
    register(duban, org, code="NL-2026-002")
    first, second = notices_of(duban, org, "responsible")
    login(client, "responsible")
    page = client.get("/notifications?show=unread").get_data(as_text=True)
    assert f'action="/notifications/{first.id}/read?show=unread"' in page
    token = token_of(page)

    assert client.post(f"/notifications/{first.id}/read").status_code == 400  # no CSRF token
    assert notices_of(duban, org, "responsible")[0].read_at is None
    plain = client.post(f"/notifications/{first.id}/read?show=unread", data={"csrf_token": token})
    assert plain.status_code == 302 and plain.headers["Location"] == "/notifications?show=unread"
    assert notices_of(duban, org, "responsible")[0].read_at == clock.now()

    swapped = client.post(f"/notifications/{second.id}/read?show=unread", data={"csrf_token": token}, headers=HTMX)
    html = swapped.get_data(as_text=True)
    assert swapped.status_code == 200 and "<html" not in html
    assert f'id="notice-{second.id}"' in html and 'data-read="true"' in html and "已读" in html
    assert 'hx-swap-oob="true"' in html and bell_count(html) == 0

    # someone else's notice, or none: 404, nothing changes
    register(duban, org, code="NL-2026-003", responsible="magistrate")
    other = notices_of(duban, org, "magistrate")[0]
    refused = client.post(f"/notifications/{other.id}/read", data={"csrf_token": token})
    assert refused.status_code == 404 and "<html" in refused.get_data(as_text=True)
    assert client.post("/notifications/999999/read", data={"csrf_token": token}).status_code == 404
    assert notices_of(duban, org, "magistrate")[0].read_at is None


def test_mark_all_read(client, duban, org):
    register(duban, org)
    register(duban, org, code="NL-2026-002")
    register(duban, org, code="NL-2026-009", responsible="magistrate")
    login(client, "responsible")
    page = client.get("/notifications?kind=task_assigned").get_data(as_text=True)
    assert 'data-action="mark-all-read"' in page and 'action="/notifications/read-all?kind=task_assigned"' in page
    token = token_of(page)
    swapped = client.post("/notifications/read-all?kind=task_assigned", data={"csrf_token": token}, headers=HTMX)
    html = swapped.get_data(as_text=True)
    assert swapped.status_code == 200 and "<html" not in html and bell_count(html) == 0
    assert 'data-read="false"' not in html and len(listed(html)) == 2 and 'data-action="mark-all-read"' not in html
    assert all(n.read_at is not None for n in notices_of(duban, org, "responsible"))
    assert all(n.read_at is None for n in notices_of(duban, org, "magistrate"))

    register(duban, org, code="NL-2026-003")
    plain = client.post("/notifications/read-all", data={"csrf_token": token})
    assert plain.status_code == 302 and plain.headers["Location"] == "/notifications"
    assert "已将 1 条通知标为已读。" in client.get("/notifications").get_data(as_text=True)


def test_a_notice_links_to_its_task_and_once_done_to_its_problem(client, duban, org):
    problem_id = register(duban, org)
    [(task_id, _, _)] = ready_tasks(duban, "responsible", org)
    login(client, "responsible")
    page = client.get("/notifications").get_data(as_text=True)
    assert f'<a href="/tasks/{task_id}" data-link="notice">办理任务' in page
    assert client.get(f"/tasks/{task_id}").status_code == 200
    duban.complete_task(org["user:responsible"], task_id, {"acknowledged": True})
    page = client.get("/notifications").get_data(as_text=True)
    assert f'<a href="/problems/{problem_id}" data-link="notice">查看问题' in page  # the signed-off task's notice
    [(plan_task, _, _)] = ready_tasks(duban, "responsible", org)
    assert f'<a href="/tasks/{plan_task}" data-link="notice">办理任务' in page  # the next task's


def test_the_home_pages_show_ready_tasks_first_and_nothing_without(client, duban, org):
    register(duban, org)
    clock.advance(timedelta(hours=1))
    register(duban, org, code="NL-2026-002", responsible="magistrate")
    login(client, "responsible")
    ledger = client.get("/ledger").get_data(as_text=True)
    assert 'id="ready-panel"' in ledger and ledger.index('id="ready-panel"') < ledger.index('id="ledger-filters"')
    [(task_id, _, _)] = ready_tasks(duban, "responsible", org)
    panel = ledger[ledger.index('id="ready-panel"'):ledger.index("</section>", ledger.index('id="ready-panel"'))]
    assert f'href="/tasks/{task_id}"' in panel and 'href="/tasks" data-action="my-tasks"' in panel
    assert 'data-light="green"' in panel and "NL-2026-001" in panel and "NL-2026-002" not in panel

    # a leader with a sign-off waiting lands on the dashboard with it on top
    response = login(client, "magistrate")
    assert response.headers["Location"] == "/dashboard"
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert 'id="ready-panel"' in dashboard and 'data-total="1"' in dashboard and "NL-2026-002" in dashboard
    assert dashboard.index('id="ready-panel"') < dashboard.index('class="dash-head"')

    for key, home in (("secretary", "/dashboard"), ("jiwei", "/dashboard"), ("outsider", "/ledger")):
        login(client, key)
        assert 'id="ready-panel"' not in client.get(home).get_data(as_text=True), key


def test_the_sign_in_page_lists_the_demo_accounts_only_where_the_demo_runs(settings, duban):
    from engine.demo import load_demo
    from engine.service import Duban
    from web import create_app

    load_demo(duban)
    plain = create_app(duban=duban).test_client().get("/login").get_data(as_text=True)
    assert "demo-roster" not in plain and "huangqiming" not in plain

    demo = Duban(dataclasses.replace(settings, demo=True))
    try:
        page = create_app(duban=demo).test_client().get("/login").get_data(as_text=True)
    finally:
        demo.db.dispose()
    assert 'id="demo-roster"' in page and "duban-demo" in page
    section = page[page.index('id="demo-roster"'):]
    assert section.index("<h2>环督办</h2>") < section.index("<h2>纪委监委</h2>") < section.index("<h2>领导</h2>")
    leader = re.search(r'<li data-username="huangqiming" data-ready="(\d+)">.*?</li>', section, re.S)
    assert leader and int(leader.group(1)) >= 1 and "项待办" in leader.group(0)
    assert re.search(r'<li data-username="jiwei" data-ready="0">.*?无待办', section, re.S)


def test_a_database_without_the_demo_shows_no_roster_even_with_the_setting(settings, duban):
    from engine.service import Duban
    from web import create_app

    demo = Duban(dataclasses.replace(settings, demo=True))
    try:
        page = create_app(duban=demo).test_client().get("/login").get_data(as_text=True)
    finally:
        demo.db.dispose()
    assert "demo-roster" not in page
