"""The process editor's 流程用途: the process (its pool, or the canvas of a one-pool
collaboration) selected, the panel shows what the diagram declares and writes the choice back as the process's `purpose` property, which the
deployment stores."""
from __future__ import annotations

from lxml import etree
from playwright.sync_api import expect

from .test_admin_config import sign_in_as_admin
from .test_modeler import NS


def test_the_pool_carries_the_process_purpose(server, page, shoot, api):
    sign_in_as_admin(page, server)
    page.goto(f"{server}/admin/definitions/interview/edit")
    expect(page.locator('#modeler[data-state="ready"]')).to_be_attached()
    pool = page.locator('[data-element-id="Participant_interview"]').bounding_box()
    page.mouse.click(pool["x"] + 16, pool["y"] + pool["height"] / 2)   # the pool's name band
    expect(page.locator('.djs-element.selected[data-element-id="Participant_interview"]')).to_be_attached()
    shoot(page, "pool-selected")
    purpose = page.locator("#bio-properties-panel-duban-purpose")
    expect(purpose).to_have_value("interview")
    expect(purpose.locator("option")).to_have_count(5)        # none, and the four purposes
    shoot(page, "interview-purpose")

    page.goto(f"{server}/admin/definitions/new")
    expect(page.locator('#modeler[data-state="ready"]')).to_be_attached()
    canvas = page.locator("#canvas").bounding_box()        # the canvas outside the pool: the collaboration
    page.mouse.click(canvas["x"] + canvas["width"] - 40, canvas["y"] + canvas["height"] - 60)
    purpose = page.locator("#bio-properties-panel-duban-purpose")
    expect(purpose).to_have_value("problem")                  # the template declares it
    purpose.select_option("escalation")
    page.locator('[data-action="deploy"]').click()
    page.locator("#deploy-panel [data-deploy-comment]").fill("督办升级流程")
    page.locator('#deploy-panel [data-action="publish"]').click()
    expect(page.locator('#modeler[data-deployed="1"]')).to_be_attached()
    listed = api.get("/api/process-definitions", as_="admin").json["items"]
    created = next(d for d in listed if d["key"] not in ("rectification", "escalation", "interview", "accountability"))
    assert created["purpose"] == "escalation"
    xml = api.get(f"/api/process-definitions/{created['key']}/versions/1", as_="admin").data
    process = etree.fromstring(xml).find("bpmn:process", NS)
    declared = process.findall("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)
    assert [(p.get("name"), p.get("value")) for p in declared] == [("purpose", "escalation")]
    assert page.js_errors == []
