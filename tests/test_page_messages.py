"""The engine's refusals on the task page in the reader's language: each of the form
validation's sentences has a code (web/ui/messages.py) worded from the catalog; a sentence
without one shows as the engine said it."""
from __future__ import annotations

import re
from io import BytesIO

import pytest
from flask_babel import force_locale
from marshmallow import ValidationError

from engine.errors import field_errors
from engine.workflow.forms import validate_submission
from web.ui.messages import MESSAGES, code_of, word, worded

from .helpers_pages import ready_tasks, register
from .test_pages import login, token_of

CJK = re.compile(r"[\u3400-\u9fff]")

FORM = {"components": [
    {"type": "textfield", "key": "name", "validate": {"required": True, "minLength": 3, "maxLength": 5}},
    {"type": "textfield", "key": "code", "validate": {"pattern": "^[A-Z]+$"}},
    {"type": "textarea", "key": "note", "validate": {"required": True}},
    {"type": "number", "key": "count", "validate": {"min": 1, "max": 9}},
    {"type": "number", "key": "least", "validate": {"min": 1}},
    {"type": "number", "key": "most", "validate": {"max": 9}},
    {"type": "checkbox", "key": "agreed", "validate": {"required": True}},
    {"type": "select", "key": "choice", "values": [{"label": "甲", "value": "a"}]},
    {"type": "checklist", "key": "many", "values": [{"label": "甲", "value": "a"}], "validate": {"required": True}},
    {"type": "datetime", "key": "day", "subtype": "date"},
    {"type": "filepicker", "key": "files", "validate": {"required": True}},
    {"type": "textfield", "key": "why", "properties": {"requiredWhen": "choice = a"}},
]}

BAD = [
    {"name": "ab", "code": "abc", "note": "", "count": 12, "least": 0, "most": 10, "agreed": False, "choice": "z",
     "many": [], "day": "tomorrow", "files": [], "extra": 1},
    {"name": "abcdefg", "count": "many", "agreed": "yes", "many": "a", "day": None, "files": ["x"]},
    {"choice": "a", "note": "写了", "name": "abc", "agreed": True, "many": ["a"], "files": [1]},
    {"agreed": True, "many": ["a"], "files": [1]},
]


@pytest.mark.parametrize("data", BAD)
def test_every_sentence_the_form_validation_says_has_a_code(app, data):
    with pytest.raises(ValidationError) as refused:
        validate_submission(FORM, data)
    messages = field_errors(refused.value.messages)  # as the engine's Invalid carries them
    said = [m for ms in messages.values() for m in ms]
    assert said
    for message in said:
        assert code_of(message) is not None, message
    with app.test_request_context():
        with force_locale("zh_CN"):
            assert all(CJK.search(m) for ms in worded(messages).values() for m in ms)
        with force_locale("en"):
            assert not any(CJK.search(word(m)) for m in said)


def test_every_code_is_in_the_catalog(app):
    with app.test_request_context(), force_locale("en"):
        for code, (_pattern, wording) in MESSAGES.items():
            assert not CJK.search(str(wording)), code


def test_an_unknown_sentence_shows_as_the_engine_said_it(app):
    with app.test_request_context():
        assert word("something new went wrong") == "something new went wrong"
        assert word("Shorter than minimum length 4.") == "至少 4 个字符。"


def test_task_page_refusals_in_chinese_then_english(client, duban, org):
    register(duban, org)
    login(client, "responsible")
    [(task_id, _, _)] = ready_tasks(duban, "responsible", org)
    token = token_of(client.get(f"/tasks/{task_id}").get_data(as_text=True))
    wrong = client.post(f"/tasks/{task_id}/complete", data={"csrf_token": token, "data": '{"acknowledged": "maybe"}'})
    text = wrong.get_data(as_text=True)
    assert wrong.status_code == 422 and "不是有效的是/否。" in text and "Not a valid boolean" not in text

    empty = client.post(f"/tasks/{task_id}/evidence", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "field": "evidence", "file": (BytesIO(b""), "空.png", "image/png")},
        content_type="multipart/form-data")
    assert "the file is empty" not in empty.get_data(as_text=True)

    client.get("/lang/en")
    wrong = client.post(f"/tasks/{task_id}/complete", data={"csrf_token": token, "data": '{"acknowledged": "maybe"}'})
    text = wrong.get_data(as_text=True)
    assert wrong.status_code == 422 and "Not a valid yes or no." in text and "不是有效的是/否。" not in text


@pytest.fixture
def client(app):
    return app.test_client()
