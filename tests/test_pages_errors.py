"""Errors on pages speak the reader's language: an unknown address is a page, not JSON; an HTTP
error without a message of Duban's own says its status in Chinese (or English); an engine
refusal is not shown in the API's English. The API keeps answering JSON."""
from __future__ import annotations

import pytest

from .test_pages import login


@pytest.fixture
def client(app):
    return app.test_client()


def test_an_unknown_address_is_a_page_in_the_readers_language(client, org):
    answer = client.get("/no/such/page")
    text = answer.get_data(as_text=True)
    assert answer.status_code == 404 and answer.mimetype == "text/html"
    assert "没有这个页面，请检查地址是否正确。" in text and "requested URL" not in text
    client.get("/lang/en")
    text = client.get("/no/such/page").get_data(as_text=True)
    assert "This page does not exist" in text and "没有这个页面" not in text


def test_the_api_answers_json_for_an_unknown_address(client, org):
    answer = client.get("/api/no/such/thing")
    assert answer.status_code == 404 and answer.is_json and answer.get_json()["code"]


def test_a_method_a_page_does_not_take(client, org):
    login(client, "admin")
    answer = client.get("/logout")  # signing out is a POST
    assert answer.status_code == 405 and "这个地址不接受这种请求方式。" in answer.get_data(as_text=True)


def test_a_refusal_on_a_page_is_in_chinese(client, org, duban, api):
    problem = api.register()
    login(client, "outsider")
    answer = client.get(f"/problems/{problem['id']}")
    text = answer.get_data(as_text=True)
    assert answer.status_code == 403 and "you may not" not in text
