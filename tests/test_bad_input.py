"""Bad input is answered with a 4xx naming the field, and leaves the database exactly as it was.

Every test takes a snapshot (row counts of every table, the ledger's last id, task states,
instance versions, problem statuses) before the bad request and compares it after.
"""
from __future__ import annotations

from datetime import timedelta
from io import BytesIO

import pytest

from engine import clock

from .helpers_flow import PLAN, drive_to, snapshot, upload
from .support import problem_body


@pytest.fixture
def unchanged(duban):
    """Call it once the scene is set; the test's end checks nothing changed since."""
    taken = {}

    def take():
        taken["before"] = snapshot(duban)

    yield take
    assert "before" in taken, "the test never took its snapshot"
    assert snapshot(duban) == taken["before"]


def refused(response, status: int, field: str | None = None):
    assert response.status_code == status, (response.status_code, response.json)
    body = response.json
    assert set(body) == {"code", "message", "errors"}, body
    assert body["message"]
    if field is not None:
        assert field in body["errors"], body
        assert body["errors"][field] and all(isinstance(m, str) and m for m in body["errors"][field])
    return body


def complete(api, task_id, as_, payload):
    return api.post(f"/api/tasks/{task_id}/complete", as_=as_, json=payload)


# -- completing tasks ---------------------------------------------------------------------------

def test_an_unknown_task_is_404(api, unchanged):
    api.register()
    unchanged()
    body = refused(complete(api, 999_999, "admin", {"data": {"acknowledged": True}}), 404)
    assert body["code"] == "not_found" and "999999" in body["message"]
    refused(api.get("/api/tasks/999999", as_="admin"), 404)


@pytest.mark.parametrize("data, field", [
    ({}, "acknowledged"),                                   # required and missing
    ({"acknowledged": False}, "acknowledged"),              # a required checkbox must be checked
    ({"acknowledged": True, "remark": 42}, "remark"),       # a number where text is wanted
    ({"acknowledged": True, "colour": "red"}, "colour"),    # a field the form does not have
    ({"acknowledged": None}, "acknowledged"),
])
def test_bad_sign_form(api, unchanged, data, field):
    pid = api.register()["id"]
    sign = api.ready_task(pid, "Task_sign")
    unchanged()
    refused(complete(api, sign["id"], "responsible", {"data": data}), 400, field)


def test_a_string_is_not_a_boolean(api, duban):
    pid = api.register()["id"]
    sign = api.ready_task(pid, "Task_sign")
    before = snapshot(duban)
    refused(complete(api, sign["id"], "responsible", {"data": {"acknowledged": "yes"}}), 400, "acknowledged")
    assert snapshot(duban) == before


@pytest.fixture
def monthly_report(api, duban):
    """A problem at its implementation step, a month on: the monthly progress report is ready."""
    pid = api.register()["id"]
    drive_to(api, pid, "Task_rectify")
    clock.advance(timedelta(days=32))
    assert duban.wake_due()
    return api.ready_task(pid, "Task_monthly_report")


MONTHLY_REPORT_ERRORS = [
    ({"percent": "abc"}, "percent"),
    ({"percent": True}, "percent"),
    ({"percent": 140}, "percent"),               # above the form's max
    ({"percent": -1}, "percent"),
    ({"on_schedule": "maybe"}, "on_schedule"),   # not one of the radio's values
    ({"on_schedule": None}, "on_schedule"),
    ({"progress": ""}, "progress"),              # required text left empty
    ({"progress": ["a"]}, "progress"),
]


def test_bad_monthly_report(api, unchanged, monthly_report):
    unchanged()
    for changes, field in MONTHLY_REPORT_ERRORS:
        data = {"progress": "完成设备采购", "percent": 40, "on_schedule": "yes", **changes}
        body = refused(complete(api, monthly_report["id"], "responsible", {"data": data}), 400, field)
        assert set(body["errors"]) == {field}, (changes, body)


def test_a_send_back_needs_its_reason(api, unchanged):
    pid = api.register()["id"]
    review = drive_to(api, pid, "Task_review_plan")
    unchanged()
    body = refused(complete(api, review["id"], "admin", {"data": {"decision": "return"}}), 400, "reason")
    assert "decision" not in body["errors"]
    refused(complete(api, review["id"], "admin", {"data": {"decision": "return", "reason": ""}}), 400, "reason")
    refused(complete(api, review["id"], "admin", {"data": {"decision": "reject"}}), 400, "decision")


@pytest.mark.parametrize("changes, field", [
    ({"deadline": "next summer"}, "deadline"),
    ({"deadline_kind": "someday"}, "deadline_kind"),
    ({"target": None}, "target"),
])
def test_bad_plan(api, unchanged, changes, field):
    pid = api.register()["id"]
    plan = drive_to(api, pid, "Task_submit_plan")
    unchanged()
    refused(complete(api, plan["id"], "responsible", {"data": {**PLAN, **changes}}), 400, field)


def test_evidence_must_exist_and_belong_to_the_problem(api, unchanged):
    pid = api.register()["id"]
    other = api.register(code="NL-2026-002")["id"]
    rectify = drive_to(api, pid, "Task_rectify")
    foreign = upload(api, other, content=b"%PDF-1.4 another problem's report")
    own = upload(api, pid)
    unchanged()
    for evidence, field in (([999_999], "evidence"), ([foreign], "evidence"), ([own, foreign], "evidence"),
                            (["1"], "evidence.0"), ([], "evidence"), ("1", "evidence")):
        body = refused(complete(api, rectify["id"], "responsible",
                                {"data": {"summary": "完成", "evidence": evidence}}), 400, field)
        assert str(foreign) in " ".join(body["errors"][field]) or evidence != [own, foreign]


def test_a_completed_task_is_409(api, unchanged):
    pid = api.register()["id"]
    sign = api.ready_task(pid, "Task_sign")
    api.complete(sign, "responsible", {"acknowledged": True})
    unchanged()
    body = refused(complete(api, sign["id"], "responsible", {"data": {"acknowledged": True}}), 409)
    assert body["code"] == "conflict"


@pytest.mark.parametrize("payload", [
    {"data": ["acknowledged"]},
    {"data": "acknowledged"},
    {"data": None},
    {},
    {"acknowledged": True},
])
def test_data_must_be_an_object(api, unchanged, payload):
    pid = api.register()["id"]
    sign = api.ready_task(pid, "Task_sign")
    unchanged()
    refused(complete(api, sign["id"], "responsible", payload), 400, "data")


def test_a_json_array_as_the_body_is_400(api, unchanged):
    pid = api.register()["id"]
    sign = api.ready_task(pid, "Task_sign")
    unchanged()
    refused(complete(api, sign["id"], "responsible", [{"data": {"acknowledged": True}}]), 400)


def test_malformed_json_is_400(api, unchanged):
    pid = api.register()["id"]
    sign = api.ready_task(pid, "Task_sign")
    unchanged()
    for body in (b'{"data": {"acknowledged": true}', b"{'data': {}}", b"\xff\xfe"):
        response = api.post(f"/api/tasks/{sign['id']}/complete", as_="responsible", data=body,
                            content_type="application/json")
        refused(response, 400, "request")
    response = api.post("/api/problems", as_="admin", data=b'{"code": ', content_type="application/json")
    refused(response, 400, "request")


# -- registering problems -----------------------------------------------------------------------

@pytest.mark.parametrize("overrides, field", [
    ({"title": None}, "title"),
    ({"code": ""}, "code"),
    ({"source": "x"}, "source"),
    ({"category": "sound"}, "category"),
    ({"region_id": 999_999}, "region_id"),
    ({"region_id": "1"}, "region_id"),
    ({"lead_unit_id": 999_999}, "lead_unit_id"),
    ({"responsible_official_id": 999_999}, "responsible_official_id"),
    ({"cooperating_unit_ids": [999_999]}, "cooperating_unit_ids.0"),
    ({"deadline": None}, "deadline"),                          # 限期整改 without a deadline
    ({"deadline": "2026-02-30"}, "deadline"),
    ({"deadline_kind": "soon"}, "deadline_kind"),
    ({"process_key": "no_such_process"}, "process_key"),
    ({"milestones": [{"title": "一期"}]}, "milestones.0.due"),
    ({"flavour": "vanilla"}, "flavour"),
])
def test_bad_problem(api, unchanged, overrides, field):
    unchanged()
    response = api.post("/api/problems", as_="admin", json=problem_body(api.org, **overrides))
    assert 400 <= response.status_code < 500
    refused(response, response.status_code, field)


def test_a_missing_field(api, unchanged):
    unchanged()
    body = problem_body(api.org)
    del body["description"]
    refused(api.post("/api/problems", as_="admin", json=body), 400, "description")


def test_a_duplicate_code_is_409(api, unchanged):
    api.register()
    unchanged()
    body = refused(api.post("/api/problems", as_="admin", json=problem_body(api.org)), 409, "code")
    assert body["code"] == "conflict"


def test_a_long_term_problem_needs_no_deadline(api):
    """The counterpart of the by_date refusal: the rule is about 限期整改 only."""
    problem = api.register(deadline_kind="long_term", deadline=None)
    assert problem["deadline"] is None and problem["deadline_kind"] == "long_term"


# -- listing ------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, field", [
    ("per_page=1000", "per_page"),
    ("per_page=0", "per_page"),
    ("page=0", "page"),
    ("page=first", "page"),
    ("status=nonsense", "status"),
    ("source=x", "source"),
    ("region=county", "region"),
])
def test_bad_problem_query(api, unchanged, query, field):
    api.register()
    unchanged()
    refused(api.get(f"/api/problems?{query}", as_="admin"), 400, field)


@pytest.mark.parametrize("query, field", [("state=done", "state"), ("problem=x", "problem"), ("all=perhaps", "all")])
def test_bad_task_query(api, unchanged, query, field):
    api.register()
    unchanged()
    refused(api.get(f"/api/tasks?{query}", as_="admin"), 400, field)


# -- evidence -----------------------------------------------------------------------------------

def test_evidence_without_a_file_is_400(api, unchanged, settings):
    pid = api.register()["id"]
    unchanged()
    refused(api.post(f"/api/problems/{pid}/evidence", as_="responsible", data={"other": (BytesIO(b"x"), "a.pdf")},
                     content_type="multipart/form-data"), 400, "file")
    refused(api.post(f"/api/problems/{pid}/evidence", as_="responsible", json={"file": "aGVsbG8="}), 400, "file")
    assert not settings.evidence_path.exists() or not any(settings.evidence_path.rglob("*.*"))


def test_an_empty_file_is_400(api, unchanged, settings):
    pid = api.register()["id"]
    unchanged()
    refused(api.post(f"/api/problems/{pid}/evidence", as_="responsible", data={"file": (BytesIO(b""), "空.pdf")},
                     content_type="multipart/form-data"), 400, "file")
    assert not settings.evidence_path.exists() or not [p for p in settings.evidence_path.rglob("*") if p.is_file()]


def test_evidence_for_an_unknown_problem_is_404(api, unchanged):
    api.register()
    unchanged()
    refused(api.post("/api/problems/999999/evidence", as_="admin", data={"file": (BytesIO(b"x"), "a.pdf")},
                     content_type="multipart/form-data"), 404)
    refused(api.get("/api/evidence/999999", as_="admin"), 404)
