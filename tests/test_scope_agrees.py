"""The dashboard and the ledger agree: for every demo account that sees 督办看板, each figure
on it equals the count of the ledger page it links to, and every link on it answers 200. The
demo city is loaded and the ladder swept eight weeks on, so that firings, interviews and
accountability cases are on the dashboard too."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import select

from engine import clock, problems
from engine.demo import PASSWORD, load_demo
from engine.models import Problem, Region, RegionLevel, User

from .test_pages import login

OVERSIGHT = {"admin", "discipline", "leader"}
FIGURE = re.compile(r'data-figure="(\w+)" href="([^"]+)"[^>]*>.*?<b>(\d+)</b>', re.S)
ROW = re.compile(r'<tr data-row="[^"]*">\s*<td><a href="([^"]+)">.*?<td data-total>(\d+)</td>', re.S)
HREF = re.compile(r'href="([^"]+)"')
# links that are not the dashboard's own: its stylesheets, the language switch (it changes the
# session's language), the API documentation
NOT_WALKED = ("/static/", "/language/", "/lang/", "/api/docs")


@pytest.fixture
def demo_city(duban, app):
    loaded = load_demo(duban)
    clock.advance(timedelta(weeks=8))
    duban.refresh_lights()
    duban.sweep()
    return loaded


def ledger_total(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    found = re.search(r'data-ledger-state=[^>]*data-total="(\d+)"', response.get_data(as_text=True))  # the table's
    assert found, url
    return int(found.group(1))


def walk(client, url: str, seen: set[str]) -> tuple[int, int, int]:
    """Check one dashboard page; the numbers of figures, rows and links checked (a link
    already opened in `seen` is not opened again)."""
    response = client.get(url)
    assert response.status_code == 200, url
    html = response.get_data(as_text=True)
    figures = FIGURE.findall(html)
    assert {name for name, _, _ in figures} >= {"total", "closed", "red", "yellow", "green", "overdue"}
    for name, link, count in figures:
        assert ledger_total(client, unescape(link)) == int(count), (url, name, link)
    rows = ROW.findall(html)
    for link, count in rows:
        assert ledger_total(client, unescape(link)) == int(count), (url, link)
    links = {unescape(href) for href in HREF.findall(html)}
    walked = sorted(link for link in links if link.startswith("/") and not link.startswith(NOT_WALKED))
    for link in set(walked) - seen:
        answer = client.get(link, follow_redirects=True)  # the brand link "/" leads to the home
        assert answer.status_code == 200, (url, link, answer.status_code)
    seen.update(walked)
    return len(figures), len(rows), len(walked)


def distinct_views(duban, readers: list[tuple[str, set[str]]]) -> list[tuple[str, set[str]]]:
    """One account for each role and each set of problems it may read: the office's and the
    discipline office's staff read the same city, leaders each their own problems."""
    chosen, views = [], set()
    with duban.db.reading() as session:
        for username, roles in readers:
            user = session.scalars(select(User).where(User.username == username)).one()
            view = (frozenset(roles & OVERSIGHT),
                    frozenset(session.scalars(problems.query(session, user, problems.ProblemFilter())
                                              .with_only_columns(Problem.id))))
            if view not in views:
                views.add(view)
                chosen.append((username, roles))
    return chosen


def test_every_figure_is_the_ledgers_count_and_every_link_opens(app, duban, demo_city):
    with duban.db.reading() as session:
        county = session.scalars(select(Region.id).where(Region.level == RegionLevel.COUNTY)
                                 .order_by(Region.id)).first()
    readers = [(username, set(roles)) for username, _name, roles in demo_city.accounts
               if OVERSIGHT & set(roles)]
    assert {"admin", "jiwei"} <= {username for username, _ in readers}
    assert any(roles & OVERSIGHT == {"leader"} for _, roles in readers), "the demo has leaders"
    readers = distinct_views(duban, readers)
    problem_links = 0
    for username, roles in readers:
        client = app.test_client()
        assert login(client, username, PASSWORD).status_code == 302
        seen: set[str] = set()
        for url in ("/dashboard", f"/dashboard?region={county}"):
            figures, rows, links = walk(client, url, seen)
            assert figures >= 6 and links >= figures
        html = client.get("/dashboard").get_data(as_text=True)
        problem_links += len(re.findall(r'href="/problems/\d+"', html))
        total = int(re.search(r'data-figure="total"[^>]*>.*?<b>(\d+)</b>', html, re.S).group(1))
        assert total == ledger_total(client, "/ledger")
        if roles & {"admin", "discipline"}:
            assert total == 20
    assert problem_links > 0, "the walk opened problem pages"
