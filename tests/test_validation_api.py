"""POST /api/process-definitions/check and a deployment's refusal: every finding in one shape;
warnings refuse a deployment unless accepted with a comment, which the ledger keeps."""
from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest

from .helpers_flow import ledger_actions, snapshot
from .helpers_validation import document, good, line_of

ROOT = Path(__file__).resolve().parent.parent
FINDING_KEYS = {"severity", "code", "element_id", "element_name", "line", "message", "message_zh"}
BROKEN = document(*good()).replace('decision == "approve"', 'decison == "approve"')  # one error
WARNED = document(*good(), key="warned", status=False)                                # one warning


def check(api, content: str | bytes, as_: str = "admin", path: str = "/api/process-definitions/check"):
    data = content.encode("utf-8") if isinstance(content, str) else content
    return api.post(path, as_=as_, data=data, content_type="application/xml")


def deploy(api, content: str, query: str = ""):
    return api.post(f"/api/process-definitions{query}", as_="admin", data=content.encode("utf-8"),
                    content_type="application/xml")


def test_check_answers_every_finding_of_a_bad_diagram_and_stores_nothing(api, duban):
    before = snapshot(duban)
    response = check(api, BROKEN)
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["errors"], body["warnings"]) == (1, 0)
    [finding] = body["findings"]
    assert set(finding) == FINDING_KEYS
    assert (finding["severity"], finding["code"], finding["element_id"], finding["element_name"], finding["line"]) == (
        "error", "condition-unknown-field", "f_ok", None, line_of(BROKEN, 'id="f_ok"'))
    assert "decison" in finding["message"] and "decison" in finding["message_zh"]
    assert snapshot(duban) == before


@pytest.mark.parametrize("path", ["/api/process-definitions/check", "/api/definitions/check"])
def test_check_of_a_good_diagram_and_the_shipped_ones(api, path):
    assert check(api, document(*good()), path=path).json == {"findings": [], "errors": 0, "warnings": 0}
    for shipped in sorted((ROOT / "bpmn").glob("*.bpmn")):
        body = check(api, shipped.read_bytes(), path=path).json
        assert body["errors"] == 0, (shipped.name, body)


def test_check_takes_a_multipart_file_and_even_broken_xml_is_a_finding(api):
    response = api.post("/api/process-definitions/check", as_="admin", content_type="multipart/form-data",
                        data={"file": (BytesIO(b"<bpmn:definitions <oops"), "x.bpmn")})
    assert response.status_code == 200, response.json
    assert [(f["code"], f["element_id"]) for f in response.json["findings"]] == [("xml-malformed", "document")]


def test_check_needs_a_body_of_at_most_10_mib_and_an_admin(api):
    assert api.post("/api/process-definitions/check", as_="admin", json={"xml": "x"}).status_code == 400
    empty = check(api, b"")
    assert empty.status_code == 400 and "file" in empty.json["errors"]
    huge = check(api, b" " * (10 * 1024 * 1024 + 1))
    assert huge.status_code == 400 and "file" in huge.json["errors"]
    assert check(api, BROKEN, as_="jiwei").status_code == 403
    assert api.post("/api/process-definitions/check", data=BROKEN, content_type="application/xml").status_code == 401


def test_a_deployment_with_an_error_is_refused_with_all_findings(api, duban):
    before = snapshot(duban)
    bad = BROKEN.replace("<bpmn:startEvent id=\"Start_1\" name=\"开始\">",
                         "<bpmn:startEvent id=\"Start_1\" name=\"开始\">").replace('targetRef="End_ok"',
                                                                                  'targetRef="End_gone"')
    response = deploy(api, bad, "?accept_warnings=true&comment=try")
    assert response.status_code == 400, response.json
    body = response.json
    assert body["code"] == "invalid" and body["error_count"] == 2
    assert {f["code"] for f in body["findings"]} == {"condition-unknown-field", "flow-missing-target", "unreachable"}
    assert all(set(f) == FINDING_KEYS for f in body["findings"])
    # `errors` by element: what refuses it (the accepted warning about End_ok is not among them)
    assert set(body["errors"]) == {"f_ok"} and "line" in body["errors"]["f_ok"][0]
    assert snapshot(duban) == before


def test_warnings_refuse_a_deployment_unless_accepted_with_a_comment(api, duban):
    before = snapshot(duban)
    refused = deploy(api, WARNED)
    assert refused.status_code == 400, refused.json
    assert (refused.json["error_count"], refused.json["warning_count"]) == (0, 1)
    assert list(refused.json["errors"]) == ["warned"] and "accept_warnings" in refused.json["message"]
    no_comment = deploy(api, WARNED, "?accept_warnings=true&comment=%20")
    assert no_comment.status_code == 400 and list(no_comment.json["errors"]) == ["comment"]
    not_boolean = deploy(api, WARNED, "?accept_warnings=perhaps&comment=x")
    assert not_boolean.status_code == 400 and list(not_boolean.json["errors"]) == ["accept_warnings"]
    assert snapshot(duban) == before

    accepted = deploy(api, WARNED, "?accept_warnings=true&comment=督办流程不改变问题状态")
    assert accepted.status_code == 201, accepted.json
    assert (accepted.json["key"], accepted.json["version"]) == ("warned", 1)
    [entry] = [e for e in ledger_actions(duban, action="definition.deployed") if e.payload["key"] == "warned"]
    assert entry.payload["comment"] == "督办流程不改变问题状态"
    assert [w["code"] for w in entry.payload["accepted_warnings"]] == ["no-problem-status"]


def test_warnings_accepted_through_multipart_fields(api, duban):
    response = api.post("/api/process-definitions", as_="admin", content_type="multipart/form-data", data={
        "file": (BytesIO(WARNED.encode()), "warned.bpmn"), "accept_warnings": "true", "comment": "已知，无需状态"})
    assert response.status_code == 201, response.json
    [entry] = [e for e in ledger_actions(duban, action="definition.deployed") if e.payload["key"] == "warned"]
    assert entry.payload["comment"] == "已知，无需状态"


def test_a_clean_deployment_records_no_acceptance(api, duban):
    response = deploy(api, document(*good(), key="clean"))
    assert response.status_code == 201, response.json
    [entry] = [e for e in ledger_actions(duban, action="definition.deployed") if e.payload["key"] == "clean"]
    assert "comment" not in entry.payload and "accepted_warnings" not in entry.payload


def test_a_condition_naming_a_field_nothing_sets_no_longer_deploys_to_fail_later(api, duban):
    """Before: `nothing == 1` deployed and stopped every problem at the gateway (NameError)."""
    response = deploy(api, document(*good()).replace('decision == "approve"', "nothing == 1"))
    assert response.status_code == 400
    assert [f["code"] for f in response.json["findings"]] == ["condition-unknown-field"]
