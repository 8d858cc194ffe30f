"""Every list of the JSON API answers one page, `{"items", "total", "page", "per_page"}`,
in a fixed order: paging through it one row at a time gives the whole list, each row once."""
from __future__ import annotations

import pytest

WHOLE_LISTS = ["/api/regions", "/api/units", "/api/process-definitions", "/api/extension-requests",
               "/api/problems/{problem}/extension-requests", "/api/officials/{official}/posts"]

PAGED = WHOLE_LISTS + ["/api/tasks", "/api/tasks?all=true", "/api/bulletins", "/api/escalations/forecast",
                       "/api/organisation-gaps", "/api/units?region={region}"]


@pytest.fixture
def filled(api):
    """A problem with two extension requests (one refused, one pending) and an official with two posts."""
    problem = api.register(deadline="2026-06-30")["id"]
    for asked in ("2026-09-30", "2026-10-31"):
        response = api.post(f"/api/problems/{problem}/extension-requests", as_="admin",
                            json={"requested_deadline": asked, "reason": "雨季施工受限"})
        assert response.status_code == 201, response.json
        if asked == "2026-09-30":
            refused = api.post(f"/api/extension-requests/{response.json['id']}/refuse", as_="admin",
                               json={"note": "理由不充分"})
            assert refused.status_code == 200, refused.json
    official = api.org["responsible"]
    added = api.post(f"/api/officials/{official}/posts", as_="admin",
                     json={"unit_id": api.org["eco"], "title": "联络员", "kind": "department", "is_head": False})
    assert added.status_code == 201, added.json
    return {"problem": problem, "official": official, "region": api.org["county"]}


@pytest.mark.parametrize("path", WHOLE_LISTS)
def test_paging_one_row_at_a_time_gives_the_whole_list(api, filled, path):
    path = path.format(**filled)
    whole = api.get(f"{path}?per_page=200", as_="admin").json
    assert whole["total"] == len(whole["items"]) >= 2 and (whole["page"], whole["per_page"]) == (1, 200)
    pages = [api.get(f"{path}?per_page=1&page={n}", as_="admin").json for n in range(1, whole["total"] + 2)]
    assert [page["items"][0] for page in pages[:-1]] == whole["items"]
    assert pages[-1]["items"] == [] and {page["total"] for page in pages} == {whole["total"]}


@pytest.mark.parametrize("path", PAGED)
def test_page_and_per_page_out_of_bounds_are_refused_naming_them(api, filled, path):
    path = path.format(**filled)
    joiner = "&" if "?" in path else "?"
    for query, field in (("per_page=0", "per_page"), ("per_page=201", "per_page"), ("page=0", "page"),
                         ("page=two", "page")):
        response = api.get(f"{path}{joiner}{query}", as_="admin")
        assert response.status_code == 400 and field in response.json["errors"], (path, query, response.json)
