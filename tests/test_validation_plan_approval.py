"""`approvesPlan` is checked before deployment: it names a field of the task's own form and,
when that field has options, one of them; a value without `=` (other than `true`) is refused;
each finding names the element."""
from __future__ import annotations

from pathlib import Path

from engine.assignment import load_lane_roles
from engine.validation.check import inspect

from .helpers_validation import codes, document, findings, form, good, line_of, radio, text

ROOT = Path(__file__).resolve().parent.parent
PROPERTY = ('<spiffworkflow:properties><spiffworkflow:property name="approvesPlan" value="{}" />'
            '</spiffworkflow:properties>')


def approving(value: str, components=None) -> str:
    """The fixture with `approvesPlan` = value on Task_decide (its form: decision approve/return, reason)."""
    xml = document(*good())
    if components is not None:
        xml = xml.replace(form(radio("decision", "approve", "return"), text("reason")), form(*components))
    return xml.replace("<bpmn:extensionElements><duban:form>",
                       "<bpmn:extensionElements>" + PROPERTY.format(value) + "<duban:form>", 1)


def plan_findings(xml: str):
    return [f for f in findings(xml) if f.code == "approves-plan"]


def test_a_field_and_one_of_its_options_pass():
    for value in ("decision=approve", "decision = return", "true"):
        assert codes(approving(value)) == [], value
    # a field without listed options takes any value
    assert plan_findings(approving("reason=同意")) == []


def test_a_value_without_an_equals_sign_is_malformed_and_names_the_element():
    xml = approving("approve")
    [finding] = plan_findings(xml)
    assert (finding.severity, finding.element, finding.line) == ("error", "Task_decide", line_of(xml, 'id="Task_decide"'))
    assert "malformed" in finding.message and "field=value" in finding.message
    assert "Task_decide" in finding.message and "审核" in finding.message
    assert "Task_decide" in finding.message_zh and "格式不正确" in finding.message_zh
    for value in ("=approve", "decision="):
        [finding] = plan_findings(approving(value))
        assert "malformed" in finding.message and finding.element == "Task_decide", value


def test_a_field_the_form_lacks_is_an_error_with_a_suggestion():
    [finding] = plan_findings(approving("decison=approve"))
    assert finding.severity == "error" and finding.element == "Task_decide"
    assert "'decison'" in finding.message and "did you mean 'decision'" in finding.message
    assert "decison" in finding.message_zh and "Task_decide" in finding.message_zh


def test_a_value_that_is_not_an_option_of_the_field_is_an_error():
    [finding] = plan_findings(approving("decision=approved"))
    assert finding.severity == "error" and finding.element == "Task_decide"
    assert "'approved'" in finding.message and "approve, return" in finding.message
    assert "approve、return" in finding.message_zh


def test_a_task_without_a_form_or_an_element_that_is_no_user_task():
    xml = approving("decision=approve", components=[text("reason")])
    [finding] = plan_findings(xml)
    assert "'decision'" in finding.message and finding.element == "Task_decide"
    event = document(*good()).replace(
        '<bpmn:endEvent id="End_ok" name="结束" />',
        '<bpmn:endEvent id="End_ok" name="结束"><bpmn:extensionElements>' + PROPERTY.format("decision=approve")
        + "</bpmn:extensionElements></bpmn:endEvent>")
    [finding] = plan_findings(event)
    assert finding.element == "End_ok" and "user task" in finding.message


def test_the_shipped_rectification_process_passes():
    content = (ROOT / "bpmn" / "rectification.bpmn").read_bytes()
    assert "approvesPlan" in content.decode("utf-8")
    assert [f for f in inspect(content, set(load_lane_roles())).findings if f.code == "approves-plan"] == []
    broken = content.replace(b'name="approvesPlan" value="decision=approve"', b'name="approvesPlan" value="decision=yes"')
    assert [f.element for f in inspect(broken, set(load_lane_roles())).findings
            if f.code == "approves-plan"] == ["Task_review_plan"]
