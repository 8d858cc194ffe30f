"""Evidence drafts in a real browser: an official uploads a large report (the progress bar goes
up to full) and a photo, reloads the page and finds both still there (kept with the task, not
in the browser), deletes the report, submits the task, and the photo is the submission's."""
from __future__ import annotations

from playwright.sync_api import expect

from engine.models import EvidenceFile, HumanTask

from ..test_evidence_drafts import at_rectify
from .test_inbox import open_task, png, sign_in

# a large PDF (recognised by its content), so that its upload takes several progress events
LARGE_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n%" + b"0" * (12 * 1024 * 1024)
             + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n")

# what the bar showed while htmx reported the upload going up (recorded after the page's own
# handler has moved the bar: document hears the event after body)
WATCH_PROGRESS = """
window.barSeen = [];
document.addEventListener("htmx:xhr:progress", function (event) {
  var bar = event.target.querySelector && event.target.querySelector("progress.upload-progress");
  if (bar) window.barSeen.push({value: bar.value, visible: !bar.hidden && bar.offsetWidth > 0});
});
"""


def test_drafts_are_kept_deletable_and_submitted(server, page, shoot, duban, org, tmp_path):
    problem_id, task = at_rectify(duban, org)
    sign_in(page, server, "responsible")
    open_task(page, "整改实施并申请销号")
    page.get_by_label("整改完成情况").fill("提标改造完成，出水稳定达标")
    evidence = page.locator("#evidence-evidence")
    accept = evidence.locator("input[type=file]").get_attribute("accept").split(",")  # the allow-list's
    assert {"image/jpeg", ".jpg", "image/png", "application/pdf", ".pdf", ".docx", ".xlsx"} <= set(accept)
    assert not {"image/svg+xml", ".svg", "text/html", ".exe", ".zip"} & set(accept)
    expect(page.locator("#evidence-photos_before input[type=file]")).to_have_attribute("capture", "environment")

    report = tmp_path / "验收报告.pdf"
    report.write_bytes(LARGE_PDF)
    page.evaluate(WATCH_PROGRESS)
    evidence.locator("input[type=file]").set_input_files(str(report))
    evidence.get_by_role("button", name="上传").click()
    expect(page.locator("#evidence-evidence li[data-draft]")).to_have_count(1)
    seen = page.evaluate("window.barSeen")
    assert seen and max(s["value"] for s in seen) == 100, seen  # the bar went up to full
    assert any(s["visible"] for s in seen), seen                   # and was shown meanwhile
    expect(page.locator("#evidence-evidence progress.upload-progress")).to_be_hidden()  # a fresh field after it
    shoot(page, "large-upload-done")

    photo = tmp_path / "整改后.png"
    photo.write_bytes(png())
    evidence.locator("input[type=file]").set_input_files(str(photo))
    evidence.get_by_role("button", name="上传").click()
    expect(page.locator("#evidence-evidence li[data-draft]")).to_have_count(2)

    page.reload()  # drafts are the task's, in the database
    expect(page.locator("#task-form[data-ready=true]")).to_be_attached()
    expect(page.locator("#evidence-evidence li[data-draft]")).to_have_count(2)
    expect(page.locator("#evidence-evidence")).to_contain_text("验收报告.pdf")
    shoot(page, "drafts-after-reload")

    page.get_by_role("button", name="删除“验收报告.pdf”").click()
    expect(page.locator("#evidence-evidence li[data-draft]")).to_have_count(1)
    expect(page.locator("#evidence-evidence")).not_to_contain_text("验收报告.pdf")
    expect(page.locator("#evidence-evidence img.thumb")).to_be_visible()
    shoot(page, "report-deleted")

    page.get_by_label("整改完成情况").fill("提标改造完成，出水稳定达标")
    page.get_by_role("button", name="提交").click()
    expect(page.locator(".flash.success")).to_contain_text("已办理：整改实施并申请销号")
    with duban.db.reading() as session:
        [row] = session.query(EvidenceFile).filter_by(problem_id=problem_id).all()
        assert row.filename == "整改后.png" and row.submitted_at is not None
        assert session.get(HumanTask, task).data["evidence"] == [row.id]

    page.goto(f"{server}/tasks/{task}")  # done: listed as submitted, nothing to delete
    expect(page.locator(f'#evidence-evidence li[data-evidence-id="{row.id}"]')).to_be_visible()
    expect(page.locator("form.delete-evidence")).to_have_count(0)
    shoot(page, "submitted")

