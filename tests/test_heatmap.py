"""The heatmap of a version (热力图): how many problems wait at each element and for how long
(the median, by the engine's clock), through the API and the version page, and the problems
waiting at one element a page at a time."""
from __future__ import annotations

import re
from datetime import timedelta

from engine import clock

from .test_pages import login

DAY = 86400
URL = "/api/process-definitions/rectification/versions/1/heatmap"


def _waiting_problems(api):
    """Five problems: four wait at Task_sign (opened 6, 5, 3 and 2 days before now), one at
    Task_submit_plan (2 days)."""
    ids = {}
    ids["p1"] = api.register(code="HM-1")["id"]
    clock.advance(timedelta(days=1))
    ids["p2"] = api.register(code="HM-2")["id"]
    clock.advance(timedelta(days=2))
    ids["p3"] = api.register(code="HM-3")["id"]
    clock.advance(timedelta(days=1))
    ids["p4"] = api.register(code="HM-4")["id"]
    ids["p5"] = api.register(code="HM-5")["id"]
    api.complete(api.ready_task(ids["p4"], "Task_sign"), "responsible", {"acknowledged": True})
    clock.advance(timedelta(days=2))
    return ids


def test_counts_and_medians_by_element(api):
    _waiting_problems(api)
    answer = api.get(URL, as_="admin")
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert (body["key"], body["version"], body["waiting"]) == ("rectification", 1, 5)
    spots = {spot["element_id"]: spot for spot in body["elements"]}
    assert set(spots) == {"Task_sign", "Task_submit_plan"}
    assert [spot["element_id"] for spot in body["elements"]] == ["Task_sign", "Task_submit_plan"]  # most first
    sign, plan = spots["Task_sign"], spots["Task_submit_plan"]
    assert (sign["waiting"], sign["name"]) == (4, "签收")
    assert sign["median_waiting_seconds"] == 4 * DAY       # 6, 5, 3, 2 days: (5 + 3) / 2
    assert (plan["waiting"], plan["median_waiting_seconds"]) == (1, 2 * DAY)
    assert sign["oldest_since"].startswith("2026-03-02T")

    # one more day on the clock: every wait grows by a day; an odd count takes the middle one
    clock.advance(timedelta(days=1))
    api.complete(api.ready_task(api.register(code="HM-6")["id"], "Task_sign"), "responsible", {"acknowledged": True})
    spots = {s["element_id"]: s for s in api.get(URL, as_="admin").json["elements"]}
    assert spots["Task_sign"]["median_waiting_seconds"] == 5 * DAY
    assert (spots["Task_submit_plan"]["waiting"], spots["Task_submit_plan"]["median_waiting_seconds"]) == (2, DAY + DAY // 2)


def test_an_empty_version_and_bad_addresses(api):
    assert api.get(URL, as_="admin").json["elements"] == []
    missing = api.get("/api/process-definitions/rectification/versions/9/heatmap", as_="admin")
    assert missing.status_code == 404 and "version" in missing.json["errors"]
    huge = api.get(f"/api/process-definitions/rectification/versions/{2**40}/heatmap", as_="admin")
    assert huge.status_code == 404
    assert api.get("/api/process-definitions/nothing/versions/1/heatmap", as_="admin").status_code == 404
    unknown = api.get(f"{URL}/Task_nowhere", as_="admin")
    assert unknown.status_code == 404 and "element_id" in unknown.json["errors"]
    bad_page = api.get(f"{URL}/Task_sign?page=0", as_="admin")
    assert bad_page.status_code == 400 and "page" in bad_page.json["errors"]
    assert api.get(URL, as_="responsible").status_code == 403


def test_the_problems_waiting_at_an_element_page_by_page(api):
    ids = _waiting_problems(api)
    first = api.get(f"{URL}/Task_sign?per_page=3", as_="admin").json
    assert (first["total"], first["page"], first["name"]) == (4, 1, "签收")
    assert [item["code"] for item in first["items"]] == ["HM-1", "HM-2", "HM-3"]   # longest waiting first
    assert first["items"][0]["problem_id"] == ids["p1"] and first["items"][0]["lead_unit"] == "南岭县生态环境分局"
    assert first["items"][0]["light"] in ("green", "yellow", "red")
    second = api.get(f"{URL}/Task_sign?per_page=3&page=2", as_="admin").json
    assert [item["code"] for item in second["items"]] == ["HM-5"]
    plan = api.get(f"{URL}/Task_submit_plan", as_="admin").json
    assert [item["code"] for item in plan["items"]] == ["HM-4"]
    # an element of the diagram where nothing waits: an empty list, not an error
    assert api.get(f"{URL}/Task_look_back", as_="admin").json["total"] == 0


def test_the_version_page_carries_the_heat_and_lists_an_element(app, api):
    _waiting_problems(api)
    client = app.test_client()
    login(client, "admin")
    html = client.get("/admin/definitions/rectification/1").get_data(as_text=True)
    data = re.search(r'<script type="application/json" id="diagram-data">(.*?)</script>', html, re.S).group(1)
    assert '"element_id": "Task_sign"' in data and '"waiting": 4' in data and '"median_seconds": 345600' in data
    assert "4天0小时" in data and 'data-heat-max="4"' in html and "<script>" not in html
    fragment = client.get("/admin/definitions/rectification/1/waiting?element=Task_sign")
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and 'data-total="4"' in text
    assert text.index("HM-1") < text.index("HM-2") < text.index("HM-5")
    assert client.get("/admin/definitions/rectification/1/waiting?element=Nope").status_code == 404
    assert client.get("/admin/definitions/rectification/1/waiting?element=Task_sign&page=x").status_code == 400
    assert client.get("/admin/definitions/rectification/7/waiting?element=Task_sign").status_code == 404
