"""What changed between two versions of a process, read from their BPMN XML: the elements
added, removed and changed, each change named by what Duban reads from a diagram (name, type,
lane, Duban's properties, the form, a flow's condition and ends, a timer, a script, a
gateway's default, other attributes). The layout (BPMN DI) is left out: moving a shape
changes nothing that runs.

bpmn-js-differ draws the same comparison in the browser, but it sees no change inside
extensionElements, where Duban keeps its properties and forms: this is the list that counts.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from lxml import etree

from .document import BPMN, NS, properties_of, read_xml

_SKIPPED = {"definitions", "extensionElements", "laneSet", "incoming", "outgoing", "flowNodeRef",
            "conditionExpression", "documentation", "script", "timeDuration", "timeDate", "timeCycle"}
_TIMERS = ("timeDuration", "timeDate", "timeCycle")
_OWN_ATTRIBUTES = {"id", "name", "sourceRef", "targetRef", "default"}


@dataclass
class Element:
    id: str
    type: str
    name: str | None
    facts: dict[str, str | None] = field(default_factory=dict)

    def brief(self) -> dict:
        return {"id": self.id, "type": self.type, "name": self.name}


def _local(tag) -> str:
    return etree.QName(tag).localname


def _text(element) -> str | None:
    return (element.text or "").strip() if element is not None else None


def _form(element) -> str | None:
    form = element.find("bpmn:extensionElements/duban:form", NS)
    if form is None:
        return None
    try:
        return json.dumps(json.loads(form.text or ""), ensure_ascii=False, sort_keys=True)
    except json.JSONDecodeError:
        return (form.text or "").strip()


def _facts(element, lanes: dict[str, str]) -> dict[str, str | None]:
    facts: dict[str, str | None] = {}
    element_id = element.get("id")
    if element_id in lanes:
        facts["lane"] = lanes[element_id]
    for name in ("sourceRef", "targetRef", "default"):
        if element.get(name) is not None:
            facts[name] = element.get(name)
    for attribute, value in element.attrib.items():
        local = _local(attribute)
        if local not in _OWN_ATTRIBUTES:
            facts[f"@{local}"] = value
    condition = element.find("bpmn:conditionExpression", NS)
    if condition is not None:
        facts["condition"] = _text(condition)
    documentation = element.find("bpmn:documentation", NS)
    if documentation is not None:
        facts["documentation"] = _text(documentation)
    script = element.find("bpmn:script", NS)
    if script is not None:
        facts["script"] = _text(script)
    for definition in element:
        if not isinstance(definition.tag, str) or not _local(definition.tag).endswith("EventDefinition"):
            continue
        facts["event"] = _local(definition.tag)
        for timer in _TIMERS:
            found = definition.find(f"bpmn:{timer}", NS)
            if found is not None:
                facts["timer"] = f"{timer}: {_text(found)}"
    for name, value in properties_of(element).items():
        facts[f"property:{name}"] = value
    form = _form(element)
    if form is not None:
        facts["form"] = form
    return facts


def elements_of(xml: str) -> dict[str, Element]:
    """The diagram's semantic elements by id, in document order."""
    root = read_xml(xml.encode("utf-8")).getroot()
    lanes: dict[str, str] = {}
    for lane in root.iter(f"{{{BPMN}}}lane"):
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            lanes[(ref.text or "").strip()] = lane.get("name") or lane.get("id")
    found: dict[str, Element] = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or not element.get("id"):
            continue
        namespace, local = etree.QName(element.tag).namespace, _local(element.tag)
        if namespace != BPMN or local in _SKIPPED or local.endswith("EventDefinition"):
            continue
        if any(isinstance(a.tag, str) and _local(a.tag) == "extensionElements" for a in element.iterancestors()):
            continue
        found[element.get("id")] = Element(element.get("id"), local, element.get("name"), _facts(element, lanes))
    return found


def compare(older_xml: str, newer_xml: str) -> dict:
    """{"added", "removed", "changed"}: the elements only the newer version has, those only the
    older has (each with id, type and name), and those both have with their changes, each
    {"field", "old", "new"} (field: name, type, lane, condition, timer, form,
    property:<name>, sourceRef, targetRef, default, script, documentation, event, @<attribute>)."""
    older, newer = elements_of(older_xml), elements_of(newer_xml)
    added = [e.brief() for key, e in newer.items() if key not in older]
    removed = [e.brief() for key, e in older.items() if key not in newer]
    changed = []
    for key, after in newer.items():
        before = older.get(key)
        if before is None:
            continue
        changes = []
        if before.type != after.type:
            changes.append({"field": "type", "old": before.type, "new": after.type})
        if (before.name or None) != (after.name or None):
            changes.append({"field": "name", "old": before.name, "new": after.name})
        for name in sorted(set(before.facts) | set(after.facts), key=_field_order):
            if before.facts.get(name) != after.facts.get(name):
                changes.append({"field": name, "old": before.facts.get(name), "new": after.facts.get(name)})
        if changes:
            changed.append({**after.brief(), "changes": changes})
    return {"added": added, "removed": removed, "changed": changed}


_ORDER = ["lane", "sourceRef", "targetRef", "condition", "default", "event", "timer", "form", "script", "documentation"]


def _field_order(name: str) -> tuple[int, str]:
    return (_ORDER.index(name), name) if name in _ORDER else (len(_ORDER), name)


