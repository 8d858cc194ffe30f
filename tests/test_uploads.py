"""Uploads are inert: evidence is recognised by its content, refused with a 400 naming what it
is unless the office accepts that type, stored with the recognised type, and served so that
nothing in it can run at Duban's origin (attachment unless a raster image; nosniff; a CSP that
lets nothing load or run)."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import random
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from engine import evidence_types
from engine.errors import Invalid
from engine.models import EvidenceFile
from web import evidence

from .helpers_flow import PLAN
from .helpers_pages import ready_tasks, register
from .test_pages import login, token_of

FIXTURES = Path(__file__).parent / "fixtures"
SCRIPT_SVG = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
              b'<script>document.title = "pwned"; fetch("/api/problems")</script><rect width="10" height="10"/></svg>')
HTML = b"<!DOCTYPE html><html><body><script>document.title='pwned'</script></body></html>"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"\x80\x00\x00\x00" + b"\x00" * 64 \
    + b"PE\x00\x00L\x01"
POLYGLOT_GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;<html><script>document.title='pwned'</script></html>"
POLYGLOT_PDF = b"%PDF-1.4\n<html><body><script>document.title='pwned'</script></body></html>\n%%EOF"
GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def png(width: int = 8, height: int = 8) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    rows = b"".join(b"\x00" + b"\x2e\x7d\x32" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def docx() -> bytes:
    from docx import Document

    document = Document()
    document.add_paragraph("整改验收报告")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["监测数据", 12.5])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def plain_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def post(api, problem_id, content: bytes, name: str, claimed: str = "application/octet-stream", as_="responsible"):
    return api.post(f"/api/problems/{problem_id}/evidence", as_=as_,
                    data={"file": (io.BytesIO(content), name, claimed)}, content_type="multipart/form-data")


def stored_files(settings) -> list[Path]:
    root = settings.evidence_path
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# -- refused -------------------------------------------------------------------------------------

HOSTILE = {
    "svg with a script": (SCRIPT_SVG, "现场.svg", "image/svg+xml", "SVG"),
    "svg named .png": (SCRIPT_SVG, "现场.png", "image/png", "SVG"),
    "html": (HTML, "report.html", "text/html", "HTML"),
    "html named .pdf": (HTML, "验收报告.pdf", "application/pdf", "HTML"),
    "exe named .jpg": (EXE, "photo.jpg", "image/jpeg", "EXE"),
    "random bytes named .jpg": (random.Random(9).randbytes(4096), "photo.jpg", "image/jpeg", "unknown"),
    "a plain zip (archives are off)": (plain_zip({"a.txt": b"x"}), "材料.zip", "application/zip", "ZIP"),
    "a zip named .docx": (plain_zip({"word/document.xml": b"<w/>"}), "报告.docx",
                          evidence_types.KINDS["docx"].mime, "ZIP"),
    "a damaged zip": (b"PK\x03\x04" + b"\x00" * 64, "报告.docx", "application/zip", "damaged ZIP"),
}


@pytest.mark.parametrize("content, name, claimed, detected", HOSTILE.values(), ids=list(HOSTILE))
def test_a_file_of_a_type_not_allowed_is_a_400_naming_what_it_is(api, duban, settings, content, name, claimed,
                                                                   detected):
    pid = api.register()["id"]
    response = post(api, pid, content, name, claimed)
    assert response.status_code == 400, response.json
    [message] = response.json["errors"]["file"]
    assert message.startswith(f"detected type {detected} is not allowed; allowed: JPEG, PNG, GIF, WEBP")
    assert "PDF, DOCX" in message and "ZIP" not in message.split("allowed:")[1]
    with duban.db.reading() as session:
        assert session.query(EvidenceFile).count() == 0
    assert stored_files(settings) == []


# -- accepted ------------------------------------------------------------------------------------

REAL = {
    "png": (png(), "整改后.png", "image/png", "image/png", "整改后.png"),
    "jpeg": ((FIXTURES / "photo.jpg").read_bytes(), "现场.JPG", "image/jpeg", "image/jpeg", "现场.JPG"),
    "gif": (GIF, "a.gif", "image/gif", "image/gif", "a.gif"),
    "pdf": (PDF, "监测报告.pdf", "application/pdf", "application/pdf", "监测报告.pdf"),
    "docx": (docx(), "验收意见.docx", "application/octet-stream", evidence_types.KINDS["docx"].mime, "验收意见.docx"),
    "xlsx": (xlsx(), "监测数据.xlsx", "application/vnd.ms-excel", evidence_types.KINDS["xlsx"].mime, "监测数据.xlsx"),
    # what the browser claims and the name's extension are not trusted; the content decides
    "png named .jpg claiming pdf": (png(), "photo.jpg", "application/pdf", "image/png", "photo.png"),
    "pdf without a name's extension": (PDF, "报告", "text/html", "application/pdf", "报告.pdf"),
}


@pytest.mark.parametrize("content, name, claimed, stored_type, stored_name", REAL.values(), ids=list(REAL))
def test_real_evidence_is_kept_with_the_type_of_its_content(api, duban, content, name, claimed, stored_type,
                                                            stored_name):
    pid = api.register()["id"]
    response = post(api, pid, content, name, claimed)
    assert response.status_code == 201, response.json
    assert response.json["content_type"] == stored_type and response.json["filename"] == stored_name
    served = api.get(f"/api/evidence/{response.json['id']}", as_="admin")
    assert served.status_code == 200 and served.get_data() == content and served.mimetype == stored_type


def test_archives_are_accepted_only_when_the_office_names_them(api, duban, tmp_path):
    pid = api.register()["id"]
    archive = plain_zip({"照片/1.txt": b"x"})
    assert post(api, pid, archive, "材料.zip").status_code == 400
    config = tmp_path / "evidence.toml"
    config.write_text('[evidence]\nallowed = ["pdf"]\narchives = ["zip"]\nmax_megabytes = 1\n')
    duban.settings = dataclasses.replace(duban.settings, evidence_types=config)
    accepted = post(api, pid, archive, "材料.zip")
    assert accepted.status_code == 201 and accepted.json["content_type"] == "application/zip"
    served = api.get(f"/api/evidence/{accepted.json['id']}", as_="admin")
    assert served.headers["Content-Disposition"].startswith("attachment;")
    refused = post(api, pid, png(), "a.png")
    assert refused.status_code == 400 and refused.json["errors"]["file"] == [
        "detected type PNG is not allowed; allowed: PDF, ZIP"]
    too_large = post(api, pid, PDF + b"\x00" * (1024 * 1024), "big.pdf")
    assert too_large.status_code == 400 and too_large.json["errors"]["file"] == ["at most 1 MiB"]


def test_a_bad_evidence_config_is_refused_naming_the_key(tmp_path):
    config = tmp_path / "evidence.toml"
    config.write_text('[evidence]\nallowed = ["pdf", "svg"]\n')
    with pytest.raises(Invalid) as error:
        evidence_types.load_policy(config)
    assert "evidence.allowed" in error.value.errors
    config.write_text('[evidence]\nallowed = ["zip"]\n')  # archives go under `archives`
    with pytest.raises(Invalid) as error:
        evidence_types.load_policy(config)
    assert "evidence.allowed" in error.value.errors
    shipped = evidence_types.load_policy()
    assert "svg" not in shipped.allowed and not {"zip", "7z", "rar"} & set(shipped.allowed)


# -- served inertly ------------------------------------------------------------------------------

def assert_inert(response, inline: bool, mimetype: str):
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == evidence.POLICY
    assert "script-src" not in evidence.POLICY and evidence.POLICY.endswith("sandbox")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("inline;" if inline else "attachment;"), disposition
    assert "filename*=UTF-8''" in disposition
    assert response.mimetype == mimetype


def test_only_raster_images_are_served_inline(api, duban, org, app):
    pid = api.register()["id"]
    photo = post(api, pid, png(), "整改后.png").json["id"]
    report = post(api, pid, PDF, "监测报告.pdf").json["id"]
    document = post(api, pid, docx(), "验收意见.docx").json["id"]
    page = app.test_client()
    login(page, "responsible")
    for get in (lambda i: api.get(f"/api/evidence/{i}", as_="admin"), lambda i: page.get(f"/evidence/{i}")):
        assert_inert(get(photo), True, "image/png")
        assert_inert(get(report), False, "application/pdf")
        assert_inert(get(document), False, evidence_types.KINDS["docx"].mime)
        assert "filename*=UTF-8''%E7%9B%91%E6%B5%8B%E6%8A%A5%E5%91%8A.pdf" in get(report).headers["Content-Disposition"]


def test_a_polyglot_is_served_as_what_its_first_bytes_are_and_nothing_more(api):
    pid = api.register()["id"]
    gif = post(api, pid, POLYGLOT_GIF, "a.html", "text/html")
    assert gif.status_code == 201 and gif.json["content_type"] == "image/gif" and gif.json["filename"] == "a.gif"
    assert_inert(api.get(f"/api/evidence/{gif.json['id']}", as_="admin"), True, "image/gif")
    pdf = post(api, pid, POLYGLOT_PDF, "a.html", "text/html")
    assert pdf.status_code == 201 and pdf.json["content_type"] == "application/pdf"
    assert_inert(api.get(f"/api/evidence/{pdf.json['id']}", as_="admin"), False, "application/pdf")


@pytest.mark.parametrize("stored_type, content", [("image/svg+xml", SCRIPT_SVG), ("text/html", HTML),
                                                  ("image/png", HTML), ("image/jpeg", EXE)])
def test_files_stored_before_types_were_checked_are_served_as_downloads(api, duban, org, settings, app,
                                                                       stored_type, content):
    """Rows from before: whatever type the uploader claimed is in the database; the bytes decide."""
    from engine import clock
    from engine.evidence import path_for

    pid = api.register()["id"]
    digest = hashlib.sha256(content).hexdigest()
    target = path_for(settings.evidence_path, digest)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    with duban.db.transaction() as session:
        row = EvidenceFile(problem_id=pid, sha256=digest, filename="现场.svg", content_type=stored_type,
                           size=len(content), uploaded_by_id=org["user:responsible"], uploaded_at=clock.now())
        session.add(row)
        session.flush()
        evidence_id = row.id
    page = app.test_client()
    login(page, "admin")
    for response in (api.get(f"/api/evidence/{evidence_id}", as_="admin"), page.get(f"/evidence/{evidence_id}")):
        assert_inert(response, False, "application/octet-stream")
    if not evidence_types.shown_inline(stored_type):
        problem_page = page.get(f"/problems/{pid}").get_data(as_text=True)
        assert f'src="/evidence/{evidence_id}"' not in problem_page  # no thumbnail for it


@pytest.mark.parametrize("path", ["/api/health", "/login", "/api/openapi.json", "/no-such-page"])
def test_every_response_says_nosniff(app, path):
    response = app.test_client().get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_says_why_an_upload_is_refused_in_chinese(app, duban, org):
    problem_id = register(duban, org)
    for user, data in (("responsible", {"acknowledged": True}), ("responsible", PLAN), ("admin", {"decision": "approve"})):
        [(task_id, _, _)] = ready_tasks(duban, user, org)
        duban.complete_task(org[f"user:{user}"], task_id, data)
    [(rectify, _, _)] = ready_tasks(duban, "responsible", org)
    client = app.test_client()
    login(client, "responsible")
    token = token_of(client.get(f"/tasks/{rectify}").get_data(as_text=True))
    response = client.post(f"/tasks/{rectify}/evidence", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "field": "evidence", "file": (io.BytesIO(SCRIPT_SVG), "现场.png", "image/png")},
        content_type="multipart/form-data")
    fragment = response.get_data(as_text=True)
    assert "文件的实际内容是 SVG，不能作为佐证材料上传。允许的类型：JPEG, PNG" in fragment
    with duban.db.reading() as session:
        assert session.query(EvidenceFile).count() == 0
