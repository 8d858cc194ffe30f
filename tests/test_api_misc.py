"""The API's smaller promises: health, the OpenAPI document, the problem filters, task
details, and evidence stored once per content."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from io import BytesIO

import pytest

from engine import clock

from .helpers_flow import drive_to, upload


def listed(api, query: str = "", as_: str = "admin") -> list[str]:
    response = api.get(f"/api/problems?{query}", as_=as_)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["total"] >= len(body["items"])
    return sorted(p["code"] for p in body["items"])


# -- health and OpenAPI -------------------------------------------------------------------------

def test_health(api, backend):
    response = api.get("/api/health")  # no sign-in needed
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "ok"
    assert body["database"] == backend
    assert datetime.fromisoformat(body["time"]) == clock.now()


def test_openapi_document(api):
    response = api.get("/api/openapi.json")
    assert response.status_code == 200
    spec = json.loads(response.get_data(as_text=True))
    assert spec["openapi"].startswith("3.")
    for path in ("/api/problems", "/api/tasks/{task_id}/complete", "/api/process-definitions", "/api/auth/token",
                 "/api/problems/{problem_id}", "/api/tasks", "/api/evidence/{evidence_id}", "/api/health"):
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert {"bearerAuth": []} in spec["paths"]["/api/tasks/{task_id}/complete"]["post"]["security"]
    assert "post" in spec["paths"]["/api/process-definitions"]
    assert "multipart/form-data" in spec["paths"]["/api/process-definitions"]["post"]["requestBody"]["content"]
    parameters = {p["name"] for p in spec["paths"]["/api/problems"]["get"]["parameters"]}
    assert {"status", "region", "unit", "source", "batch", "category", "page", "per_page"} <= parameters


# -- filters ------------------------------------------------------------------------------------

@pytest.fixture
def ledger_of_problems(api):
    """Five problems that differ in one attribute each from the first."""
    org = api.org
    api.register(code="A-county")
    api.register(code="B-town", region_id=org["town"], source="central", category="air")
    api.register(code="C-coop", lead_unit_id=org["county_gov"], cooperating_unit_ids=[org["eco"]],
                 industry_unit_id=None, batch="2026年自查", source="self_check")
    api.register(code="D-industry-only", lead_unit_id=org["county_gov"], cooperating_unit_ids=[],
                 industry_unit_id=org["eco"], deadline="2026-04-30", category="air")
    api.register(code="E-city", region_id=org["city"], lead_unit_id=org["office"], cooperating_unit_ids=[],
                 industry_unit_id=None, deadline_kind="long_term", deadline=None, category="soil")
    return ["A-county", "B-town", "C-coop", "D-industry-only", "E-city"]


def test_filters(api, ledger_of_problems):
    org = api.org
    assert listed(api) == ledger_of_problems
    assert listed(api, "source=central") == ["B-town"]
    assert listed(api, "source=provincial") == ["A-county", "D-industry-only", "E-city"]
    assert listed(api, "batch=2026年自查") == ["C-coop"]
    assert listed(api, "batch=no-such-batch") == []
    assert listed(api, "category=air") == ["B-town", "D-industry-only"]
    assert listed(api, "category=air&source=central") == ["B-town"]
    # a county includes its townships; a city everything below it; a township only itself
    assert listed(api, f"region={org['county']}") == ["A-county", "B-town", "C-coop", "D-industry-only"]
    assert listed(api, f"region={org['town']}") == ["B-town"]
    assert listed(api, f"region={org['city']}") == ledger_of_problems
    # a unit: lead or cooperating (the industry department alone does not count)
    assert listed(api, f"unit={org['eco']}") == ["A-county", "B-town", "C-coop"]
    assert listed(api, f"unit={org['county_gov']}") == ["C-coop", "D-industry-only"]
    assert listed(api, f"unit={org['housing']}") == ["A-county", "B-town"]
    # a keyword: a part of the code or the title, whatever its case; % and _ are plain characters
    assert listed(api, "q=c-co") == ["C-coop"]
    assert listed(api, "q=污水处理厂") == ledger_of_problems
    assert listed(api, "q=100%") == []
    assert api.get("/api/problems?q=" + "x" * 101, as_="admin").status_code == 400


def test_status_filter(api, ledger_of_problems):
    a = next(p["id"] for p in api.get("/api/problems", as_="admin").json["items"] if p["code"] == "A-county")
    drive_to(api, a, "Task_submit_plan")
    assert listed(api, "status=planning") == ["A-county"]
    assert listed(api, "status=registered") == ledger_of_problems[1:]
    assert listed(api, "status=closed") == []


def test_filters_apply_within_what_an_official_may_see(api, ledger_of_problems):
    # eco_clerk works in the lead unit of A and B, cooperates on C, is the industry unit of D
    assert listed(api, as_="eco_clerk") == ["A-county", "B-town", "C-coop", "D-industry-only"]
    assert listed(api, "category=air", as_="eco_clerk") == ["B-town", "D-industry-only"]
    assert listed(api, f"region={api.org['city']}", as_="outsider") == ["C-coop", "D-industry-only"]


def test_the_overdue_flag_follows_the_clock(api, ledger_of_problems):
    def overdue_codes():
        return sorted(p["code"] for p in api.get("/api/problems", as_="admin").json["items"] if p["overdue"])

    assert overdue_codes() == []
    clock.freeze(datetime(2026, 4, 30, 23, 59, tzinfo=clock.SHANGHAI))  # D's deadline day, not yet past
    assert overdue_codes() == []
    clock.freeze(datetime(2026, 5, 1, 0, 0, tzinfo=clock.SHANGHAI))
    assert overdue_codes() == ["D-industry-only"]
    clock.freeze(datetime(2026, 7, 1, 9, 0, tzinfo=clock.SHANGHAI))
    assert overdue_codes() == ["A-county", "B-town", "C-coop", "D-industry-only"]  # E is long-term


def test_overdue_filter(api, ledger_of_problems):
    clock.freeze(datetime(2026, 5, 1, 9, 0, tzinfo=clock.SHANGHAI))
    assert listed(api, "overdue=true") == ["D-industry-only"]
    assert listed(api, "overdue=false") == ["A-county", "B-town", "C-coop", "E-city"]
    spec = api.get("/api/openapi.json").json
    assert "overdue" in {p["name"] for p in spec["paths"]["/api/problems"]["get"]["parameters"]}


def test_the_engine_filters_overdue_problems(api, duban, ledger_of_problems):
    """Below the API, engine.problems.query applies the overdue filter correctly."""
    from engine import problems
    from engine.models import User

    clock.freeze(datetime(2026, 5, 1, 9, 0, tzinfo=clock.SHANGHAI))
    with duban.db.reading() as session:
        admin = session.get(User, api.org["user:admin"])

        def codes(overdue):
            statement = problems.query(session, admin, problems.ProblemFilter(overdue=overdue))
            return sorted(p.code for p in problems.page(session, statement, 1, 20)[0])

        assert codes(True) == ["D-industry-only"]
        assert codes(False) == ["A-county", "B-town", "C-coop", "E-city"]


def test_pagination(api, ledger_of_problems):
    pages = [api.get(f"/api/problems?per_page=2&page={n}", as_="admin").json for n in (1, 2, 3, 4)]
    assert [p["total"] for p in pages] == [5, 5, 5, 5]
    assert [(p["page"], p["per_page"]) for p in pages] == [(1, 2), (2, 2), (3, 2), (4, 2)]
    assert [len(p["items"]) for p in pages] == [2, 2, 1, 0]
    seen = [item["code"] for p in pages for item in p["items"]]
    assert sorted(seen) == ledger_of_problems and len(set(seen)) == 5
    filtered = api.get("/api/problems?category=air&per_page=1", as_="admin").json
    assert filtered["total"] == 2 and len(filtered["items"]) == 1
    assert api.get("/api/problems", as_="admin").json["per_page"] == 20


# -- tasks --------------------------------------------------------------------------------------

def test_a_task_names_its_people_by_username_and_carries_its_form(api):
    pid = api.register()["id"]
    listed_task = api.get("/api/tasks", as_="responsible").json["items"][0]
    assert listed_task["assignee"] == "responsible"
    assert listed_task["problem_code"] == "NL-2026-001" and listed_task["problem_id"] == pid
    assert "form" not in listed_task

    detail = api.get(f"/api/tasks/{listed_task['id']}", as_="responsible").json
    assert detail["assignee"] == "responsible" and detail["state"] == "ready"
    keys = [c["key"] for c in detail["form"]["components"]]
    assert keys == ["acknowledged", "remark"]
    assert detail["form"]["components"][0]["type"] == "checkbox"

    done = api.complete(listed_task, "responsible", {"acknowledged": True}).json
    assert done["completed_by"] == "responsible" and done["data"] == {"acknowledged": True, "remark": None}  # every field has a value
    assert done["form"]["id"] == "Form_sign"
    review = drive_to(api, pid, "Task_review_plan")
    assert review["assignee"] is None and review["candidate_role"] == "admin"
    assert [c["key"] for c in api.get(f"/api/tasks/{review['id']}", as_="admin").json["form"]["components"]] == [
        "decision", "reason"]


def test_completed_tasks_are_listed_on_request(api):
    pid = api.register()["id"]
    sign = api.ready_task(pid, "Task_sign")
    api.complete(sign, "responsible", {"acknowledged": True})
    completed = api.get("/api/tasks?state=completed", as_="responsible").json["items"]
    assert [t["id"] for t in completed] == [sign["id"]]
    assert [t["element_id"] for t in api.get(f"/api/tasks?problem={pid}", as_="responsible").json["items"]] == [
        "Task_submit_plan"]
    assert api.get("/api/tasks?problem=999999", as_="responsible").json["items"] == []


# -- evidence -----------------------------------------------------------------------------------

def test_evidence_round_trip_and_stored_once(api, settings):
    pid = api.register()["id"]
    other = api.register(code="NL-2026-002")["id"]
    content = b"%PDF-1.4\n" + bytes(range(256)) * 64 + "监测报告".encode()
    digest = hashlib.sha256(content).hexdigest()

    first = upload(api, pid, content, name="监测报告.pdf")
    second = upload(api, other, content, name="copy.pdf", as_="admin")
    assert first != second

    for evidence_id, name in ((first, "监测报告.pdf"), (second, "copy.pdf")):
        response = api.get(f"/api/evidence/{evidence_id}", as_="admin")
        assert response.status_code == 200
        assert response.get_data() == content
        assert response.mimetype == "application/pdf"
        assert name in response.headers["Content-Disposition"] or "filename*" in response.headers[
            "Content-Disposition"]

    stored = [p for p in settings.evidence_path.rglob("*") if p.is_file()]
    assert stored == [settings.evidence_path / digest[:2] / digest]
    assert stored[0].read_bytes() == content

    detail = api.get(f"/api/problems/{pid}", as_="responsible").json
    assert [(e["id"], e["sha256"], e["size"]) for e in detail["evidence"]] == [(first, digest, len(content))]


def test_evidence_is_read_only_by_those_who_see_the_problem(api):
    pid = api.register()["id"]
    evidence = upload(api, pid, b"%PDF-1.4 site photo")
    assert api.get(f"/api/evidence/{evidence}", as_="eco_clerk").get_data() == b"%PDF-1.4 site photo"
    assert api.get(f"/api/evidence/{evidence}", as_="outsider").status_code == 403
    assert api.post(f"/api/problems/{pid}/evidence", as_="outsider",
                    data={"file": (BytesIO(b"x"), "x.txt")},
                    content_type="multipart/form-data").status_code == 403


def test_an_uploaded_name_cannot_climb_out_of_the_folder(api, settings):
    pid = api.register()["id"]
    evidence = upload(api, pid, b"%PDF-1.4 payload", name="../../etc/passwd")
    detail = api.get(f"/api/problems/{pid}", as_="admin").json
    names = [e["filename"] for e in detail["evidence"] if e["id"] == evidence]
    assert names == ["passwd.pdf"]  # the extension of what the file is
    assert all(settings.evidence_path in p.parents for p in settings.instance_path.rglob("*") if p.is_file()
               and p.name not in ("secret_key", "data_key"))


def test_the_openapi_document_is_written_whole_for_requests_that_arrive_together(app):
    """The document is written at its first request: one arriving meanwhile waits for it
    whole, never reads half of it."""
    import threading

    barrier, answers = threading.Barrier(4), []

    def read():
        client = app.test_client()
        barrier.wait()
        answers.append(client.get("/api/openapi.json").json)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 4
    assert all(answer == answers[0] for answer in answers)
    assert len(answers[0]["paths"]) > 50 and "Error404" in answers[0]["components"]["responses"]
