"""A diagram made in Camunda Modeler for Camunda 8 (tests/fixtures/camunda8_review.bpmn, the zeebe
namespace): its candidate groups give the tasks their roles, its embedded form-js form is the task's
form, its FEEL condition is offered a translation, and what Duban does not honour is a warning."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.assignment import load_lane_roles
from engine.validation.check import inspect
from engine.validation.juel import NotTranslatable, translate

from .support import for_problems

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "camunda8_review.bpmn"


def text() -> str:
    return FIXTURE.read_text(encoding="utf-8")


def test_a_camunda8_diagram_lists_its_findings_with_the_feel_translation(api):
    response = api.post("/api/process-definitions/check", as_="admin", data=FIXTURE.read_bytes(),
                        content_type="application/xml")
    assert response.status_code == 200, response.json
    found = [(f["severity"], f["code"], f["element_id"], f.get("fix")) for f in response.json["findings"]]
    assert found == [("error", "feel-condition", "Flow_return", 'decision == "return"'),
                     ("warning", "no-problem-status", "camunda8_review", None),
                     ("warning", "camunda-unsupported", "Activity_submit", None),
                     ("warning", "camunda-unsupported", "Activity_review", None)]
    messages = " ".join(f["message"] for f in response.json["findings"])
    assert "zeebe:assignee='=initiator'" in messages and "zeebe:taskHeaders" in messages


def test_once_translated_it_deploys_with_its_form_and_runs_on_the_roles_it_names(api):
    mended = text().replace('=decision = "return"', 'decision == "return"')
    response = api.post("/api/process-definitions?accept_warnings=true&comment=C8", as_="admin",
                        data=for_problems(mended).encode(), content_type="application/xml")
    assert response.status_code == 201, response.json
    assert response.json["user_tasks"] == ["Activity_review"]            # the embedded form-js form
    problem = api.register(process_key="camunda8_review", code="C8-1")
    submit = api.ready_task(problem["id"], "Activity_submit")
    assert (submit["lane"], submit["assignee"]) == ("责任单位", "responsible")
    api.complete(submit, as_="responsible", data={})
    review = api.ready_task(problem["id"], "Activity_review")
    assert review["lane"] == "环督办"                                      # candidateGroups="=[\"office\"]"
    api.complete(review, as_="admin", data={"opinion": "x"}, expect=400)    # decision is required
    api.complete(review, as_="admin", data={"decision": "return"})
    assert api.ready_task(problem["id"])["element_id"] == "Activity_submit"


def test_an_embedded_form_with_a_component_duban_does_not_know_is_named():
    broken = text().replace('"type":"textarea"', '"type":"dynamiclist"').replace('=decision = "return"',
                                                                                  'decision == "return"')
    errors = [f for f in inspect(broken.encode(), load_lane_roles()).findings if f.severity == "error"]
    [invalid] = [f for f in errors if f.code == "form-invalid"]
    assert invalid.element == "Activity_review" and "dynamiclist" in invalid.message
    # without the form, nothing sets decision: the condition says so too
    assert [(f.code, f.element) for f in errors if f is not invalid] == [("condition-unknown-field", "Flow_return")]


def test_a_linked_form_and_a_job_type_are_warnings():
    linked = text().replace('<zeebe:formDefinition formKey="camunda-forms:bpmn:UserTaskForm_review" />',
                            '<zeebe:formDefinition formId="review-form" />').replace(
        "<zeebe:userTask />", '<zeebe:taskDefinition type="notify" />')
    warned = [(f.element, f.message.split(": ", 1)[1].split(":")[1].split(" ")[0])
              for f in inspect(linked.encode(), load_lane_roles()).findings if f.code == "camunda-unsupported"]
    assert sorted(warned) == [("Activity_review", "formDefinition"), ("Activity_review", "taskHeaders"),
                              ("Activity_submit", "assignee='=initiator'"), ("Activity_submit", "taskDefinition")]


FEEL = [
    ('=decision = "return"', 'decision == "return"'),
    ("=approved", "approved"),
    ("=not(approved)", "not approved"),
    ('=amount > 100 and kind = "a"', 'amount > 100 and kind == "a"'),
    ("=a != 1 or b <= 2", "a != 1 or b <= 2"),
    ("=order.amount >= 5", 'order["amount"] >= 5'),
    ("=reason = null", "reason == None"),
    ("= (a or b) and c", "(a or b) and c"),
    ("=not(a = 1) and b", "not a == 1 and b"),
    ("=eq = 1", "eq == 1"),             # eq is a name in FEEL
]
FEEL_REFUSED = ["=a == b", "=a && b", "=!a", '=contains(a, "b")', "=if a then b else c", "=list[1] = 2",
                "=a in [1, 2]", "=", '=date("2026-01-01") > d']


@pytest.mark.parametrize("feel, python", FEEL)
def test_feel_conditions_are_translated(feel, python):
    assert translate(feel) == python


@pytest.mark.parametrize("feel", FEEL_REFUSED)
def test_feel_beyond_the_simple_is_refused(feel):
    with pytest.raises(NotTranslatable):
        translate(feel)
