"""管理 in a real browser, never touching XML: the open problems of a version moved onto a newer
version after the dry run (a removed step's problem sent to the step chosen for it), and a
problem stuck on a broken version repaired from 异常流程 by migrating it to the fixed one."""
from __future__ import annotations

from playwright.sync_api import expect

from engine.models import IncidentStatus

from ..helpers_incidents import deploy, incidents_of
from ..helpers_repair import V1, V2, instance, ready_rows
from ..test_repair_api import BROKEN, FIXED, stuck
from ..test_repair_migration import at, register
from .test_admin_config import sign_in_as_admin


def test_migrate_a_version_after_the_dry_run_and_repair_an_incident(server, page, shoot, api, duban):
    deploy(api, V1)
    signing = register(api)
    on_old = register(api)
    at(api, on_old, "Task_sign", "Task_review")
    deploy(api, V2)
    deploy(api, BROKEN)
    broken, incident = stuck(api, duban)
    deploy(api, FIXED)

    sign_in_as_admin(page, server)
    page.goto(f"{server}/admin/definitions/repairable/1")
    migration = page.locator('[data-section="migration"]')
    expect(migration).to_be_visible()
    migration.locator('select[name="to_version"]').select_option("2")
    migration.locator('[data-action="dry-run"]').click()
    expect(page.locator("[data-dry-run]")).to_be_visible()
    expect(page.locator('[data-element="Task_sign"][data-how="renamed"]')).to_be_visible()
    expect(page.locator('[data-token="Task_old"]')).to_be_visible()
    shoot(page, "dry-run")
    assert instance(duban, signing).definition.version == 1          # the dry run changed nothing
    page.locator('select[data-choice="Task_old"]').select_option("Task_new")
    page.locator('input[name="reason"]').fill("第2版调整审核环节")
    page.locator('[data-action="confirm-migration"]').click()
    expect(page.locator("[data-migration-results]")).to_be_visible()
    expect(page.locator('[data-result="migrated"]')).to_have_count(2)
    expect(page.locator('[data-remaining="0"]')).to_be_attached()
    shoot(page, "migrated")
    assert [r.name for r in ready_rows(duban, signing)] == ["签收确认"]
    assert [r.element_id for r in ready_rows(duban, on_old)] == ["Task_new"]

    page.goto(f"{server}/admin")
    page.locator('[data-section="incidents"]').click()
    page.locator(f'[data-open-incident="{incident["id"]}"]').click()
    expect(page.locator('#diagram[data-state="ready"]')).to_be_attached()
    expect(page.locator('.djs-element.duban-failed[data-element-id="Script"]')).to_be_attached()
    expect(page.locator("[data-error-message]")).to_contain_text("count")
    shoot(page, "incident")
    form = page.locator('[data-form="migrate"]')
    form.locator('select[name="to_version"]').select_option("2")
    form.locator('input[name="reason"]').fill("脚本已修正")
    form.get_by_role("button", name="迁移").click()
    expect(page.locator('[data-incident-status="resolved"]')).to_be_visible()
    expect(page.locator('[data-resolution="migrated"]')).to_contain_text("脚本已修正")
    shoot(page, "repaired")
    assert [row.status for row in incidents_of(duban, broken)] == [IncidentStatus.RESOLVED]
    assert [r.element_id for r in ready_rows(duban, broken)] == ["Task_after"]
    assert not page.js_errors, page.js_errors
