"""BPMN from other modelers: a diagram saved by Camunda Modeler 5 (tests/fixtures/camunda_review*.bpmn,
in UTF-8, GBK, UTF-16 with its byte order mark and Latin-1) loads with its names intact, is checked
with every finding at once (its JUEL condition offered a translation, its process not executable,
what Camunda settings Duban does not honour), and, once mended, deploys and runs with its tasks
going to the roles their camunda:candidateGroups name."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.assignment import load_lane_roles
from engine.validation.check import inspect
from engine.validation.findings import DocumentError
from engine.validation.juel import NotTranslatable, translate

from .helpers_flow import snapshot
from .support import for_problems

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NAMES = {"camunda_review": ("整改方案审核", "审核整改方案", "退回"), "camunda_review_gbk": ("整改方案审核", "审核整改方案", "退回"),
         "camunda_review_utf16": ("整改方案审核", "审核整改方案", "退回"),
         "camunda_review_latin1": ("Révision du plan", "Réviser le plan", "Retour")}
EXPECTED = [("error", "not-executable", "camunda_review"), ("error", "juel-condition", "Flow_return"),
            ("warning", "no-problem-status", "camunda_review"), ("warning", "camunda-unsupported", "Activity_submit"),
            ("warning", "camunda-unsupported", "Activity_review")]
# what a message must never show: a memory address, an lxml element's repr, a namespace, a traceback
UNCLEAR = re.compile(r"0x[0-9a-f]{6,}|<Element|\{http|Traceback|Error\(|\bNone\b")


def fixture(name: str = "camunda_review") -> bytes:
    return (FIXTURES / f"{name}.bpmn").read_bytes()


def mended(text: str) -> str:
    """What the modeler's 采用建议 does to the fixture: executable, the condition translated."""
    return text.replace('isExecutable="false"', 'isExecutable="true"').replace(
        "${decision == 'return'}", 'decision == "return"')


def check(api, content: bytes):
    response = api.post("/api/process-definitions/check", as_="admin", data=content, content_type="application/xml")
    assert response.status_code == 200, response.json
    return response.json


def findings_of(text: str):
    return inspect(text.encode("utf-8"), load_lane_roles()).findings


# -- encodings -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(NAMES))
def test_each_encoding_loads_with_its_names_intact_and_every_finding_at_once(api, name):
    body = check(api, fixture(name))
    assert [(f["severity"], f["code"], f["element_id"]) for f in body["findings"]] == EXPECTED
    process, task, flow = NAMES[name]
    named = {f["element_id"]: f["element_name"] for f in body["findings"]}
    assert (named["camunda_review"], named["Activity_review"], named["Flow_return"]) == (process, task, flow)
    for finding in body["findings"]:
        assert not UNCLEAR.search(finding["message"]) and not UNCLEAR.search(finding["message_zh"]), finding
        assert finding["line"] is not None
    juel = next(f for f in body["findings"] if f["code"] == "juel-condition")
    assert juel["fix"] == 'decision == "return"' and juel["line"] == 45
    assert next(f for f in body["findings"] if f["code"] == "not-executable")["fix"] == "true"
    assert all("fix" not in f for f in body["findings"] if f["code"] not in ("juel-condition", "not-executable"))


@pytest.mark.parametrize("name", ["camunda_review_gbk", "camunda_review_utf16", "camunda_review_latin1"])
def test_a_file_in_another_encoding_is_stored_as_utf8_with_its_names(api, name):
    content = fixture(name)
    codec = {"camunda_review_gbk": "gbk", "camunda_review_utf16": "utf-16", "camunda_review_latin1": "latin-1"}[name]
    text = mended(content.decode(codec))
    response = api.post("/api/process-definitions?accept_warnings=true&comment=Camunda", as_="admin",
                        data=text.encode(codec), content_type="application/xml")
    assert response.status_code == 201, response.json
    stored = api.get("/api/process-definitions/camunda_review/versions/1", as_="admin").get_data().decode("utf-8")
    assert stored.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    for words in NAMES[name]:
        assert words in stored
    listed = api.get("/api/process-definitions", as_="admin").json["items"]
    assert ("camunda_review", NAMES[name][0]) in [(d["key"], d["name"]) for d in listed]


def test_the_same_diagram_in_any_encoding_is_the_same_version(api):
    for codec, name in (("utf-8", "camunda_review"), ("gbk", "camunda_review_gbk"), ("utf-16", "camunda_review_utf16")):
        text = mended(fixture(name).decode(codec))
        response = api.post("/api/process-definitions?accept_warnings=true&comment=Camunda", as_="admin",
                            data=text.encode(codec), content_type="application/xml")
        assert (response.status_code, response.json["version"]) == (201 if codec == "utf-8" else 200, 1)


def test_gbk_without_a_declaration_is_read_as_gbk():
    text = fixture("camunda_review").decode("utf-8").replace('<?xml version="1.0" encoding="UTF-8"?>\n', "")
    found = inspect(text.encode("gbk"), load_lane_roles()).findings
    assert [f.element for f in found if f.code == "juel-condition"] == ["Flow_return"]
    assert {f.name for f in found} >= {"整改方案审核", "审核整改方案"}


def test_latin1_without_a_declaration_is_refused_naming_the_line_not_garbled():
    text = fixture("camunda_review_latin1").decode("latin-1").replace(
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n', "")
    [finding] = inspect(text.encode("latin-1"), load_lane_roles()).findings
    assert (finding.code, finding.element, finding.line) == ("document-encoding", "document", 2)
    assert "declares no encoding" in finding.message and "ISO-8859-1" in finding.message
    assert "未声明编码" in finding.message_zh


def test_a_declaration_the_bytes_do_not_match_is_named_with_a_hint():
    gbk = fixture("camunda_review_gbk").replace(b'encoding="GBK"', b'encoding="UTF-8"')
    [finding] = inspect(gbk, load_lane_roles()).findings
    assert finding.code == "document-encoding" and finding.line == 3
    assert "declares the encoding UTF-8" in finding.message and 'declare encoding="GBK"' in finding.message
    unknown = fixture().replace(b'encoding="UTF-8"', b'encoding="X-MARTIAN"')
    [finding] = inspect(unknown, load_lane_roles()).findings
    assert finding.code == "document-encoding" and "X-MARTIAN" in finding.message


def test_utf16_without_its_byte_order_mark_and_utf8_with_one_load():
    text = mended(fixture().decode("utf-8"))
    for content in (text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-be"),
                    b"\xef\xbb\xbf" + text.encode("utf-8")):
        inspection = inspect(content, load_lane_roles())
        assert inspection.deployable is not None, [f.as_dict() for f in inspection.findings]
        assert inspection.deployable.name == "整改方案审核"


# -- camunda:candidateGroups -----------------------------------------------------------------------

def test_candidate_groups_give_the_tasks_their_roles_and_the_process_runs(api, duban):
    response = api.post("/api/process-definitions?accept_warnings=true&comment=Camunda", as_="admin",
                        data=for_problems(mended(fixture().decode())).encode(), content_type="application/xml")
    assert response.status_code == 201, response.json
    assert response.json["user_tasks"] == ["Activity_review"]   # the camunda:formData form
    problem = api.register(process_key="camunda_review", code="CAM-1")
    submit = api.ready_task(problem["id"], "Activity_submit")
    assert (submit["lane"], submit["assignee"]) == ("责任单位", "responsible")
    api.complete(submit, as_="responsible", data={})
    review = api.ready_task(problem["id"], "Activity_review")
    assert (review["lane"], review["candidate_role"]) == ("环督办", "admin")
    refused = api.complete(review, as_="admin", data={"opinion": "x"}, expect=400)
    assert "decision" in refused.json["errors"]                  # required in the Camunda form
    api.complete(review, as_="admin", data={"decision": "return", "opinion": "措施不具体"})
    assert api.ready_task(problem["id"])["element_id"] == "Activity_submit"   # the translated condition


@pytest.mark.parametrize("groups", ["office", "环督办, office", " 环督办 "])
def test_a_role_key_or_lane_name_in_candidate_groups_is_the_role(groups):
    text = mended(fixture().decode()).replace('camunda:candidateGroups="环督办"', f'camunda:candidateGroups="{groups}"')
    inspection = inspect(text.encode(), load_lane_roles())
    assert inspection.deployable is not None and not inspection.errors
    assert inspection.deployable.spec.task_specs["Activity_review"].lane == "环督办"


def test_candidate_groups_naming_no_role_list_the_known_roles(api):
    text = mended(fixture().decode()).replace('camunda:candidateGroups="环督办"', 'camunda:candidateGroups="审核组"')
    [finding] = [f for f in check(api, text.encode())["findings"] if f["severity"] == "error"]
    assert (finding["code"], finding["element_id"], finding["line"]) == ("candidate-groups-unknown-role", "Activity_review", 13)
    assert "'审核组' is not a known role" in finding["message"]
    for known in ("环督办 (office)", "责任单位 (responsible_person)", "纪委监委 (discipline)"):
        assert known in finding["message"]
    assert "环督办 (office)" in finding["message_zh"] and "审核组" in finding["message_zh"]


def test_candidate_groups_naming_two_roles_or_none_are_refused():
    text = mended(fixture().decode())
    two = findings_of(text.replace('camunda:candidateGroups="环督办"', 'camunda:candidateGroups="环督办,纪委监委"'))
    assert [(f.code, f.element) for f in two if f.severity == "error"] == [("candidate-groups-unknown-role", "Activity_review")]
    assert "several roles" in next(f for f in two if f.severity == "error").message
    none = findings_of(text.replace(' camunda:candidateGroups="环督办"', ""))
    assert [(f.code, f.element) for f in none if f.severity == "error"] == [("task-outside-lane", "Activity_review")]


LANES = ('<bpmn:laneSet id="LaneSet_1"><bpmn:lane id="Lane_review" name="审核岗">'
         '<bpmn:flowNodeRef>Activity_review</bpmn:flowNodeRef></bpmn:lane>'
         '<bpmn:lane id="Lane_other" name="其他">{others}</bpmn:lane></bpmn:laneSet>\n    <bpmn:startEvent')


def test_a_lane_whose_name_is_no_role_is_offered_the_role_its_tasks_name():
    refs = "".join(f"<bpmn:flowNodeRef>{e}</bpmn:flowNodeRef>" for e in ("StartEvent_1", "Activity_submit"))
    text = mended(fixture().decode()).replace("<bpmn:startEvent", LANES.format(others=refs), 1)
    found = [f for f in findings_of(text) if f.severity == "error"]
    assert sorted((f.code, f.element, f.fix) for f in found) == [
        ("lane-unknown-role", "Lane_other", "责任单位"), ("lane-unknown-role", "Lane_review", "环督办")]
    assert "name the lane 环督办" in next(f for f in found if f.element == "Lane_review").message
    fixed = text.replace('name="审核岗"', 'name="环督办"').replace('name="其他"', 'name="责任单位"')
    assert not [f for f in findings_of(fixed) if f.severity == "error"]
    mixed = text.replace('camunda:candidateGroups="责任单位"', 'camunda:candidateGroups="纪委监委"').replace(
        "<bpmn:flowNodeRef>Activity_review</bpmn:flowNodeRef></bpmn:lane>", "</bpmn:lane>").replace(
        "<bpmn:flowNodeRef>Activity_submit</bpmn:flowNodeRef>",
        "<bpmn:flowNodeRef>Activity_submit</bpmn:flowNodeRef><bpmn:flowNodeRef>Activity_review</bpmn:flowNodeRef>")
    offered = [(f.element, f.fix) for f in findings_of(mixed) if f.code == "lane-unknown-role"]
    assert offered == [("Activity_submit", None), ("Activity_review", None)]   # two roles: no offer


# -- Camunda settings Duban does not honour --------------------------------------------------------

def test_each_camunda_setting_that_changes_behaviour_is_a_warning_naming_its_element():
    text = mended(fixture().decode()).replace(
        'camunda:asyncBefore="true"', 'camunda:assignee="${initiator}" camunda:dueDate="${due}"').replace(
        "<bpmn:extensionElements>", '<bpmn:extensionElements><camunda:taskListener class="a.B" event="create" />', 1)
    warned = [(f.element, f.message.split(": ", 1)[1].split("=")[0].split(":")[1]) for f in findings_of(text)
              if f.code == "camunda-unsupported"]
    assert sorted(warned) == [("Activity_review", "assignee"), ("Activity_review", "dueDate"),
                              ("Activity_review", "taskListener"), ("Activity_submit", "formKey")]
    # historyTimeToLive, versionTag, candidateGroups and the modeler's own attributes are no warning
    assert "historyTimeToLive" not in " ".join(f.message for f in findings_of(text))


def test_a_script_in_another_language_and_a_java_delegate_are_named_plainly():
    extra = ('<bpmn:scriptTask id="Script_1" name="计算" scriptFormat="groovy"><bpmn:script>def x = '
             'execution.getVariable("a")</bpmn:script></bpmn:scriptTask>\n'
             '<bpmn:businessRuleTask id="Rule_1" name="判定" camunda:decisionRef="d1" />\n  </bpmn:process>')
    found = findings_of(mended(fixture().decode()).replace("  </bpmn:process>", extra))
    [script] = [f for f in found if f.severity == "error"]
    assert (script.code, script.element) == ("script-language", "Script_1")
    assert "written in groovy" in script.message and "SyntaxError" not in script.message
    assert "Python" in script.message_zh
    assert ("Rule_1", "camunda-unsupported") in [(f.element, f.code) for f in found]


# -- JUEL ------------------------------------------------------------------------------------------

TRANSLATIONS = [
    ("${decision == 'return'}", 'decision == "return"'),
    ("${approved}", "approved"),
    ("${!approved}", "not approved"),
    ("${not approved}", "not approved"),
    ('${amount > 100 && kind == "a"}', 'amount > 100 and kind == "a"'),
    ("#{x eq 'y'}", 'x == "y"'),
    ("${a ne 1 or b lt 2}", "a != 1 or b < 2"),
    ("${a gt 1 and b ge 2 and c le 3}", "a > 1 and b >= 2 and c <= 3"),
    ("${a || b && c}", "a or b and c"),
    ("${(a || b) && c}", "(a or b) and c"),
    ("${!(a && b)}", "not (a and b)"),
    ("${!a == b}", "(not a) == b"),
    ("${a == b == c}", "(a == b) == c"),
    ("${empty opinion}", 'opinion in (None, "", [], {})'),
    ("${not empty opinion}", 'not opinion in (None, "", [], {})'),
    ("${order.amount >= 5}", 'order["amount"] >= 5'),
    ("${approved == true && rejected == false}", "approved == True and rejected == False"),
    ("${reason != null}", "reason != None"),
    ("${amount * 2 > limit - 1}", "amount * 2 > limit - 1"),
    ("${a - (b - c) > 0}", "a - (b - c) > 0"),
    ("${total div 2 mod 3 == 0}", "total / 2 % 3 == 0"),
    ("${-score < 0.5}", "-score < 0.5"),
    ("${审核结果 == '通过'}", '审核结果 == "通过"'),
    (r"${note == 'it\'s \"x\"'}", 'note == "it\'s \\"x\\""'),
    ("  ${ decision=='return' }  ", 'decision == "return"'),
]
REFUSALS = ["${x ? 1 : 2}", "${s.startsWith('a')}", "${fn:contains(a, 'b')}", "${list[0] == 1}", "${a instanceof B}",
            "${}", "${(a == 1}", "${a ==}", "${class == 1}", "${_secret == 1}", "decision == 'return'",
            "${a} and ${b}", "${a = 1}", "${a.__class__ == 1}", "${" + "(" * 5000 + "a" + ")" * 5000 + "}",
            "${" + "!" * 5000 + "a}", "${" + "(" * 100 + "a" + ")" * 100 + "}", "${" + " || ".join(["a"] * 2000) + "}"]


@pytest.mark.parametrize("juel, python", TRANSLATIONS)
def test_juel_conditions_are_translated(juel, python):
    assert translate(juel) == python


@pytest.mark.parametrize("juel", REFUSALS)
def test_juel_beyond_the_simple_is_refused(juel):
    with pytest.raises(NotTranslatable):
        translate(juel)


@pytest.mark.parametrize("juel, fixed", [("${decision == 'return'}", 'decision == "return"'),
                                         ("${x ? 1 : 2}", None), ("${decision.equals('return')}", None),
                                         ("${" + "(" * 3000 + "a" + ")" * 3000 + "}", None)])
def test_a_juel_condition_is_a_finding_with_its_translation_or_how_to_mend_it(juel, fixed):
    text = mended(fixture().decode()).replace('decision == "return"', juel)
    [finding] = [f for f in findings_of(text) if f.severity == "error"]
    assert (finding.code, finding.element, finding.fix) == ("juel-condition", "Flow_return", fixed)
    if fixed is None:
        assert "rewrite it by hand" in finding.message and "手工改写" in finding.message_zh
    else:
        assert f"in Duban it reads {fixed}" in finding.message


# -- not executable --------------------------------------------------------------------------------

def test_a_process_without_is_executable_is_checked_in_full_naming_how_to_mark_it():
    text = fixture().decode().replace(' isExecutable="false"', "")
    found = findings_of(text)
    [first] = [f for f in found if f.code == "not-executable"]
    assert (first.element, first.line, first.fix) == ("camunda_review", 3, "true")
    assert "not marked executable" in first.message and "可执行" in first.message_zh
    assert "juel-condition" in [f.code for f in found]      # the rest is checked too


def test_a_collaboration_without_a_process_or_with_several_says_so():
    head, _, tail = fixture().decode().partition("  <bpmn:process")
    empty = head + '  <bpmn:collaboration id="Collab_1" />\n  <bpmndi:BPMNDiagram id="D"><bpmndi:BPMNPlane id="P" bpmnElement="Collab_1" /></bpmndi:BPMNDiagram>\n</bpmn:definitions>\n'
    [finding] = findings_of(empty)
    assert (finding.code, finding.element) == ("not-executable", "document") and "no process" in finding.message
    text = fixture().decode()
    second = text.replace("  <bpmndi:BPMNDiagram", '  <bpmn:process id="other" isExecutable="false" />\n  <bpmndi:BPMNDiagram')
    assert [(f.code, f.element) for f in findings_of(second)] == [("not-executable", "camunda_review"),
                                                                   ("not-executable", "other")]


# -- the admin page: kept as an unfinished draft, finished in the modeler -------------------------

def test_an_undeployable_upload_is_kept_as_a_draft_and_opens_in_the_modeler(app, org, duban):
    from .test_admin_config import deploy as upload_page
    from .test_modeler_page import editor_data
    from .test_pages import login

    admin = app.test_client()
    login(admin, "admin")
    response = upload_page(admin, fixture("camunda_review_gbk"), "review.bpmn")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "juel-condition" in html and "not-executable" in html
    link = re.search(r'href="(/admin/definitions/camunda_review/edit\?version=1)" data-action="open-in-modeler"', html)
    assert link, html
    data = editor_data(admin, link.group(1))
    assert 'id="camunda_review"' in data["xml"] and "审核整改方案" in data["xml"] and 'encoding="UTF-8"' in data["xml"]
    before = snapshot(duban)
    malformed = upload_page(admin, b"<bpmn:definitions <oops", "bad.bpmn")
    assert malformed.status_code == 400 and "xml-malformed" in malformed.get_data(as_text=True)
    assert snapshot(duban) == before                      # nothing kept of what cannot be read
    other = app.test_client()
    login(other, "responsible")
    assert other.get(link.group(1)).status_code == 403   # administrators only


def test_a_document_that_cannot_be_read_is_not_kept(duban):
    with pytest.raises(DocumentError):
        duban.save_draft(None, b"\xff\xfe\xff", "x.bpmn")
    no_process = fixture().decode().replace("<bpmn:process", "<bpmn:other").replace("</bpmn:process>", "</bpmn:other>")
    with pytest.raises(DocumentError):
        duban.save_draft(None, no_process.encode(), "x.bpmn")
