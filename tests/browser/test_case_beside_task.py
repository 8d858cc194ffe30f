"""The case beside the task in a real browser: the office opens the plan review and sees the
submitted plan and its photo (in the lightbox), sends the plan back with a reason; the
responsible person sees the reason at the top and the form filled with the plan sent back."""
from __future__ import annotations

from playwright.sync_api import expect

from engine.models import HumanTask

from ..helpers_flow import PLAN
from ..helpers_pages import ready_tasks, register
from .test_inbox import open_task, png, sign_in

REASON = "措施不具体：请写明深度处理单元的工艺、规模和投运时间。\n另请补充阶段性目标。"


def test_review_sees_the_plan_and_sends_it_back_with_a_reason(server, page, shoot, duban, org):
    problem_id = register(duban, org)
    [(sign, _, _)] = ready_tasks(duban, "responsible", org)
    duban.complete_task(org["user:responsible"], sign, {"acknowledged": True})
    photo = duban.upload_evidence(org["user:responsible"], problem_id, "现场.png", "image/png", png()).id
    [(plan, _, _)] = ready_tasks(duban, "responsible", org)
    duban.complete_task(org["user:responsible"], plan, {**PLAN, "plan_files": [photo]})

    sign_in(page, server, "admin")
    open_task(page, "审核整改方案")
    case = page.locator(".task-case")
    submission = case.locator("[data-submission]").first
    expect(submission).to_contain_text("提交整改方案")
    expect(submission).to_contain_text("张科长")
    expect(submission.locator('[data-field="target"]')).to_have_text(PLAN["target"])
    expect(submission.locator('[data-field="deadline_kind"]')).to_have_text("限期整改")
    # beside the form on a wide screen
    form_box, case_box = page.locator("#task-form").bounding_box(), case.bounding_box()
    assert case_box["x"] > form_box["x"] + form_box["width"] - 1
    thumb = submission.locator(f'[data-field="plan_files"] a[data-evidence-id="{photo}"] img.thumb')
    expect(thumb).to_be_visible()
    shoot(page, "review-with-plan")

    thumb.click()
    lightbox = page.locator("#lightbox")
    expect(lightbox).to_be_visible()
    big = lightbox.locator("img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=big.element_handle())
    assert big.evaluate("img => img.naturalWidth") == 24
    assert page.url.endswith(f"/tasks/{ready_tasks(duban, 'admin', org)[0][0]}")  # still on the task page
    shoot(page, "photo-in-lightbox")
    lightbox.get_by_role("button", name="关闭").click()
    expect(lightbox).to_be_hidden()

    page.get_by_label("退回", exact=True).check()
    page.get_by_label("退回理由").fill(REASON)
    page.get_by_role("button", name="提交").click()
    expect(page.locator(".flash.success")).to_contain_text("已办理：审核整改方案")
    page.get_by_role("button", name="退出").click()

    sign_in(page, server, "responsible")
    open_task(page, "提交整改方案")
    notice = page.locator("[data-sent-back]")
    expect(notice).to_contain_text("admin")
    expect(notice).to_contain_text("审核整改方案")
    expect(notice.locator('[data-field="reason"]')).to_have_text(REASON)  # in full, its line break kept
    expect(page.get_by_label("整改目标")).to_have_value(PLAN["target"])
    expect(page.get_by_label("整改措施")).to_have_value(PLAN["measures"])
    expect(page.locator(f'#evidence-plan_files [data-evidence-id="{photo}"]')).to_be_visible()
    shoot(page, "sent-back-prefilled")

    # on a phone the case goes under the form
    page.set_viewport_size({"width": 390, "height": 844})
    form_box, case_box = page.locator("#task-form").bounding_box(), page.locator(".task-case").bounding_box()
    assert case_box["y"] > form_box["y"] + form_box["height"] - 1
    shoot(page, "sent-back-on-a-phone")

    page.get_by_label("整改措施").fill("新增深度处理单元，日处理2万吨，2026年6月投运")
    page.get_by_role("button", name="提交").click()
    expect(page.locator(".flash.success")).to_contain_text("已办理：提交整改方案")
    [(review, _, _)] = ready_tasks(duban, "admin", org)
    with duban.db.reading() as session:
        resubmitted = session.query(HumanTask).filter_by(element_id="Task_submit_plan", state="completed") \
            .order_by(HumanTask.id.desc()).first()
        assert resubmitted.data["target"] == PLAN["target"] and resubmitted.data["plan_files"] == [photo]
        assert resubmitted.data["measures"].endswith("2026年6月投运") and review
    assert page.js_errors == []
