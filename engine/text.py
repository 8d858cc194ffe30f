"""Text and numbers as Duban stores them: the checks every door applies before the database.

- ids are 1..2^31-1 (an INTEGER on PostgreSQL; SQLite would take 2^63-1);
- text holds no lone surrogates (they cannot be encoded in UTF-8), no NUL (PostgreSQL refuses
  it) and no other control character but tab, newline and carriage return;
- problem codes compare after NFKC, without zero-width characters and surrounding spaces, so
  that `ＮＬ-001`, `NL-001 ` and `NL\u200b-001` are one code.
"""
from __future__ import annotations

import re
import unicodedata

ID_MAX = 2**31 - 1

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# zero-width space, non-joiner, joiner, word joiner, BOM, soft hyphen, Mongolian vowel separator
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e]")


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored as it is, or None."""
    if _SURROGATE.search(text):
        return "contains a lone surrogate (not valid Unicode text)"
    if "\x00" in text:
        return "contains a NUL byte"
    if _CONTROL.search(text):
        return "contains a control character"
    return None


def normal_code(code: str) -> str:
    """A problem code as stored and compared: NFKC (full-width letters and digits become
    ASCII), zero-width characters removed, surrounding whitespace trimmed."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", code)).strip()
