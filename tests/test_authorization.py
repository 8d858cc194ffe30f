"""Who may do and see what: signing in, tokens, tasks, problems and process definitions."""
from __future__ import annotations

from pathlib import Path

import pytest

from .helpers_flow import drive_to, ledger_actions
from .support import PASSWORD, problem_body

BPMN = Path(__file__).resolve().parent.parent / "bpmn" / "rectification.bpmn"


def _unauthenticated(response):
    assert response.status_code == 401, response.json
    assert response.json["code"] == "unauthenticated"
    assert response.json["message"]


# -- signing in ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/problems", "/api/tasks", "/api/process-definitions"])
def test_no_token_is_401(api, path):
    _unauthenticated(api.get(path))


@pytest.mark.parametrize("header", [
    "Bearer not-a-token",
    "Bearer ",
    "Basic YWRtaW46dGVzdC1wYXNzd29yZA==",  # admin:test-password, the wrong scheme
    "Token {token}",
])
def test_a_malformed_authorization_header_is_401(api, header):
    header = header.format(token=api.token("admin"))
    _unauthenticated(api.client.get("/api/problems", headers={"Authorization": header}))


def test_a_tampered_token_is_401(api):
    from itsdangerous.encoding import base64_encode

    token = api.token("responsible")
    assert api.client.get("/api/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    payload, timestamp, signature = token.split(".")
    # claim to be the admin, keeping responsible's signature
    as_admin = ".".join([base64_encode(f'{{"uid":{api.org["user:admin"]}}}').decode(), timestamp, signature])
    # change one character inside the signature (not the last, whose low bits base64 ignores)
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    for forged in (as_admin, ".".join([payload, timestamp, flipped]), f"{payload}.{timestamp}", token[::-1]):
        _unauthenticated(api.client.get("/api/tasks", headers={"Authorization": f"Bearer {forged}"}))


def test_a_token_signed_with_another_secret_is_401(api):
    from engine.accounts import Tokens

    class Someone:
        id = api.org["user:admin"]

    forged = Tokens("another-secret", 3600).issue(Someone())
    _unauthenticated(api.client.get("/api/problems", headers={"Authorization": f"Bearer {forged}"}))


def test_an_expired_token_is_401(api, monkeypatch):
    import time

    from itsdangerous.timed import TimestampSigner

    fresh = api.token("admin")
    thirteen_hours_ago = int(time.time()) - 13 * 3600  # tokens live 12 hours
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: thirteen_hours_ago)
    old = api.client.post("/api/auth/token", json={"username": "admin", "password": PASSWORD}).json["token"]
    monkeypatch.undo()
    assert api.client.get("/api/tasks", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    response = api.client.get("/api/tasks", headers={"Authorization": f"Bearer {old}"})
    _unauthenticated(response)
    assert "expired" in response.json["message"]


def test_a_disabled_account_can_neither_sign_in_nor_use_its_token(api, duban):
    from engine.models import User

    token = api.token("eco_clerk")
    with duban.db.transaction() as session:
        session.get(User, api.org["user:eco_clerk"]).active = False
    _unauthenticated(api.client.get("/api/tasks", headers={"Authorization": f"Bearer {token}"}))
    _unauthenticated(api.client.post("/api/auth/token", json={"username": "eco_clerk", "password": PASSWORD}))


def test_wrong_password_says_nothing_about_which_part_was_wrong(api):
    wrong_password = api.client.post("/api/auth/token", json={"username": "admin", "password": "nope"})
    unknown_user = api.client.post("/api/auth/token", json={"username": "nobody", "password": PASSWORD})
    _unauthenticated(wrong_password)
    _unauthenticated(unknown_user)
    # the same answer whether the user exists or not: nothing tells the two apart
    assert wrong_password.json == unknown_user.json
    assert wrong_password.json["errors"] == {}
    text = wrong_password.get_data(as_text=True)
    assert "token" not in wrong_password.json and "nope" not in text
    assert api.client.post("/api/auth/token", json={"username": "admin", "password": PASSWORD}).status_code == 200


# -- tasks --------------------------------------------------------------------------------------

def test_an_official_cannot_complete_someone_elses_task(api, duban):
    pid = api.register()["id"]
    sign = api.ready_task(pid, "Task_sign")
    denied_before = len(ledger_actions(duban, action="permission.denied"))

    response = api.post(f"/api/tasks/{sign['id']}/complete", as_="outsider", json={"data": {"acknowledged": True}})
    assert response.status_code == 403, response.json
    assert response.json["code"] == "forbidden"

    assert api.ready_task(pid, "Task_sign")["state"] == "ready"
    denied = ledger_actions(duban, action="permission.denied")
    assert len(denied) == denied_before + 1
    entry = denied[-1]
    assert entry.actor_id == api.org["user:outsider"]
    assert (entry.subject_type, entry.subject_id, entry.problem_id) == ("human_task", str(sign["id"]), pid)
    assert "task.completed" not in [e.action for e in ledger_actions(duban, problem_id=pid)]
    assert duban.verify_ledger().intact


def test_an_official_cannot_register_a_problem(api, duban):
    response = api.post("/api/problems", as_="responsible", json=problem_body(api.org))
    assert response.status_code == 403, response.json
    assert api.get("/api/problems", as_="admin").json["total"] == 0
    assert [e.actor_id for e in ledger_actions(duban, action="permission.denied")] == [api.org["user:responsible"]]


def test_tasks_lists_only_the_callers_tasks(api):
    pid = api.register()["id"]
    mine = api.get("/api/tasks", as_="responsible").json["items"]
    assert [(t["problem_id"], t["element_id"]) for t in mine] == [(pid, "Task_sign")]
    assert api.get("/api/tasks", as_="outsider").json["items"] == []
    assert api.get("/api/tasks", as_="eco_clerk").json["items"] == []
    # the office's own queue holds nothing yet: the sign task is the responsible person's
    assert api.get("/api/tasks", as_="admin").json["items"] == []


@pytest.mark.parametrize("reader", ["admin", "jiwei"])
def test_all_shows_everyones_tasks_to_the_office_and_the_discipline_office(api, reader):
    first = api.register()["id"]
    second = api.register(code="NL-2026-002")["id"]
    everyone = api.get("/api/tasks?all=true", as_=reader).json["items"]
    assert sorted((t["problem_id"], t["element_id"]) for t in everyone) == [(first, "Task_sign"),
                                                                            (second, "Task_sign")]


def test_all_does_not_widen_an_officials_view(api):
    api.register()
    api.register(code="NL-2026-002", responsible_official_id=api.org["outsider"])
    own = api.get("/api/tasks", as_="outsider").json["items"]
    assert [t["element_id"] for t in own] == ["Task_sign"]
    assert api.get("/api/tasks?all=true", as_="outsider").json["items"] == own
    assert api.get("/api/tasks?all=true", as_="eco_clerk").json["items"] == []


def test_an_official_may_not_read_another_officials_task(api, duban):
    pid = api.register()["id"]
    sign = api.ready_task(pid, "Task_sign")
    assert api.get(f"/api/tasks/{sign['id']}", as_="outsider").status_code == 403
    assert api.get(f"/api/tasks/{sign['id']}", as_="responsible").status_code == 200
    assert api.get(f"/api/tasks/{sign['id']}", as_="jiwei").status_code == 200


def test_a_unit_task_may_be_done_by_anyone_with_a_post_in_the_unit(api):
    """The industry department's task names the unit's head (housing_head) as assignee, and the
    unit (housing) as candidate: anyone with a post there may act. The responsible person
    张科长 is a 科长 in housing, so he may certify too — even his own rectification; the rule is
    the unit, not the person (documented here because it is a deliberate consequence)."""
    pid = api.register()["id"]
    certify = drive_to(api, pid, "Task_industry_certify")
    assert certify["assignee"] == "housing_head"
    assert certify["candidate_unit"]["id"] == api.org["housing"]
    assert "Task_industry_certify" in [t["element_id"] for t in api.get("/api/tasks", as_="responsible").json["items"]]
    assert "Task_industry_certify" not in [t["element_id"] for t in api.get("/api/tasks", as_="eco_clerk").json["items"]]

    # somebody outside the unit may not
    refused = api.post(f"/api/tasks/{certify['id']}/complete", as_="eco_clerk", json={"data": {"decision": "certify"}})
    assert refused.status_code == 403
    done = api.complete(certify, "responsible", {"decision": "certify"}).json
    assert done["state"] == "completed" and done["completed_by"] == "responsible"
    assert api.ready_task(pid)["element_id"] == "Task_site_inspection"


# -- problems -----------------------------------------------------------------------------------

@pytest.mark.parametrize("reader", ["responsible", "eco_clerk", "eco_head", "housing_head", "magistrate", "admin",
                                    "jiwei"])
def test_the_chain_of_responsibility_may_read_a_problem(api, reader):
    pid = api.register()["id"]
    response = api.get(f"/api/problems/{pid}", as_=reader)
    assert response.status_code == 200, response.json
    assert response.json["id"] == pid


def test_an_official_outside_the_chain_may_not_read_a_problem(api, duban, reader="outsider"):
    pid = api.register()["id"]
    response = api.get(f"/api/problems/{pid}", as_=reader)
    assert response.status_code == 403, response.json
    assert response.json["code"] == "forbidden"
    assert "title" not in response.json and problem_body(api.org)["title"] not in response.get_data(as_text=True)
    denied = ledger_actions(duban, action="permission.denied")
    assert [(e.actor_id, e.problem_id) for e in denied] == [(api.org[f"user:{reader}"], pid)]


def test_the_heads_of_a_region_read_its_problems_and_those_below_it_only(api, duban):
    """党政同责: the county's Party secretary answers for every problem of the county and its
    towns, so reads them (the ledger, the API, the dashboard use the one rule); a problem of
    another county stays closed to them."""
    from engine.models import Region, RegionLevel

    with duban.db.transaction() as session:
        other = Region(name="东坪区", level=RegionLevel.COUNTY, parent_id=api.org["city"])
        session.add(other)
        session.flush()
        other_id = other.id
    county = api.register(code="C-1")["id"]
    town = api.register(code="T-1", region_id=api.org["town"])["id"]
    elsewhere = api.register(code="E-1", region_id=other_id)["id"]
    assert api.get(f"/api/problems/{county}", as_="secretary").status_code == 200
    assert api.get(f"/api/problems/{town}", as_="secretary").status_code == 200
    assert api.get(f"/api/problems/{elsewhere}", as_="secretary").status_code == 403
    listed = sorted(p["id"] for p in api.get("/api/problems", as_="secretary").json["items"])
    assert listed == sorted([county, town])


def test_an_official_lists_only_the_problems_they_are_part_of(api):
    housing_problem = api.register()["id"]
    government_problem = api.register(
        code="NL-2026-002", lead_unit_id=api.org["county_gov"], responsible_official_id=api.org["outsider"],
        industry_unit_id=None, cooperating_unit_ids=[])["id"]

    def listed(user):
        body = api.get("/api/problems", as_=user).json
        assert body["total"] == len(body["items"])
        return sorted(p["id"] for p in body["items"])

    assert listed("admin") == listed("jiwei") == sorted([housing_problem, government_problem])
    assert listed("responsible") == [housing_problem]
    assert listed("eco_clerk") == [housing_problem]
    assert listed("outsider") == [government_problem]
    assert listed("magistrate") == sorted([housing_problem, government_problem])  # leading official of both
    assert listed("secretary") == sorted([housing_problem, government_problem])  # heads the county of both


def test_an_official_cannot_deploy_or_read_process_definitions(api, duban):
    content = BPMN.read_text(encoding="utf-8").replace('name="签收"', 'name="签收确认"').encode("utf-8")
    assert content != BPMN.read_bytes()
    response = api.post("/api/process-definitions", as_="eco_head", data=content, content_type="application/xml")
    assert response.status_code == 403, response.json
    assert api.get("/api/process-definitions", as_="eco_head").status_code == 403
    assert api.get("/api/process-definitions/rectification/versions/1", as_="eco_head").status_code == 403
    assert [d["version"] for d in api.get("/api/process-definitions", as_="admin").json["items"]
            if d["key"] == "rectification"] == [1]
    # the discipline office reads definitions but may not deploy them
    assert api.get("/api/process-definitions", as_="jiwei").status_code == 200
    assert api.post("/api/process-definitions", as_="jiwei", data=content,
                    content_type="application/xml").status_code == 403
