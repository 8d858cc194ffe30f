"""The deploy-time checks (engine/validation), one small diagram per check: each finding with
its severity, code, element, line and a sentence naming the element, in English and Chinese."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.assignment import load_lane_roles
from engine.validation.check import inspect

from .helpers_validation import (document, findings, flow, form, good, line_of, radio, text, codes, user)

ROOT = Path(__file__).resolve().parent.parent


def only(xml: str, code: str):
    [finding] = [f for f in findings(xml) if f.code == code]
    return finding


def test_the_fixture_is_clean():
    assert codes(document(*good())) == []


# -- expressions naming a field nothing sets ------------------------------------------------------

def test_a_condition_naming_a_misspelt_field():
    xml = document(*good()).replace('decision == "approve"', 'decison == "approve"')
    finding = only(xml, "condition-unknown-field")
    assert (finding.severity, finding.element, finding.line) == ("error", "f_ok", line_of(xml, 'id="f_ok"'))
    assert "'decison'" in finding.message and "did you mean 'decision'" in finding.message
    assert "f_ok" in finding.message and "decison" in finding.message_zh and "f_ok" in finding.message_zh


def test_a_field_set_only_after_the_gateway_is_unknown_there():
    body = good(user("Task_later", form(text("late_field"))), flow("f_late", "End_ok", "Task_later"))
    xml = document(*body).replace('decision == "return"', 'late_field == "x"')
    assert [f.element for f in findings(xml) if f.code == "condition-unknown-field"] == ["f_back"]


def test_fields_set_on_some_path_start_data_scripts_and_data_objects_are_known():
    body = good('<bpmn:scriptTask id="Script_1" name="计算"><bpmn:script>score = 3</bpmn:script></bpmn:scriptTask>',
                '<bpmn:dataObject id="listed" name="listed" />')
    xml = document(*body).replace(flow("f0", "Start_1", "Task_decide"),
                                  flow("f0", "Start_1", "Script_1") + flow("f0b", "Script_1", "Task_decide"))
    for condition in ('score > 2 and decision == "approve"', "level >= 3", 'listed == "yes"',
                      'len(reason) > 0 and decision == "approve"'):
        assert codes(xml.replace('decision == "approve"', condition, 1)) == [], condition


def test_a_timer_expression_naming_an_unknown_field():
    body = ['<bpmn:intermediateCatchEvent id="Timer_1" name="等待"><bpmn:timerEventDefinition id="TD">'
            '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">end_of_day(listed_deadlin)</bpmn:timeDate>'
            '</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>',
            '<bpmn:endEvent id="End_1" />', flow("f0", "Start_1", "Timer_1"), flow("f1", "Timer_1", "End_1")]
    finding = only(document(*body), "timer-unknown-field")
    assert finding.element == "Timer_1" and "listed_deadlin" in finding.message


# -- exclusive gateways that miss an answer ---------------------------------------------------------

def test_a_gateway_whose_conditions_miss_an_answer_and_has_no_default():
    xml = document(*good()).replace(radio_json("approve", "return"), radio_json("approve", "return", "hold"))
    finding = only(xml, "gateway-not-exhaustive")
    assert (finding.severity, finding.element, finding.name) == ("error", "Gateway_1", "是否通过")
    assert "'hold'" in finding.message and "Task_decide" in finding.message and "default" in finding.message
    assert "hold" in finding.message_zh and "默认流" in finding.message_zh


def radio_json(*values: str) -> str:
    import json
    return json.dumps(radio("decision", *values), ensure_ascii=False)


@pytest.mark.parametrize("condition", ['decision != "approve"', 'decision in ("return", "hold")',
                                       'decision == "return" or decision == "hold"'])
def test_conditions_that_cover_every_answer(condition):
    xml = document(*good()).replace(radio_json("approve", "return"), radio_json("approve", "return", "hold"))
    assert codes(xml.replace('decision == "return"', condition)) == []


def test_a_default_flow_covers_the_rest():
    xml = document(*good()).replace(radio_json("approve", "return"), radio_json("approve", "return", "hold"))
    xml = xml.replace('<bpmn:exclusiveGateway id="Gateway_1" name="是否通过" />',
                      '<bpmn:exclusiveGateway id="Gateway_1" name="是否通过" default="f_back" />')
    xml = xml.replace('<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">decision == "return"'
                      '</bpmn:conditionExpression>', "")
    assert codes(xml) == []


# -- the shape of the process ---------------------------------------------------------------------

def test_a_flow_to_an_element_that_does_not_exist():
    xml = document(*good()).replace('targetRef="End_ok"', 'targetRef="End_gone"')
    messages = [f for f in findings(xml) if f.element == "f_ok"]
    assert [(f.severity, f.code) for f in messages] == [("error", "flow-missing-target")]
    assert "End_gone" in messages[0].message
    assert all("perhaps a form" not in f.message for f in findings(xml))


def test_a_flow_from_an_element_that_does_not_exist():
    xml = document(*good()).replace('sourceRef="Task_decide"', 'sourceRef="Task_gone"')
    assert ("error", "flow-missing-source", "f1") in codes(xml)


def test_an_element_no_flow_leads_to_is_a_warning():
    xml = document(*good(user("Task_orphan", name="孤立")))
    finding = only(xml, "unreachable")
    assert (finding.severity, finding.element, finding.line) == ("warning", "Task_orphan",
                                                                  line_of(xml, 'id="Task_orphan"'))
    assert "孤立" in finding.message and "无法到达" in finding.message_zh


def test_a_user_task_outside_any_lane():
    xml = document(*good(), lane=[])
    finding = only(xml, "task-outside-lane")
    assert (finding.severity, finding.element) == ("error", "Task_decide")
    assert "审核" in finding.message and "泳道" in finding.message_zh


def test_a_gateway_flow_without_condition_that_is_not_the_default():
    xml = document(*good()).replace(
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">decision == "return"</bpmn:conditionExpression>',
        "")
    finding = only(xml, "gateway-flow-without-condition")
    assert (finding.severity, finding.element) == ("error", "f_back")
    assert "Gateway_1" in finding.message and "默认流" in finding.message_zh


def test_a_task_with_two_outgoing_flows():
    xml = document(*good(flow("f_extra", "Task_decide", "End_ok")))
    found = [f for f in findings(xml) if f.element == "Task_decide"]
    assert [(f.severity, f.code) for f in found] == [("error", "task-several-outgoing")]
    assert "gateway" in found[0].message and "Multiple outgoing" not in found[0].message


def test_a_process_without_any_problem_status_is_a_warning():
    xml = document(*good(), status=False)
    assert codes(xml) == [("warning", "no-problem-status", "check")]


# -- timers ---------------------------------------------------------------------------------------

def timer_document(text: str, working: bool = False) -> str:
    props = ('<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property name="calendar" '
             'value="working" /></spiffworkflow:properties></bpmn:extensionElements>') if working else ""
    return document(f'<bpmn:intermediateCatchEvent id="Timer_1" name="公示期">{props}<bpmn:timerEventDefinition '
                    f'id="TD"><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{text}</bpmn:timeDuration>'
                    '</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>', '<bpmn:endEvent id="End_1" />',
                    flow("f0", "Start_1", "Timer_1"), flow("f1", "Timer_1", "End_1"))


@pytest.mark.parametrize("text, fix", [("5 days", "write P5D"), ("2 hours", "write PT2H"), ("3个月", "write P3M"),
                                       ("p5d", "write P5D"),
                                       ("5个工作日", "write P5D with the property calendar=working")])
def test_a_timer_in_words_names_the_iso_duration_to_write(text, fix):
    xml = timer_document(text)
    finding = only(xml, "timer-not-iso")
    assert (finding.severity, finding.element, finding.line) == ("error", "Timer_1", line_of(xml, "<bpmn:timeDuration"))
    assert f"{text!r} is not an ISO 8601 duration, {fix}" in finding.message, finding.message
    assert "公示期" in finding.message and fix.split()[1] in finding.message_zh
    assert "SyntaxError" not in finding.message and "invalid syntax" not in finding.message


def test_a_timer_neither_iso_nor_an_expression():
    finding = only(timer_document("soon-ish please"), "timer-not-iso")
    assert "neither an ISO 8601 duration" in finding.message and "invalid syntax" not in finding.message


# -- SpiffWorkflow's own refusals, translated -------------------------------------------------------

def with_output_to(target: str) -> str:
    return document(*good()).replace(
        "</duban:form></bpmn:extensionElements></bpmn:userTask>",
        "</duban:form></bpmn:extensionElements><bpmn:dataOutputAssociation id=\"DOA\">"
        f"<bpmn:targetRef>{target}</bpmn:targetRef></bpmn:dataOutputAssociation></bpmn:userTask>")


def test_a_data_association_to_nothing_is_said_plainly():
    """SpiffWorkflow: "Cannot resolve dataOutputAssociation <Element {…}targetRef at 0x7f…>"."""
    finding = only(with_output_to("DataObjectReference_gone"), "data-association-unknown")
    assert (finding.severity, finding.element) == ("error", "Task_decide")
    assert "审核" in finding.message and "0x" not in finding.message and "<Element" not in finding.message


def test_a_schema_error_names_the_element_and_its_line():
    xml = document(*good()).replace("<bpmn:userTask id=\"Task_decide\" name=\"审核\">",
                                    "<bpmn:userTask id=\"Task_decide\" name=\"审核\"><bpmn:documentation>a"
                                    "</bpmn:documentation><bpmn:documentation>b</bpmn:documentation>"
                                    "<bpmn:dataOutputAssociation id=\"DOA\"><bpmn:targetRef>x</bpmn:targetRef>"
                                    "</bpmn:dataOutputAssociation>")
    finding = only(xml, "bpmn-schema")
    assert (finding.element, finding.line) == ("Task_decide", line_of(xml, 'id="Task_decide"'))
    assert "bpmn:extensionElements" in finding.message and "{http" not in finding.message


def test_no_message_has_a_memory_address_or_a_python_syntax_error():
    broken = document(*good(user("Task_orphan")), status=False) \
        .replace('targetRef="End_ok"', 'targetRef="End_gone"') \
        .replace('decision == "return"', 'decison == "return"') \
        .replace("</duban:form></bpmn:extensionElements></bpmn:userTask>",
                 "</duban:form></bpmn:extensionElements><bpmn:dataOutputAssociation id=\"DOA\">"
                 "<bpmn:targetRef>Nothing</bpmn:targetRef></bpmn:dataOutputAssociation></bpmn:userTask>", 1)
    found = findings(broken) + findings(with_output_to("Gone"))
    assert {"flow-missing-target", "condition-unknown-field", "unreachable", "no-problem-status"} <= {
        f.code for f in found}
    for finding in found + findings(timer_document("5 days")):
        for message in (finding.message, finding.message_zh):
            assert "0x" not in message and "SyntaxError" not in message and "Traceback" not in message, message
            assert finding.element in message, message


def test_every_problem_is_listed_at_once_errors_first_by_line():
    xml = document(*good(user("Task_orphan")), status=False).replace('targetRef="End_ok"', 'targetRef="End_gone"') \
        .replace('decision == "return"', 'decison == "return"')
    found = findings(xml)
    assert [(f.severity, f.code, f.element) for f in found] == [
        ("error", "flow-missing-target", "f_ok"), ("error", "condition-unknown-field", "f_back"),
        ("warning", "no-problem-status", "check"), ("warning", "unreachable", "End_ok"),
        ("warning", "unreachable", "Task_orphan")]
    assert [f.line for f in found[2:]] == sorted(f.line for f in found[2:])
    assert inspect(xml.encode(), set(load_lane_roles())).deployable is None


@pytest.mark.parametrize("path", sorted((ROOT / "bpmn").glob("*.bpmn")), ids=lambda p: p.name)
def test_the_shipped_diagrams_have_no_errors(path):
    inspection = inspect(path.read_bytes(), set(load_lane_roles()), path.name)
    assert inspection.errors == [] and inspection.deployable is not None
    # the ladder's processes set no problemStatus, and need none: they declare their purpose
    assert inspection.warnings == []
    assert inspection.deployable.purpose == {"rectification": "problem"}.get(path.stem, path.stem)


def test_a_schema_error_inside_a_flow_names_the_flow():
    xml = document(*good()).replace('<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">decision == "return"',
                                    '<bpmn:bogus /><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">'
                                    'decision == "return"')
    finding = only(xml, "bpmn-schema")
    assert (finding.element, finding.line) == ("f_back", line_of(xml, "<bpmn:bogus"))
    assert "bpmn:bogus" in finding.message and "bpmn:bogus" in finding.message_zh
