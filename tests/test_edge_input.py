"""Hostile input at the edge: every one is a 4xx naming what is at fault, never a 5xx, and the
database is left as it was.

Ids beyond what the database stores on every route with an id (found by walking the URL
map: API and pages, signed in and not), deeply nested and oversized JSON, lone surrogates,
NUL bytes and control characters, fields longer than their columns, BPMN files in GBK,
GB18030, Latin-1 and UTF-16, process ids and names longer than their columns, and problem
codes that differ only by full-width, zero-width or trailing-space characters.
"""
from __future__ import annotations

import json
import re

import pytest

from .helpers_flow import snapshot
from .support import PASSWORD, problem_body
from .test_definitions import FIXTURE, SHIPPED, changed, deploy_file, deploy_xml, mini_process

BEYOND = [2**31, 2**63, 10**30]


def refused(response, status: int, field: str | None = None):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    body = response.json
    # a refused deployment also lists its findings (tests/test_validation_api.py)
    assert set(body) - {"findings", "error_count", "warning_count"} == {"code", "message", "errors"}, body
    if field is not None:
        assert field in body["errors"], body
        assert all(isinstance(m, str) and m for m in body["errors"][field])
    return body


def id_routes(app):
    """(rule, method) for every route with an integer in its path, API and pages."""
    found = []
    for rule in app.url_map.iter_rules():
        if any(type(c).__name__ == "IdConverter" for c in rule._converters.values()):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found.append((rule, method))
    return found


def url_with(rule, number: int) -> str:
    path = rule.rule
    for name, converter in rule._converters.items():
        value = str(number) if type(converter).__name__ == "IdConverter" else "x"
        path = re.sub(rf"<(?:[^:<>]+:)?{name}>", value, path)
    return path


def test_every_route_with_an_id_is_found(app):
    routes = id_routes(app)
    paths = {rule.rule for rule, _ in routes}
    assert len(paths) >= 30, sorted(paths)
    assert any(p.startswith("/api/") for p in paths) and any(not p.startswith("/api/") for p in paths)


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_ids_beyond_the_database_are_404_on_every_route(app, api, duban, signed_in):
    client = app.test_client()
    headers = {}
    if signed_in:
        page = client.get("/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert client.post("/login", data={"username": "admin", "password": PASSWORD,
                                           "csrf_token": csrf}).status_code == 302
        headers = {"Authorization": f"Bearer {api.token('admin')}"}
    before = snapshot(duban)
    for rule, method in id_routes(app):
        for number in BEYOND:
            url = url_with(rule, number)
            response = client.open(url, method=method, headers=headers, json={} if method != "GET" else None)
            # a page's POST without its form's CSRF token is refused (400) before the route is looked at
            expected = (404,) if url.startswith("/api/") or method == "GET" else (400, 404)
            assert response.status_code in expected, (method, url, response.status_code)
    assert snapshot(duban) == before


def test_the_largest_id_is_an_ordinary_missing_row(app, api, duban):
    """2^31-1 reaches the views and the database: every answer is a 4xx (or a page), never a 5xx."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {api.token('admin')}"}
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf})
    before = snapshot(duban)
    for rule, method in id_routes(app):
        url = url_with(rule, 2**31 - 1)
        response = client.open(url, method=method, headers=headers, json={} if method != "GET" else None)
        assert response.status_code < 500, (method, url, response.status_code, response.get_data(as_text=True)[:300])
    assert snapshot(duban) == before


@pytest.mark.parametrize("field, value", [
    ("region_id", 2**31), ("lead_unit_id", 2**63), ("responsible_official_id", 0),
    ("industry_unit_id", -1), ("cooperating_unit_ids", [2**31]),
])
def test_ids_in_a_body_are_bounded(api, duban, field, value):
    before = snapshot(duban)
    body = refused(api.post("/api/problems", as_="admin", json=problem_body(api.org, **{field: value})), 400)
    assert any(name.startswith(field) for name in body["errors"]), body
    assert snapshot(duban) == before


@pytest.mark.parametrize("path, field", [
    ("/api/problems?region=2147483648", "region"), ("/api/problems?unit=9223372036854775808", "unit"),
    ("/api/problems?page=99999999999999", "page"), ("/api/tasks?problem=2147483648", "problem"),
    ("/api/escalations?problem=2147483648", "problem"), ("/api/accountability-cases?official=2147483648", "official"),
    ("/api/notifications?page=10000000000", "page"),
])
def test_ids_and_pages_in_a_query_are_bounded(api, path, field):
    refused(api.get(path, as_="admin"), 400, field)


@pytest.mark.parametrize("path", ["/ledger?region=2147483648", "/ledger?page=99999999999999999999",
                                  "/ledger?unit=%C2%B2", "/dashboard?region=9223372036854775808",
                                  "/admin/users?page=%C2%B2"])
def test_numbers_in_a_page_query_are_bounded(app, org, path):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf})
    assert client.get(path).status_code == 400


# -- JSON ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deeply_nested_json_is_400(api, duban, depth):
    before = snapshot(duban)
    body = b'{"data": ' + b"[" * depth + b"]" * depth + b"}"
    for path in ("/api/problems", "/api/auth/token"):
        response = api.post(path, as_="admin", data=body, content_type="application/json")
        refused(response, 400)
        assert "nested" in response.json["message"]
    assert snapshot(duban) == before


def test_json_over_a_mebibyte_is_413(api, duban):
    before = snapshot(duban)
    body = json.dumps(problem_body(api.org, description="长" * 400_000))
    refused(api.post("/api/problems", as_="admin", data=body, content_type="application/json"), 413, "request")
    assert snapshot(duban) == before


# -- text ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, what", [("\\ud800", "surrogate"), ("\\udfff tail", "surrogate"),
                                        ("a\\u0000b", "NUL"), ("a\\u0007b", "control")])
def test_bad_text_in_json_is_refused_naming_the_field(api, duban, text, what):
    before = snapshot(duban)
    for field in ("title", "description", "batch"):
        raw = json.dumps(problem_body(api.org, **{field: "PLACEHOLDER"})).replace("PLACEHOLDER", text)
        body = refused(api.post("/api/problems", as_="admin", data=raw, content_type="application/json"), 400, field)
        assert what in body["errors"][field][0]
    raw = json.dumps(problem_body(api.org, sites=["点位", "PLACEHOLDER"])).replace("PLACEHOLDER", text)
    refused(api.post("/api/problems", as_="admin", data=raw, content_type="application/json"), 400, "sites.1")
    assert snapshot(duban) == before


def test_a_lone_surrogate_at_sign_in_is_400(app, api):
    client = app.test_client()
    raw = '{"username": "\\ud800", "password": "x"}'
    refused(client.post("/api/auth/token", data=raw, content_type="application/json"), 400, "username")
    raw = '{"username": "admin", "password": "\\udc00\\ud800"}'
    refused(client.post("/api/auth/token", data=raw, content_type="application/json"), 400, "password")
    # the login page: a surrogate cannot travel in a form (invalid UTF-8 becomes U+FFFD) and NUL is refused
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    for username in ("ad\x00min", "ad\x1bmin"):
        answer = client.post("/login", data={"username": username, "password": "x", "csrf_token": csrf})
        assert answer.status_code in (200, 400), answer.status_code
    raw = b"username=%ED%A0%80&password=%00&csrf_token=" + csrf.encode()
    assert client.post("/login", data=raw, content_type="application/x-www-form-urlencoded").status_code == 400


@pytest.mark.parametrize("query, field", [("q=a%00b", "q"), ("batch=%01", "batch"), ("q=%7F", "q")])
def test_bad_text_in_a_query_is_refused(api, query, field):
    refused(api.get(f"/api/problems?{query}", as_="admin"), 400, field)


def test_text_is_stored_as_nfc(api):
    decomposed = "Cafe\u0301 县城污水处理厂"
    problem = api.register(title=decomposed)
    assert problem["title"] == "Café 县城污水处理厂"


@pytest.mark.parametrize("field, value", [
    ("title", "长" * 201), ("description", "长" * 10_001), ("batch", "批" * 61), ("code", "C" * 41),
    ("target", "目" * 10_001), ("measures", "措" * 10_001), ("sites", ["点"] * 201), ("sites", ["点" * 201]),
    ("milestones", [{"title": "节" * 201, "due": "2026-05-01"}]), ("process_key", "k" * 101),
])
def test_fields_longer_than_their_columns_are_refused(api, duban, field, value):
    before = snapshot(duban)
    body = refused(api.post("/api/problems", as_="admin", json=problem_body(api.org, **{field: value})), 400)
    assert any(name.startswith(field) for name in body["errors"]), body
    assert snapshot(duban) == before


def test_a_long_extension_reason_is_refused(api, duban):
    pid = api.register()["id"]
    before = snapshot(duban)
    refused(api.post(f"/api/problems/{pid}/extension-requests", as_="responsible",
                     json={"requested_deadline": "2026-12-31", "reason": "因" * 4001}), 400, "reason")
    assert snapshot(duban) == before


# -- problem codes --------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["ＮＬ－２０２６－００１", "NL-2026-001 ", " NL-2026-001", "NL\u200b-2026-001",
                                     "\ufeffNL-2026-001", "NL-2026-001\u200d"])
def test_a_code_differing_only_in_width_spaces_or_invisible_characters_is_a_duplicate(api, duban, variant):
    first = api.register(code="NL-2026-001")
    assert first["code"] == "NL-2026-001"
    before = snapshot(duban)
    body = refused(api.post("/api/problems", as_="admin", json=problem_body(api.org, code=variant)), 409, "code")
    assert body["code"] == "conflict"
    assert snapshot(duban) == before


def test_a_code_is_stored_normalised(api):
    assert api.register(code=" ＮＬ\u200b-2026-009 ")["code"] == "NL-2026-009"


def test_a_code_of_only_invisible_characters_is_refused(api, duban):
    before = snapshot(duban)
    refused(api.post("/api/problems", as_="admin", json=problem_body(api.org, code="\u200b\u200b")), 400, "code")
    assert snapshot(duban) == before


# -- BPMN encodings -------------------------------------------------------------------------------

def _declared(document: str, encoding: str) -> str:
    return document.replace('<?xml version="1.0" encoding="UTF-8"?>', f'<?xml version="1.0" encoding="{encoding}"?>', 1)


@pytest.mark.parametrize("encoding, codec, bom", [
    ("GBK", "gbk", b""), ("GB18030", "gb18030", b""), ("UTF-16", "utf-16-le", b"\xff\xfe"),
    ("UTF-16", "utf-16-be", b"\xfe\xff"),
])
def test_a_chinese_diagram_in_its_declared_encoding_deploys(api, duban, encoding, codec, bom):
    document = changed('<bpmn:userTask id="Task_sign" name="签收">', '<bpmn:userTask id="Task_sign" name="签收（编码）">')
    content = bom + _declared(document, encoding).encode(codec)
    for deploy in (deploy_xml, deploy_file):
        response = deploy(api, content)
        assert response.status_code in (200, 201), response.json
    xml = api.get(f"/api/process-definitions/rectification/versions/{response.json['version']}", as_="admin")
    assert xml.status_code == 200
    text = xml.get_data(as_text=True)
    assert "签收（编码）" in text and "环保督察问题整改" in text and f'encoding="{encoding}"' not in text
    problem = api.register()  # the new version runs
    assert any(t["name"] == "签收（编码）" for t in problem["current_tasks"]), problem["current_tasks"]


def test_a_latin1_diagram_deploys(api):
    document = mini_process("latin", "timeDuration:PT1H").replace('name="latin"', 'name="Procédure à échéance"')
    # the Chinese lane name as character references, as a Latin-1 file writes it
    response = deploy_xml(api, _declared(document, "ISO-8859-1").encode("latin-1", "xmlcharrefreplace"),
                          accept=FIXTURE)
    assert response.status_code == 201, response.json
    xml = api.get(f"/api/process-definitions/latin/versions/{response.json['version']}", as_="admin")
    assert "Procédure à échéance" in xml.get_data(as_text=True)


@pytest.mark.parametrize("content", [
    _declared(SHIPPED, "x-no-such-encoding").encode(),
    SHIPPED.encode("gbk"),                              # says UTF-8, is GBK
    _declared(SHIPPED, "UTF-16").encode("utf-8"),       # says UTF-16 without a byte order mark, is UTF-8
])
def test_an_unknown_or_lying_encoding_is_400(api, duban, content):
    before = snapshot(duban)
    body = refused(deploy_xml(api, content), 400, "document")
    assert "encoding" in body["message"] or "XML" in body["message"], body
    assert snapshot(duban) == before


@pytest.mark.parametrize("old, new, element", [
    ('<bpmn:process id="rectification"', '<bpmn:process id="r' + "x" * 100 + '"', "r" + "x" * 39 + "…"),
    ('name="环保督察问题整改"', 'name="' + "整" * 201 + '"', "rectification"),
    ('<bpmn:userTask id="Task_sign" name="签收">', '<bpmn:userTask id="Task_sign" name="' + "签" * 201 + '">',
     "Task_sign"),
])
def test_ids_and_names_longer_than_their_columns_are_refused_at_deployment(api, duban, old, new, element):
    document = SHIPPED.replace(old, new)
    if old.startswith("<bpmn:process id="):
        document = document.replace('processRef="rectification"', 'processRef="r' + "x" * 100 + '"')
    before = snapshot(duban)
    body = refused(deploy_xml(api, document), 400, element)
    assert "at most" in body["errors"][element][0]
    assert snapshot(duban) == before
