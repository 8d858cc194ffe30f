"""Engine labels in the reader's language: every member of every engine enum with a Chinese
label has a word in web/ui/labels.py, keyed by its code; in Chinese it is the engine's own
word, in English the catalog's; pages show the English words when the reader chose English."""
from __future__ import annotations

import re

import pytest
from flask_babel import force_locale

import engine.models  # noqa: F401  (every LabelledEnum subclass is defined there)
from engine.models import LabelledEnum, ProblemCategory, ProblemSource, ProblemStatus
from web.ui.labels import LABELS, LEVEL_NAMES, LEVEL_TITLES, label

from .test_pages import login

CJK = re.compile(r"[\u3400-\u9fff]")


def labelled_enums():
    found, todo = [], list(LabelledEnum.__subclasses__())
    while todo:
        kind = todo.pop()
        found.append(kind)
        todo.extend(kind.__subclasses__())
    return found


def test_every_member_of_every_labelled_enum_has_a_label():
    kinds = labelled_enums()
    assert len(kinds) >= 7
    for kind in kinds:
        assert kind in LABELS, kind.__name__
        assert set(LABELS[kind]) == {m.value for m in kind}, kind.__name__


@pytest.mark.parametrize("kind", labelled_enums(), ids=lambda k: k.__name__)
def test_a_label_is_the_engines_word_in_chinese_and_english_in_english(app, kind):
    with app.test_request_context():
        for member in kind:
            with force_locale("zh_CN"):
                assert label(member) == member.label
            with force_locale("en"):
                english = label(member)
                assert english and not CJK.search(english), (kind.__name__, member.value, english)


def test_level_names_are_translated(app):
    with app.test_request_context(), force_locale("en"):
        for names in (LEVEL_NAMES, LEVEL_TITLES):
            assert set(names) == {1, 2, 3, 4, 5}
            for number in names:
                assert not CJK.search(str(names[number]))
        assert label(2) == "Urging"


def test_the_ledger_shows_statuses_sources_and_categories_in_english(app, org, api):
    client = app.test_client()
    problem = api.register()
    login(client, "admin")
    client.get("/lang/en")
    text = client.get(f"/problems/{problem['id']}").get_data(as_text=True)
    assert "Assigned" in text and ProblemStatus.REGISTERED.label not in text
    listing = client.get("/ledger").get_data(as_text=True)
    assert "Central environmental inspection" in listing and "Solid waste" in listing
    for member in (*ProblemSource, *ProblemCategory, *ProblemStatus):  # the filters' choices
        assert f">{member.label}</option>" not in listing, member
    client.get("/lang/zh_CN")
    listing = client.get("/ledger").get_data(as_text=True)
    assert all(f">{member.label}</option>" in listing for member in (*ProblemSource, *ProblemCategory))


def test_the_dashboard_names_sources_in_english(app, org, api):
    client = app.test_client()
    api.register()
    login(client, "admin")
    client.get("/lang/en")
    text = client.get("/dashboard").get_data(as_text=True)
    breakdown = text.split('data-breakdown="source"')[1].split("</figure>")[0]
    assert "Provincial environmental inspection" in breakdown
    assert ProblemSource.PROVINCIAL.label not in breakdown
