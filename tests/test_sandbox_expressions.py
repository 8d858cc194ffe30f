"""Hostile conditions and timer expressions: refused at deployment naming the element, the
line and the construct, or stopped by a bound in microseconds when the data makes them big.
Nothing they do reaches past the evaluator, and no exception but an ordinary one leaves it."""
from __future__ import annotations

import time

import pytest
from SpiffWorkflow.exceptions import WorkflowException

from engine.workflow.sandbox import ExpressionError, SandboxScriptEngine

from .helpers_flow import snapshot
from .helpers_sandbox import deploy, diagram, failure_text, incident_text, start, submit, submit_in_process

# written in a diagram: refused at deployment, with the words the refusal must say
REFUSED = [
    ("class walk", "().__class__.__base__.__subclasses__() != []", "__class__"),
    ("__import__", "__import__('os').system('touch /tmp/duban-pwned') == 0", "__import__"),
    ("getattr trick", "getattr(answer, '__class__') is None", "getattr"),
    ("type()", "type(answer) == str", "type"),
    ("format-string attribute", "'{0.__class__.__init__.__globals__}'.format(answer) != ''", ".format"),
    ("generator frame", "(x for x in []).gi_frame.f_globals is None", "generator expression"),
    ("frame attribute", "answer.gi_frame is None", ".gi_frame"),
    ("lambda", "(lambda: 1)() == 1", "lambda"),
    ("comprehension bomb", "len([0 for a in range(10**4) for b in range(10**4)]) > 0", "list comprehension"),
    ("open", "open('/etc/passwd').read() != ''", "open"),
    ("os", "os.system('id') == 0", ".system"),
    ("exit()", "exit() is None", "exit"),
    ("range in C", "sum(range(10**12)) > 0", "range"),
    ("walrus", "(n := 1) == 1", ":="),
    ("dict unpacking", "{**answer} == {}", "**"),
    ("a mutating method", "answer.clear() is None", ".clear"),
    ("huge f-string width", "f'{answer:>999999999}' != ''", "f-string"),
    ("dunder name", "__builtins__ is None", "__builtins__"),
]


@pytest.mark.parametrize("name,condition,words", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_hostile_condition_is_refused_at_deployment(api, duban, name, condition, words):
    before = snapshot(duban)
    response = deploy(api, diagram("hostile_condition", condition=condition))
    assert response.status_code == 400, response.json
    assert list(response.json["errors"]) == ["Flow_yes"], response.json
    text = failure_text(response)
    assert "condition" in text and words in text and "line 11" in text, text
    assert snapshot(duban) == before


def test_a_hostile_timer_expression_is_refused_at_deployment(api):
    response = deploy(api, diagram("hostile_timer", timer="[x for x in 'PT1H'][0]"))
    assert response.status_code == 400
    assert "Event_wait" in response.json["errors"] and "comprehension" in failure_text(response)


# allowed by the syntax, too big on the data: each stops in a bound, as a 422 naming the element
BOUNDED = [
    ("power tower", "10**10**8 > 0"),
    ("big power", "4000000**4000000 > 0"),
    ("power from the data", "int(answer) ** int(answer) > 0"),
    ("big product", "(10**4000) * (10**4000) > 0"),
    ("shift", "1 << 10**9 > 0"),
    ("string repetition", "answer * 10**9 == ''"),
    ("nested repetition", "len([answer * 1000] * 1000 * 1000 * 10) > 0"),
    ("list of lists repeated", "[[1] * 1000] * 1000 == []"),
    ("printf width", "'%999999999d' % 1 == ''"),
    ("round digits", "round(1, -10**9) == 0"),
    # a name nothing sets ("nothing == 1") is refused at deployment: tests/test_validation_names.py
    ("method of a number", "(1).lower() == ''"),
]


@pytest.mark.parametrize("name,condition", BOUNDED, ids=[b[0] for b in BOUNDED])
def test_a_condition_too_big_for_its_data_is_a_clear_422_at_once(api, duban, name, condition):
    task = start(api, diagram("bounded_condition", condition=condition))
    response, seconds = submit_in_process(api, task, "99999")
    assert incident_text(response, "Gateway_check")
    assert seconds < 1.0


def test_a_timer_expression_too_big_is_a_clear_422(api, duban):
    task = start(api, diagram("bounded_timer", timer="('P' + answer * 10**8 + 'D')"))
    response, seconds = submit_in_process(api, task, "9")
    assert seconds < 1.0
    assert "items" in incident_text(response, "Event_wait")


def test_good_conditions_and_timers_still_run(api, duban):
    task = start(api, diagram("good_condition", condition="len(answer) >= 3 and answer.lower().startswith('ab')"))
    assert submit(api, task, "ABC")[0].status_code == 200
    for timer in ("PT1H", '"PT1H"', "('P' + str(len(answer)) + 'D')", "working_duration(3)"):
        task = start(api, diagram("good_timer", timer=timer))
        assert submit(api, task, "abc")[0].status_code == 200, timer


def test_the_direct_path_of_completion_conditions_and_correlation_is_bounded(duban):
    """SpiffWorkflow evaluates completion conditions and message correlations through
    `script_engine.environment.evaluate`, past the engine: the same evaluator answers there."""
    environment = duban.runtime.script_engine.environment
    assert environment.evaluate("level >= 3", {"level": 4}) is True
    for hostile in ("10**10**8", "().__class__", "__import__('os')", "[x for x in y]", "exit()"):
        began = time.monotonic()
        with pytest.raises(ExpressionError) as caught:
            environment.evaluate(hostile, {"y": [1]})
        assert isinstance(caught.value, WorkflowException)  # the runtime's 422 path
        assert time.monotonic() - began < 0.5


@pytest.mark.parametrize("raised", [SystemExit, KeyboardInterrupt, GeneratorExit])
def test_no_base_exception_leaves_the_evaluator(raised):
    def boom():
        raise raised("stop")

    environment = SandboxScriptEngine({"boom": boom}).environment
    with pytest.raises(ExpressionError, match=raised.__name__):
        environment.evaluate("boom()", {})
