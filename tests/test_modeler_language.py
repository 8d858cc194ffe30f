"""The process editor's own words (web/ui/admin/modeler_language.py): every English text of the
palette, the context pad, the replace menu and the BPMN properties the editor shows has a Chinese
text, handed to the page in #modeler-data's `bpmn`; in English the page hands back the library's
own English for every one of them."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from web.ui.admin.modeler_language import TABLE

from .test_modeler_page import editor_data
from .test_pages import login

CJK = re.compile(r"[\u4e00-\u9fff]")
MODULES = Path(__file__).resolve().parent.parent / "node_modules"
TRANSLATED = re.compile(r"""translate\(\s*'([^']+)'""")
# bpmn-js-bpmnlint's button: its two texts stand apart from the call
BUTTON = ("{errors} Errors, {warnings} Warnings", "No Issues")


@pytest.fixture
def admin(app, org):
    client = app.test_client()
    login(client, "admin")
    return client


def _library(path: str) -> str:
    file = MODULES / path
    if not file.exists():
        pytest.skip(f"{file} is not installed (make install)")
    return file.read_text(encoding="utf-8")


def test_every_key_of_the_table_has_a_chinese_text():
    missing = {english: str(text) for english, text in TABLE.items() if not CJK.search(str(text._args[1]))}
    assert not missing, missing


@pytest.mark.parametrize("path", [
    "bpmn-js/lib/features/palette/PaletteProvider.js",
    "bpmn-js/lib/features/context-pad/ContextPadProvider.js",
    "bpmn-js/lib/features/popup-menu/ReplaceMenuProvider.js",
    "diagram-js/lib/features/search-pad/SearchPad.js",
    "bpmn-js-bpmnlint/dist/index.esm.js",
])
def test_every_text_of_the_palette_context_pad_and_menus_is_in_the_table(path):
    texts = set(TRANSLATED.findall(_library(path)))
    assert texts, path
    assert not texts - set(TABLE), f"{path}: {sorted(texts - set(TABLE))}"


def test_every_entry_of_the_replace_menu_is_in_the_table():
    labels = set()
    for path in ("bpmn-js/lib/features/popup-menu/PopupEntries.js", "bpmn-js/lib/features/replace/ReplaceOptions.js"):
        labels |= set(re.findall(r"label:\s*'([^']+)'", _library(path)))
    assert "User task" in labels and len(labels) > 60
    assert not labels - set(TABLE), sorted(labels - set(TABLE))


def test_every_text_of_the_bpmn_properties_is_in_the_table():
    # the panel's own provider (General, Documentation, Timer, Condition, Multi-instance …), not
    # the Camunda and Zeebe providers bundled after it, which the editor does not load
    bundle = _library("bpmn-js-properties-panel/dist/index.esm.js")
    bpmn = bundle[:bundle.index("var index$2 = {", bundle.index("class BpmnPropertiesProvider"))]
    texts = set(TRANSLATED.findall(bpmn))
    assert {"General", "Documentation", "Timer", "Multi-instance"} <= texts
    assert not texts - set(TABLE), sorted(texts - set(TABLE))


def test_the_chinese_page_hands_the_table_in_chinese(admin):
    strings = editor_data(admin, "/admin/definitions/rectification/edit")["bpmn"]
    assert set(strings) == set(TABLE)
    assert strings["Create start event"] == "创建开始事件"
    assert strings["General"] == "常规"
    assert strings["Open {element}"] == "打开 {element}"
    assert all(CJK.search(text) for text in strings.values())


def test_the_english_page_hands_back_the_libraries_english(admin):
    admin.get("/lang/en")
    strings = editor_data(admin, "/admin/definitions/new")["bpmn"]
    wrong = {english: text for english, text in strings.items() if text != english}
    assert not wrong, f"entries of messages.po that do not give back the library's English: {wrong}"


def test_the_lint_buttons_texts_are_in_the_table():
    source = _library("bpmn-js-bpmnlint/dist/index.esm.js")
    for text in BUTTON:
        assert f"'{text}'" in source, text
        assert text in TABLE, text
