"""What an evidence file is, told by its content (filetype's magic numbers; an Office
document by the parts its zip holds), and which types an office accepts (config/evidence.toml).

Neither the file's name nor the type the browser claims is trusted: the type stored and
served is the one recognised here. Only raster images a browser shows safely (JPEG, PNG,
GIF, WebP) are ever served inline; everything else is a download.
"""
from __future__ import annotations

import io
import tomllib
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import filetype

from .errors import Invalid
from .settings import CONFIG_DIR

DEFAULT_FILE = CONFIG_DIR / "evidence.toml"
HEAD = 8192   # what filetype reads


@dataclass(frozen=True)
class Kind:
    name: str          # as config/evidence.toml lists it
    mime: str
    extension: str     # the one a stored name is given
    family: str        # image, document, archive
    inline: bool = False

    @property
    def label(self) -> str:
        return self.name.upper()


KINDS = {k.name: k for k in (
    Kind("jpeg", "image/jpeg", ".jpg", "image", inline=True),
    Kind("png", "image/png", ".png", "image", inline=True),
    Kind("gif", "image/gif", ".gif", "image", inline=True),
    Kind("webp", "image/webp", ".webp", "image", inline=True),
    Kind("bmp", "image/bmp", ".bmp", "image"),
    Kind("tiff", "image/tiff", ".tif", "image"),
    Kind("pdf", "application/pdf", ".pdf", "document"),
    Kind("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx", "document"),
    Kind("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx", "document"),
    Kind("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", ".pptx", "document"),
    Kind("doc", "application/msword", ".doc", "document"),
    Kind("xls", "application/vnd.ms-excel", ".xls", "document"),
    Kind("ppt", "application/vnd.ms-powerpoint", ".ppt", "document"),
    Kind("zip", "application/zip", ".zip", "archive"),
    Kind("7z", "application/x-7z-compressed", ".7z", "archive"),
    Kind("rar", "application/vnd.rar", ".rar", "archive"),
)}
BY_MIME = {k.mime: k for k in KINDS.values()} | {
    "image/apng": KINDS["png"],                              # an animated PNG is a PNG
    "application/x-rar-compressed": KINDS["rar"],
}
# the parts that make a zip an Office Open XML document, besides [Content_Types].xml
_OOXML = (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx"))
_ZIP = b"PK\x03\x04"


def sniff(content: bytes) -> Kind | None:
    """The known type `content` is, or None."""
    if content[:4] == _ZIP:
        return _zip_kind(content)
    found = filetype.guess(content[:HEAD])
    return BY_MIME.get(found.mime) if found else None


def sniff_head(head: bytes) -> Kind | None:
    """The type from the first bytes only (no zip look-inside): enough to tell an image that
    may be shown inline from everything else."""
    if head[:4] == _ZIP:
        return KINDS["zip"]
    found = filetype.guess(head[:HEAD])
    return BY_MIME.get(found.mime) if found else None


def _zip_kind(content: bytes) -> Kind | None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, KeyError):
        return None
    if "[Content_Types].xml" in names:
        for prefix, kind in _OOXML:
            if any(name.startswith(prefix) for name in names):
                return KINDS[kind]
    return KINDS["zip"]


def describe(content: bytes) -> str:
    """What `content` looks like, for a refusal: a known kind's label, what filetype names,
    SVG, HTML, text, or "unknown"."""
    kind = sniff(content)
    if kind is not None:
        return kind.label
    if content[:4] == _ZIP:
        return "damaged ZIP"
    found = filetype.guess(content[:HEAD])
    if found is not None:
        return found.extension.upper()
    start = content[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in start:
        return "SVG"
    if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<script")) or b"<html" in start:
        return "HTML"
    if start.startswith(b"<?xml"):
        return "XML"
    try:
        content[:2048].decode("utf-8")
    except UnicodeDecodeError:
        return "unknown"
    return "text"


# -- the office's list ---------------------------------------------------------------------------

@dataclass(frozen=True)
class EvidencePolicy:
    allowed: tuple[str, ...]                  # kind names, archives included when the office named them
    max_bytes: int = 50 * 1024 * 1024

    def accepts(self, kind: Kind | None) -> bool:
        return kind is not None and kind.name in self.allowed

    @property
    def labels(self) -> str:
        return ", ".join(KINDS[name].label for name in self.allowed)


DEFAULT_ALLOWED = ("jpeg", "png", "gif", "webp", "bmp", "tiff", "pdf", "docx", "xlsx", "pptx", "doc", "xls")


@lru_cache(maxsize=8)
def load_policy(path: Path = DEFAULT_FILE) -> EvidencePolicy:
    """config/evidence.toml, checked (read once per process)."""
    if not path.exists():
        return EvidencePolicy(DEFAULT_ALLOWED)
    with open(path, "rb") as handle:
        section = tomllib.load(handle).get("evidence", {})
    errors = {}
    unknown = set(section) - {"allowed", "archives", "max_megabytes"}
    for key in unknown:
        errors[f"evidence.{key}"] = ["unknown key"]
    documents = [k for k in KINDS.values() if k.family != "archive"]
    archives = [k for k in KINDS.values() if k.family == "archive"]
    picked = []
    for key, choices in (("allowed", documents), ("archives", archives)):
        value = section.get(key, list(DEFAULT_ALLOWED) if key == "allowed" else [])
        names = {k.name for k in choices}
        if not isinstance(value, list) or not all(isinstance(v, str) and v in names for v in value):
            errors[f"evidence.{key}"] = [f"a list of: {', '.join(sorted(names))}"]
        else:
            picked += [v for v in value if v not in picked]
    size = section.get("max_megabytes", 50)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1024:
        errors["evidence.max_megabytes"] = ["a whole number from 1 to 1024"]
    if errors:
        raise Invalid(f"{path.name}: invalid evidence types", errors)
    return EvidencePolicy(tuple(picked), size * 1024 * 1024)


# -- serving -------------------------------------------------------------------------------------

def shown_inline(content_type: str | None) -> bool:
    """Whether a stored type is one a page may show as a picture (a thumbnail)."""
    kind = BY_MIME.get(content_type or "")
    return kind is not None and kind.inline


@dataclass(frozen=True)
class Delivery:
    mimetype: str
    inline: bool


def delivery(head: bytes, stored_type: str | None) -> Delivery:
    """How a stored file is served, from its first bytes (`head`, HEAD of them) again: rows
    stored before types were checked carry whatever the uploader claimed (image/svg+xml,
    text/html). Inline only when the first bytes are a JPEG, PNG, GIF or WebP; otherwise a
    download, typed as stored when that is a known type and as application/octet-stream when not."""
    kind = sniff_head(head)
    if kind is not None and kind.inline:
        return Delivery(kind.mime, True)
    known = BY_MIME.get(stored_type or "")
    return Delivery(known.mime if known is not None and not known.inline else "application/octet-stream", False)
