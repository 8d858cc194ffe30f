"""Form `pattern`s on RE2, whose matching time is linear in the answer's length.

Python's `re` backtracks: `^(a+)+$` against 41 characters takes minutes. RE2 cannot take
longer than linear time, but reads a few things differently, so a pattern is translated
first: `\\uXXXX` and `\\UXXXXXXXX` become `\\x{...}`, `\\Z` becomes `\\z`, and `\\d`, `\\w`, `\\s`
(ASCII in RE2, Unicode in Python: a Chinese name is `\\w+` in Python) become Unicode classes.
What RE2 cannot do (look-around, back-references) is refused with its own words.
"""
from __future__ import annotations

import functools

import re2

MAX_PATTERN_LENGTH = 1000
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = 8 << 20
# Python's Unicode classes, spelled for RE2 (inside [...] without the brackets)
_CLASSES = {"d": r"\p{Nd}", "w": r"\p{L}\p{N}\p{Mn}_", "s": r"\s\x{0B}\x{1C}-\x{1F}\x{85}\p{Z}"}


class PatternRefused(ValueError):
    """A pattern that cannot be run on RE2; the message says what and why."""


def translate(pattern: str) -> str:
    """`pattern` (Python syntax) in RE2's syntax, with Python's meaning."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            letter = pattern[i + 1]
            if letter in "uU":
                width = 4 if letter == "u" else 8
                digits = pattern[i + 2:i + 2 + width]
                if len(digits) != width or any(c not in "0123456789abcdefABCDEF" for c in digits):
                    raise PatternRefused(f"\\{letter} needs {width} hexadecimal digits")
                out.append(f"\\x{{{digits}}}")
                i += 2 + width
                continue
            if letter == "Z":
                out.append("\\z")
            elif letter == "N":
                raise PatternRefused("\\N{...} (a character by name) is not supported; write the character")
            elif letter in _CLASSES:
                out.append(_CLASSES[letter] if in_class else f"[{_CLASSES[letter]}]")
            elif letter.lower() in _CLASSES:
                if in_class:
                    raise PatternRefused(f"\\{letter} inside [...] is not supported; write a negated class [^...]")
                out.append(f"[^{_CLASSES[letter.lower()]}]")
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            out.append(char)
            i += 1
            for prefix in ("^", "]"):  # a ] first in a class is a literal
                if pattern[i:i + 1] == prefix:
                    out.append("\\]" if prefix == "]" else prefix)
                    i += 1
            continue
        if char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str):
    """The compiled RE2 pattern; PatternRefused if RE2 cannot run it."""
    if not isinstance(pattern, str):
        raise PatternRefused("a pattern is text")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternRefused(f"the pattern is {len(pattern)} characters long; at most {MAX_PATTERN_LENGTH}")
    try:
        return re2.compile(translate(pattern), _OPTIONS)
    except re2.error as error:
        detail = error.args[0] if error.args else error
        detail = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        raise PatternRefused(f"not supported by the linear-time matcher (RE2): {detail}") from None


def matches(pattern: str, value: str) -> bool:
    """Whether `value` matches `pattern` from its start (Python's re.match)."""
    return compile_pattern(pattern).match(value) is not None
