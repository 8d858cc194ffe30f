"""The 异常流程 pages: the list, an incident with its diagram data and escaped workflow data,
the repair forms (a reason required), and a version's 迁移 after a dry run."""
from __future__ import annotations

import json
import re

import pytest

from engine.models import IncidentStatus

from .helpers_incidents import deploy, incidents_of
from .helpers_repair import entries, flow, instance, ready_rows, script, user
from .test_pages import login, token_of
from .test_repair_api import BROKEN, FIXED, stuck


@pytest.fixture
def admin(app, org):
    client = app.test_client()
    login(client, "admin")
    return client


def test_the_incident_page_shows_the_problem_and_repairs_it_with_a_reason(api, admin, duban):
    deploy(api, BROKEN)
    pid, incident = stuck(api, duban)
    listing = admin.get("/admin/incidents").get_data(as_text=True)
    assert f'data-incident="{incident["id"]}"' in listing and "NameError" in listing
    page = admin.get(f"/admin/incidents/{incident['id']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-form="move"' in html and 'data-form="cancel"' in html
    data = json.loads(re.search(r'<script type="application/json" id="diagram-data">(.*?)</script>', html, re.S).group(1))
    assert data["failed"] == ["Script"] and 'id="fragile"' in data["xml"]
    assert "<script>" not in html.split('id="diagram-data"')[0].split("<main")[-1]
    csrf = token_of(html)
    refused = admin.post(f"/admin/incidents/{incident['id']}/move", data={"csrf_token": csrf, "to_element": "Task_after"})
    assert refused.status_code == 400 and 'data-error-for="reason"' in refused.get_data(as_text=True)
    moved = admin.post(f"/admin/incidents/{incident['id']}/move",
                       data={"csrf_token": csrf, "to_element": "Task_after", "reason": "跳过计算"})
    assert moved.status_code == 303
    [row] = incidents_of(duban, pid)
    assert (row.status, row.note) == (IncidentStatus.RESOLVED, "跳过计算")
    assert 'data-resolution="moved"' in admin.get(f"/admin/incidents/{incident['id']}").get_data(as_text=True)


def test_workflow_data_is_escaped(api, admin, duban):
    deploy(api, flow("hostile", user("Task_first", "签收"), script("Script", "x = '<img src=x onerror=alert(1)>'; y = z"),
                     user("Task_after", "办理")))
    pid = api.register(process_key="hostile", code="PG-2026-001")["id"]
    incident = api.complete(api.ready_task(pid, "Task_first"), "admin", {}).json["incident"]
    html = admin.get(f"/admin/incidents/{incident['id']}").get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_a_version_page_migrates_its_open_instances_after_a_dry_run(api, admin, duban):
    deploy(api, BROKEN)
    pid, incident = stuck(api, duban)
    deploy(api, FIXED)
    page = admin.get("/admin/definitions/fragile/1").get_data(as_text=True)
    assert 'data-form="migration"' in page
    csrf = token_of(page)
    dry = admin.post("/admin/definitions/fragile/1/migration", data={"csrf_token": csrf, "to_version": "2"})
    html = dry.get_data(as_text=True)
    assert dry.status_code == 200 and 'data-token="Script"' in html and "data-migration-results" not in html
    assert instance(duban, pid).definition.version == 1
    no_reason = admin.post("/admin/definitions/fragile/1/migration",
                           data={"csrf_token": csrf, "to_version": "2", "confirm": "1"})
    assert no_reason.status_code == 400 and instance(duban, pid).definition.version == 1
    done = admin.post("/admin/definitions/fragile/1/migration",
                      data={"csrf_token": csrf, "to_version": "2", "confirm": "1", "reason": "修正脚本"})
    assert done.status_code == 200 and 'data-result="migrated"' in done.get_data(as_text=True)
    assert instance(duban, pid).definition.version == 2
    assert entries(duban, pid, "instance.migrated")[0]["reason"] == "修正脚本"
    assert incidents_of(duban, pid)[0].status == IncidentStatus.RESOLVED


def test_migrating_an_incident_to_a_version_without_its_step_asks_where_it_goes(api, admin, duban):
    deploy(api, BROKEN)
    pid, incident = stuck(api, duban)
    deploy(api, flow("fragile", user("Task_first", "签收"), user("Task_after", "办理")))
    page = admin.get(f"/admin/incidents/{incident['id']}").get_data(as_text=True)
    door = f"/admin/incidents/{incident['id']}/migrate"
    asked = admin.post(door, data={"csrf_token": token_of(page), "to_version": "2", "reason": "去掉计算"})
    html = asked.get_data(as_text=True)
    assert asked.status_code == 400 and 'data-error-for="choices.Script"' in html and 'value="Task_after"' in html
    assert instance(duban, pid).definition.version == 1
    done = admin.post(door, data={"csrf_token": token_of(page), "to_version": "2", "reason": "去掉计算",
                                  "choice-Script": "Task_after"})
    assert done.status_code == 303
    assert [r.element_id for r in ready_rows(duban, pid)] == ["Task_after"]
    assert incidents_of(duban, pid)[0].resolution == "migrated"


def test_an_ended_process_leaves_the_problem_with_the_reason_on_its_timeline(api, admin, duban):
    deploy(api, BROKEN)
    pid, incident = stuck(api, duban)
    page = admin.get(f"/admin/incidents/{incident['id']}").get_data(as_text=True)
    ended = admin.post(f"/admin/incidents/{incident['id']}/cancel",
                       data={"csrf_token": token_of(page), "reason": "该问题并入其他问题办理"})
    assert ended.status_code == 303
    problem = admin.get(f"/problems/{pid}").get_data(as_text=True)
    assert "终止流程" in problem and "该问题并入其他问题办理" in problem
    assert 'data-form="move"' not in admin.get(f"/admin/incidents/{incident['id']}").get_data(as_text=True)


def test_the_repair_pages_speak_english(api, admin, duban):
    deploy(api, BROKEN)
    pid, incident = stuck(api, duban)
    deploy(api, FIXED)
    admin.get("/lang/en")
    cjk = re.compile(r"[\u4e00-\u9fff]+")
    page = admin.get(f"/admin/incidents/{incident['id']}").get_data(as_text=True)
    shown = re.sub(r'<script type="application/json".*?</script>', "", page, flags=re.S)
    # the diagram's and the problem's own words, and the language link back to Chinese
    data = {"签收", "计算", "办理", "督办", "环保督察整改", "县城污水处理厂出水超标", "中文"}
    assert set(cjk.findall(shown)) - data == set()
    listing = admin.get("/admin/incidents").get_data(as_text=True)
    assert set(cjk.findall(listing)) - data == set()
    dry = admin.post("/admin/definitions/fragile/1/migration", data={"csrf_token": token_of(page), "to_version": "2"})
    assert set(cjk.findall(dry.get_data(as_text=True))) - data == set()
