"""我的待办 in a real browser: an official signs in, finds the task, signs it off through the
form-js form, then applies for close-out with evidence after a refused first try."""
from __future__ import annotations

import re
import struct
import zlib

from playwright.sync_api import expect

from engine.models import EvidenceFile, HumanTask

from ..helpers_flow import PLAN
from ..helpers_pages import ready_tasks, register
from ..support import PASSWORD


def png(width: int = 24, height: int = 16) -> bytes:
    """A real (green) PNG image, so the thumbnail has something to decode."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    rows = b"".join(b"\x00" + b"\x2e\x7d\x32" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def sign_in(page, server, username):
    page.goto(f"{server}/tasks")
    expect(page).to_have_url(re.compile(r"/login\?next=/tasks"))
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="我的待办")).to_be_visible()


def open_task(page, name):
    page.get_by_role("link", name=name).click()
    expect(page.locator("#task-form[data-ready=true]")).to_be_attached()


def test_official_signs_off_and_applies_for_close_out(server, page, shoot, duban, org, tmp_path):
    problem_id = register(duban, org)

    page.goto(f"{server}/tasks")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    shoot(page, "login")
    sign_in(page, server, "responsible")
    expect(page.locator(".who .user")).to_have_text("张科长")
    expect(page.locator(".who .roles")).to_have_text("责任人员")
    row = page.locator("tr[data-task-id]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("签收")
    expect(row).to_contain_text("NL-2026-001")
    expect(page.locator('[data-count="green"]')).to_have_text("1")
    shoot(page, "my-tasks")

    # filter by light through htmx: no red task, then all again
    page.locator('.chip[data-light="red"]').click()
    expect(page.locator("#task-list .empty")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/tasks\?light=red$"))
    shoot(page, "filtered-red")
    page.locator('.chip[data-light="all"]').click()
    expect(page.locator("tr[data-task-id]")).to_have_count(1)

    # the sign-off task: the form-js form beside the problem's context
    open_task(page, "签收")
    aside = page.locator("aside.problem")
    for shown in ("NL-2026-001", "南岭县", "吴县长", "南岭县生态环境分局", "张科长", "2026-06-30"):
        expect(aside).to_contain_text(shown)
    checkbox = page.get_by_label("确认签收")
    expect(checkbox).to_be_visible()
    page.get_by_role("button", name="提交").click()  # not ticked: form-js refuses at the field
    expect(page.locator(".fjs-form-field-error").first).to_be_visible()
    shoot(page, "sign-refused-in-form")
    checkbox.check()
    page.get_by_role("button", name="提交").click()
    expect(page.locator(".flash.success")).to_contain_text("已办理：签收（NL-2026-001）")
    shoot(page, "signed")

    # the plan is submitted and approved meanwhile; the close-out application is next
    [(plan_task, element, _)] = ready_tasks(duban, "responsible", org)
    assert element == "Task_submit_plan"
    duban.complete_task(org["user:responsible"], plan_task, PLAN)
    [(review, _, _)] = ready_tasks(duban, "admin", org)
    duban.complete_task(org["user:admin"], review, {"decision": "approve"})
    [(rectify, _, _)] = ready_tasks(duban, "responsible", org)

    page.reload()
    open_task(page, "整改实施并申请销号")
    page.get_by_label("整改完成情况").fill("提标改造完成，出水稳定达标")
    page.get_by_role("button", name="提交").click()  # no evidence yet: the server refuses at the field
    evidence = page.locator("#evidence-evidence")
    expect(evidence.locator(".field-error")).to_be_visible()
    expect(page.locator("#task-form[data-ready=true]")).to_be_attached()
    expect(page.get_by_label("整改完成情况")).to_have_value("提标改造完成，出水稳定达标")  # kept
    shoot(page, "close-out-refused")

    photo = tmp_path / "整改后.png"
    photo.write_bytes(png())
    evidence.locator("input[type=file]").set_input_files(str(photo))
    evidence.get_by_role("button", name="上传").click()
    thumb = page.locator("#evidence-evidence img.thumb")
    expect(thumb).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())  # loaded
    assert thumb.evaluate("img => img.naturalWidth") == 24
    expect(page.get_by_label("整改完成情况")).to_have_value("提标改造完成，出水稳定达标")  # htmx left the form alone
    shoot(page, "evidence-uploaded")

    page.get_by_role("button", name="提交").click()
    expect(page.locator(".flash.success")).to_contain_text("已办理：整改实施并申请销号")
    expect(page.locator(f'tr[data-task-id="{rectify}"]')).to_have_count(0)  # done; the next step is listed
    shoot(page, "close-out-applied")
    with duban.db.reading() as session:
        [row] = session.query(EvidenceFile).filter_by(problem_id=problem_id).all()
        task = session.get(HumanTask, rectify)
        assert task.data["evidence"] == [row.id] and task.data["summary"] == "提标改造完成，出水稳定达标"
        assert row.filename == "整改后.png" and row.content_type == "image/png"

    page.get_by_role("button", name="退出").click()
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    page.goto(f"{server}/tasks")
    expect(page).to_have_url(re.compile(r"/login"))
    shoot(page, "signed-out")
    assert page.js_errors == []


def test_server_error_is_shown_at_its_form_js_field(server, page, shoot, duban, org):
    """The office returns a plan without a reason: the server's message appears under the
    reason field inside the form-js form (a rule form-js itself does not know)."""
    register(duban, org)
    [(sign, _, _)] = ready_tasks(duban, "responsible", org)
    duban.complete_task(org["user:responsible"], sign, {"acknowledged": True})
    [(plan, _, _)] = ready_tasks(duban, "responsible", org)
    duban.complete_task(org["user:responsible"], plan, PLAN)

    sign_in(page, server, "admin")
    open_task(page, "审核整改方案")
    page.get_by_label("退回", exact=True).check()
    page.get_by_role("button", name="提交").click()
    expect(page.locator("#task-form[data-ready=true]")).to_be_attached()
    reason = page.locator(".fjs-form-field", has=page.get_by_label("退回理由"))
    expect(reason.locator(".fjs-form-field-error")).to_contain_text("decision")
    expect(page.get_by_label("退回", exact=True)).to_be_checked()  # what was entered is kept
    shoot(page, "review-refused")

    page.get_by_label("退回理由").fill("措施不具体")
    page.get_by_role("button", name="提交").click()
    expect(page.locator(".flash.success")).to_contain_text("已办理：审核整改方案")
    [(_, element, _)] = ready_tasks(duban, "responsible", org)
    assert element == "Task_submit_plan"  # returned to the responsible person
    shoot(page, "review-returned")
    assert page.js_errors == []
