"""The version page's heatmap in a real browser: the steps where problems wait are shaded by
how many wait there, each with a badge (count · median wait); clicking a step lists its
problems under the diagram, each linking to its page."""
from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from engine import clock, tasks

from ..helpers_pages import register
from .test_admin_config import sign_in_as_admin


def _complete_sign(duban, org, code):
    with duban.db.reading() as session:
        viewer = duban.actor(session, org["user:responsible"])
        task_id = next(t.id for t in session.scalars(tasks.query(viewer)) if t.problem.code == code)
    duban.complete_task(org["user:responsible"], task_id, {"acknowledged": True})


def test_the_heatmap_shows_where_problems_wait_and_lists_them(server, page, shoot, duban, org):
    register(duban, org, code="HM-A")
    clock.advance(timedelta(days=2))
    register(duban, org, code="HM-B")
    register(duban, org, code="HM-C")
    _complete_sign(duban, org, "HM-C")
    clock.advance(timedelta(days=1))       # Task_sign: 3 days and 1 day; Task_submit_plan: 1 day

    sign_in_as_admin(page, server)
    page.goto(f"{server}/admin/definitions/rectification/1")
    expect(page.locator('#diagram[data-state="ready"]')).to_be_attached()
    sign = page.locator('.heat-badge[data-waiting="Task_sign"]')
    expect(sign).to_have_attribute("data-count", "2")
    expect(sign).to_contain_text("2天0小时")              # the median of 3 and 1 days
    expect(sign).to_have_class("waiting-badge heat-badge heat-5")
    plan = page.locator('.heat-badge[data-waiting="Task_submit_plan"]')
    expect(plan).to_have_attribute("data-count", "1")
    expect(plan).to_contain_text("1天0小时")
    expect(page.locator('#diagram .djs-element.heat-5[data-element-id="Task_sign"]')).to_be_attached()
    expect(page.locator('#diagram .djs-element.heat-3[data-element-id="Task_submit_plan"]')).to_be_attached()
    expect(page.locator(".heat-legend .heat-swatch")).to_have_count(5)
    shoot(page, "heatmap")

    sign.click()
    listing = page.locator('#waiting-list[data-state="ready"] .waiting-list[data-element="Task_sign"]')
    expect(listing).to_have_attribute("data-total", "2")
    expect(listing.locator("tbody tr")).to_have_count(2)
    expect(listing.locator("tbody tr").first).to_contain_text("HM-A")
    expect(listing.locator("tbody tr").nth(1)).to_contain_text("HM-B")
    shoot(page, "heatmap-listed")

    # a click on the shaded step itself lists its problems too
    page.locator('#diagram .djs-element[data-element-id="Task_submit_plan"]').click()
    listing = page.locator('#waiting-list[data-state="ready"] .waiting-list[data-element="Task_submit_plan"]')
    expect(listing.locator("tbody tr")).to_have_count(1)
    listing.get_by_role("link", name="HM-C").click()
    expect(page).to_have_url(f"{server}/problems/{_problem_id(duban, 'HM-C')}")
    assert page.js_errors == []


def _problem_id(duban, code):
    from sqlalchemy import select

    from engine.models import Problem
    with duban.db.reading() as session:
        return session.scalar(select(Problem.id).where(Problem.code == code))
