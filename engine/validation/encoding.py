"""The encoding of a BPMN file from another modeler or editor: the byte order mark, then the
XML declaration, then UTF-8, then GB18030 (a superset of GBK) when what it reads is Chinese.
A guess that could garble names is never taken silently: a file that declares nothing and is
neither UTF-8 nor Chinese GBK is refused with a finding saying how to declare it.

The document is handed on as UTF-8 with its declaration saying so, line for line the same,
so that findings name the lines of the file the administrator has."""
from __future__ import annotations

import codecs
import re

from .findings import DocumentError, Finding

_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_DECLARED_TEXT = re.compile(r"^(\s*<\?xml[^>]*?encoding\s*=\s*)([\"'])([A-Za-z0-9._:-]+)\2")
_BOMS = [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")]
# "<?" in UTF-16 without a byte order mark
_UTF16_BARE = [(b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be")]
# what GBK text reads as: CJK ideographs, CJK and full-width punctuation, Bopomofo, box drawing
_CHINESE = re.compile(r"[\u2000-\u206f\u2460-\u257f\u3000-\u303f\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff"
                      r"\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\u00b7\u00d7\u00f7]")
_ALIASES = {"gbk": "gb18030", "gb2312": "gb18030", "cp936": "gb18030", "gb18030": "gb18030"}


def to_utf8(content: bytes) -> bytes:
    """The document as UTF-8 bytes whose declaration (if any) says UTF-8; DocumentError with a
    `document-encoding` finding when the bytes are not what they say or say nothing readable."""
    return decode(content).encode("utf-8")


def decode(content: bytes) -> str:
    """The document's text, read as its byte order mark or declaration says, else UTF-8, else
    Chinese GB18030; its declaration rewritten to UTF-8."""
    if isinstance(content, str):
        return _declare_utf8(content)
    for bom, name in _BOMS:
        if content.startswith(bom):
            return _declare_utf8(_strict(content[len(bom):], name, f"{name.upper()} (byte order mark)"))
    for start, name in _UTF16_BARE:
        if content.startswith(start):
            return _declare_utf8(_strict(content, name, name.upper()))
    declared = _DECLARATION.match(content[:200])
    if declared:
        label = declared.group(1).decode("ascii")
        try:
            name = _ALIASES.get(label.lower().replace("_", ""), codecs.lookup(label).name)
        except LookupError:
            raise DocumentError([Finding("document", 1, (
                f"the XML declaration names the encoding {label!r}, which is not known; declare UTF-8, GBK, "
                "GB18030, UTF-16 or ISO-8859-1"), code="document-encoding",
                message_zh=f"XML 声明中的编码“{label}”无法识别；请声明 UTF-8、GBK、GB18030、UTF-16 或 ISO-8859-1")]) from None
        if name.startswith("utf-16") or name.startswith("utf-32"):
            raise _encoding_finding(content, label, "utf-16")
        return _declare_utf8(_strict(content, name, label))
    try:
        return _declare_utf8(content.decode("utf-8"))
    except UnicodeDecodeError as error:
        utf8_error = error
    try:
        text = content.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(_CHINESE.match(c) for c in text if ord(c) > 127):
        return _declare_utf8(text)
    line = content[:utf8_error.start].count(b"\n") + 1
    raise DocumentError([Finding("document", line, (
        f"line {line} is not UTF-8 (byte 0x{content[utf8_error.start]:02X}) and the file declares no encoding; "
        "save it as UTF-8, or declare the encoding it is written in: <?xml version=\"1.0\" encoding=\"GBK\"?> "
        "(or ISO-8859-1, UTF-16)"), code="document-encoding",
        message_zh=(f"第 {line} 行不是 UTF-8 编码（字节 0x{content[utf8_error.start]:02X}），文件也未声明编码；"
                    "请另存为 UTF-8，或声明文件实际使用的编码：<?xml version=\"1.0\" encoding=\"GBK\"?>"
                    "（或 ISO-8859-1、UTF-16）"))])


def _strict(content: bytes, codec: str, label: str) -> str:
    try:
        return content.decode(codec)
    except UnicodeDecodeError as error:
        raise _encoding_finding(content, label, codec, error) from None


def _encoding_finding(content: bytes, label: str, codec: str, error: UnicodeDecodeError | None = None) -> DocumentError:
    if error is None:  # a UTF-16 declaration read as ASCII: the bytes are 8-bit
        return DocumentError([Finding("document", 1, (
            f"the file declares the encoding {label} but is not written in it (no byte order mark); save it again as UTF-8 "
            "or UTF-16 with its byte order mark"), code="document-encoding",
            message_zh=f"文件声明的编码为 {label}，实际并非该编码（没有字节顺序标记）；请另存为 UTF-8 或带字节顺序标记的 UTF-16")])
    line = content[:error.start].count(b"\n") + 1 if codec.startswith(("utf-8", "gb", "latin", "iso")) else None
    hint, hint_zh = "", ""
    if codec == "utf-8":
        try:
            sample = content.decode("gb18030")
            if all(_CHINESE.match(c) for c in sample if ord(c) > 127):
                hint, hint_zh = "; it reads as GBK: declare encoding=\"GBK\"", "；它看来是 GBK 编码：请声明 encoding=\"GBK\""
        except UnicodeDecodeError:
            pass
    where = f"line {line}" if line else "the file"
    where_zh = f"第 {line} 行" if line else "文件"
    return DocumentError([Finding("document", line, (
        f"the file declares the encoding {label} but {where} is not {label} (byte 0x{content[error.start]:02X}){hint}; "
        "save it in the encoding it declares, or change the declaration"), code="document-encoding",
        message_zh=(f"文件声明的编码为 {label}，但{where_zh}不是 {label} 编码（字节 0x{content[error.start]:02X}）{hint_zh}；"
                    "请按声明的编码保存，或修改声明"))])


def _declare_utf8(text: str) -> str:
    text = text.lstrip("\ufeff")
    # a UTF-8 declaration is kept as written: the same bytes are the same version
    return _DECLARED_TEXT.sub(lambda m: m.group(0) if m.group(3).lower().replace("_", "-") in ("utf-8", "utf8")
                              else f"{m.group(1)}{m.group(2)}UTF-8{m.group(2)}", text, count=1)
