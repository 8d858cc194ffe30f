"""Form patterns run on RE2: no answer can make one backtrack, and a pattern RE2 cannot run is
refused at deployment naming the task and the field."""
from __future__ import annotations

import pytest

from engine.workflow.sandbox.patterns import PatternRefused, matches, translate

from .helpers_flow import snapshot
from .helpers_sandbox import deploy, diagram, failure_text, start, submit, submit_in_process

REDOS = [
    (r"^(a+)+$", "a" * 41 + "b"),
    (r"^(a|a)*$", "a" * 5000 + "b"),
    (r"^(\w+\s?)*$", "张三李四" * 2000 + "!"),
    (r"(x+x+)+y", "x" * 100_000),
    (r"^(([a-z])+.)+[A-Z]([a-z])+$", "a" * 50_000),
]


@pytest.mark.parametrize("pattern,answer", REDOS, ids=[r[0] for r in REDOS])
def test_a_catastrophic_pattern_answers_at_once(api, duban, pattern, answer):
    task = start(api, diagram("redos", pattern=pattern))
    response, seconds = submit_in_process(api, task, answer)
    assert response.status_code == 400, response.json
    assert "answer" in response.json["errors"] and "pattern" in failure_text(response)
    assert seconds < 1.0


REFUSED = [
    ("(?=a)a", "(?="),
    (r"(a)\1", r"\1"),
    (r"(?<!x)y", "(?<"),
    (r"\N{CJK UNIFIED IDEOGRAPH-4E00}", r"\N"),
    (r"[\W]", r"\W"),
    (r"\u4e0", r"\u"),
]


@pytest.mark.parametrize("pattern,words", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_pattern_re2_cannot_run_is_refused_at_deployment(api, duban, pattern, words):
    before = snapshot(duban)
    response = deploy(api, diagram("bad_pattern", pattern=pattern))
    assert response.status_code == 400, response.json
    assert list(response.json["errors"]) == ["Task_fill"], response.json
    text = failure_text(response)
    assert "answer" in text and "pattern" in text and words in text, text
    assert snapshot(duban) == before


def test_a_good_pattern_still_checks_answers(api):
    task = start(api, diagram("good_pattern", pattern=r"^[\u4e00-\u9fa5]{2,4}$"))
    assert submit(api, task, "abc")[0].status_code == 400
    assert submit(api, task, "张三")[0].status_code == 200


@pytest.mark.parametrize("pattern,answer,expected", [
    (r"^\w+$", "张三_1", True), (r"^\d{6}$", "123456", True), (r"^\d+$", "１２３", True),
    (r"^\S+$", "a b", False), (r"abc\Z", "abc", True), (r"^1[3-9]\d{9}$", "13812345678", True),
    (r"[]a]", "]", True), (r"^[^\s]+$", "a\u3000b", False),
])
def test_patterns_keep_pythons_meaning(pattern, answer, expected):
    """RE2's \\w, \\d, \\s are ASCII; Duban's forms meant Python's Unicode classes."""
    assert matches(pattern, answer) is expected, translate(pattern)


def test_a_refusal_says_why_in_words():
    with pytest.raises(PatternRefused, match="invalid perl operator"):
        matches("(?=x)", "x")
