"""A hostile upload opened in the real browser: an official's SVG with a script is refused
at upload; one stored before types were checked, and a GIF/HTML polyglot that is accepted as
a GIF, are opened by an administrator in chromium at Duban's origin and their script does
not run (no title change, no request), while the same SVG served the old way does run."""
from __future__ import annotations

import hashlib

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from engine import clock
from engine.evidence import path_for
from engine.models import EvidenceFile

from ..helpers_pages import register
from ..support import PASSWORD

SVG = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200">'
       b'<rect width="200" height="200" fill="red"/><script>document.title = "pwned";'
       b'fetch("/pwned?c=" + encodeURIComponent(document.cookie))</script></svg>')
POLYGLOT = (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;<html><body><script>document.title='pwned';"
            b"fetch('/pwned?from=gif')</script></body></html>")


def token(page, server, username: str) -> str:
    response = page.request.post(f"{server}/api/auth/token", data={"username": username, "password": PASSWORD})
    assert response.ok, response.text()
    return response.json()["token"]


def upload(page, server, problem_id: int, name: str, mime: str, content: bytes):
    return page.request.post(f"{server}/api/problems/{problem_id}/evidence",
                             headers={"Authorization": f"Bearer {token(page, server, 'responsible')}"},
                             multipart={"file": {"name": name, "mimeType": mime, "buffer": content}})


def stored_before(duban, settings, org, problem_id: int) -> int:
    """An SVG row as the upload code stored it before types were checked."""
    digest = hashlib.sha256(SVG).hexdigest()
    target = path_for(settings.evidence_path, digest)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(SVG)
    with duban.db.transaction() as session:
        row = EvidenceFile(problem_id=problem_id, sha256=digest, filename="现场照片.svg", content_type="image/svg+xml",
                           size=len(SVG), uploaded_by_id=org["user:responsible"], uploaded_at=clock.now())
        session.add(row)
        session.flush()
        return row.id


def sign_in_as_admin(page, server):
    page.goto(f"{server}/login")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".who .user")).to_be_visible()


def open_file(page, url: str):
    """Navigate to an evidence file; the download it turns into, or None if the page shows it."""
    try:
        with page.expect_download(timeout=5000) as started:
            try:
                page.goto(url)
            except PlaywrightError as error:
                assert "Download is starting" in str(error) or "ERR_ABORTED" in str(error), error
        return started.value
    except PlaywrightError:
        return None


def test_a_hostile_svg_does_not_run_at_dubans_origin(server, page, shoot, duban, settings, org):
    problem_id = register(duban, org)
    probes: list[str] = []
    page.on("request", lambda request: probes.append(request.url) if "/pwned" in request.url else None)

    refused = upload(page, server, problem_id, "现场照片.svg", "image/svg+xml", SVG)
    assert refused.status == 400 and refused.json()["errors"]["file"][0].startswith("detected type SVG is not allowed")
    renamed = upload(page, server, problem_id, "现场照片.png", "image/png", SVG)
    assert renamed.status == 400
    polyglot = upload(page, server, problem_id, "a.html", "text/html", POLYGLOT)
    assert polyglot.status == 201 and polyglot.json()["content_type"] == "image/gif"
    old = stored_before(duban, settings, org, problem_id)

    sign_in_as_admin(page, server)
    page.goto(f"{server}/problems/{problem_id}")
    title = page.title()
    expect(page.locator(f'img[src="/evidence/{old}"]')).to_have_count(0)   # no thumbnail of the SVG
    shoot(page, "problem-page")

    download = open_file(page, f"{server}/evidence/{old}")
    assert download is not None, "the stored SVG was shown instead of downloaded"
    assert download.suggested_filename == "现场照片.svg"
    assert page.title() == title

    page.goto(f"{server}/evidence/{polyglot.json()['id']}")                 # inline, as an image
    shoot(page, "polyglot")
    assert page.title() != "pwned"
    assert page.evaluate("document.contentType") == "image/gif"
    page.wait_for_timeout(300)   # a negative: give a script that did run the time to ask (the control below does)
    assert probes == [] and page.title() != "pwned"

    # the control: the same SVG served as before (inline, image/svg+xml, no CSP) runs at once
    page.route(f"{server}/control.svg", lambda route: route.fulfill(status=200, content_type="image/svg+xml",
                                                                      body=SVG))
    with page.expect_request(lambda request: "/pwned?c=" in request.url, timeout=5000):
        page.goto(f"{server}/control.svg")
    expect(page).to_have_title("pwned")
