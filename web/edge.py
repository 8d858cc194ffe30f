"""The request edge: what every request's path, query, form and JSON must be before any view
reads it.

- ids in paths (`<int:...>`) are 1..2^31-1, what both SQLite and PostgreSQL store: a larger
  one matches no route (404, like a missing row) instead of overflowing the database;
- a JSON body is at most `MAX_JSON_BYTES` and `MAX_JSON_DEPTH` levels deep;
- text is NFC; a lone surrogate, a NUL byte or another control character (tab, newline and
  carriage return aside) is refused naming the field, in JSON bodies, forms and query strings.

A refusal raises `BadInput`, which the API answers 400 (413 for size) with the usual error
body naming the field, and the pages answer with their 400 page.
"""
from __future__ import annotations

import json
import unicodedata

from flask import Flask, Request, request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter

from engine.errors import Invalid
from engine.text import ID_MAX, text_problem

MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32


def _up_to(limit: int) -> str:
    """A regular expression matching exactly the whole numbers 1..limit, written without
    leading zeros: the router then never hands a view a number the database cannot hold, and an
    out-of-range id matches no rule (404) rather than half-matching one (which werkzeug would
    report as 405 when a sibling rule has another method)."""
    digits = str(limit)
    parts = [rf"[1-9]\d{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        rest = len(digits) - i - 1
        low = "1" if i == 0 else "0"
        if i == len(digits) - 1:
            parts.append(f"{digits[:i]}[{low}-{digit}]")
        elif int(digit) > int(low):
            parts.append(f"{digits[:i]}[{low}-{int(digit) - 1}]\\d{{{rest}}}")
    return "(?:" + "|".join(parts) + ")"


class IdConverter(IntegerConverter):
    """`<int:x>` / `<id:x>`: a whole number from 1 to 2^31-1; anything else matches no route."""

    regex = _up_to(ID_MAX)

    def __init__(self, map, fixed_digits: int = 0, min: int | None = 1, max: int | None = ID_MAX,
                 signed: bool = False):
        super().__init__(map, fixed_digits, 1 if min is None else min, ID_MAX if max is None else max, False)


class BadInput(Invalid):
    """Refused at the edge; `status` is 400, or 413 for a body over its limit."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None, status: int = 400):
        super().__init__(message, errors)
        self.status = status


def install(app: Flask) -> None:
    """Call before any route is registered: the converters bind when a rule is added."""
    app.url_map.converters["int"] = IdConverter
    app.url_map.converters["id"] = IdConverter
    app.before_request(check_request)


def check_request() -> None:
    if request.args:
        request.args = _clean_multidict(request.args, "query")
    if request.is_json and request.method not in ("GET", "HEAD", "OPTIONS"):
        _load_json(request)
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if request.form:
            request.form = _clean_multidict(request.form, "form")


def _clean_multidict(values, where: str) -> ImmutableMultiDict:
    cleaned = []
    for key, value in values.items(multi=True):
        for part in (key, value):
            problem = text_problem(part)
            if problem:
                raise BadInput(f"the {where} parameter {_printable(key)!r} {problem}", {_printable(key): [problem]})
        cleaned.append((unicodedata.normalize("NFC", key), unicodedata.normalize("NFC", value)))
    return ImmutableMultiDict(cleaned)


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:100]


def _load_json(req: Request) -> None:
    """Parse the body once, with the limits, and leave the result where Flask's and webargs'
    readers find it (`get_json()` answers from its cache)."""
    if req.content_length is not None and req.content_length > MAX_JSON_BYTES:
        raise BadInput("the JSON body is too large", {"request": [f"at most {MAX_JSON_BYTES // 1024} KiB of JSON"]},
                       status=413)
    raw = req.get_data(cache=True)
    if len(raw) > MAX_JSON_BYTES:
        raise BadInput("the JSON body is too large", {"request": [f"at most {MAX_JSON_BYTES // 1024} KiB of JSON"]},
                       status=413)
    if not raw.strip():
        return  # an empty body: the view's own "missing field" messages say what is wanted
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BadInput("the JSON body is nested too deeply",
                       {"request": [f"at most {MAX_JSON_DEPTH} levels of nesting"]}) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise BadInput("the body is not valid JSON", {"request": [f"Invalid JSON body: {error}"]}) from None
    value = clean_json(value)
    req._cached_json = (value, value)


def clean_json(value):
    """NFC-normalised copy of a parsed JSON value; refuses deep nesting and bad text, naming
    the path of the field (`data.remark`, `sites.0`). Iterative: no recursion to exhaust."""
    root: list = [value]
    stack = [(root, 0, value, "", 0)]
    while stack:
        parent, slot, item, path, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise BadInput(f"{path or 'the body'} {problem}", {path or "request": [problem]})
            parent[slot] = unicodedata.normalize("NFC", item)
        elif isinstance(item, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise BadInput("the JSON body is nested too deeply",
                               {path or "request": [f"at most {MAX_JSON_DEPTH} levels of nesting"]})
            if isinstance(item, dict):
                copy = {}
                for key, inner in item.items():
                    name = f"{path}.{key}" if path else str(key)
                    problem = text_problem(key)
                    if problem:
                        shown = _printable(name)
                        raise BadInput(f"the field name {shown!r} {problem}", {shown: [problem]})
                    copy[unicodedata.normalize("NFC", key)] = inner
                parent[slot] = copy
                stack.extend((copy, key, inner, f"{path}.{key}" if path else key, depth + 1)
                             for key, inner in copy.items())
            else:
                copy = list(item)
                parent[slot] = copy
                stack.extend((copy, index, inner, f"{path}.{index}" if path else str(index), depth + 1)
                             for index, inner in enumerate(copy))
    return root[0]


def at_most(threads: int, wsgi_app, wait: float = 30.0):
    """A WSGI app that lets `threads` requests in at a time (Werkzeug's threaded server starts
    a thread per connection); one that waits longer than `wait` seconds is answered 503 with
    Retry-After: the JSON error body, or a static page in both languages for a browser
    (web/busy.py)."""
    import threading

    from .busy import gate_answer

    gate = threading.BoundedSemaphore(threads)

    def gated(environ, start_response):
        if not gate.acquire(timeout=wait):
            return gate_answer(environ, start_response)
        try:
            return _Released(wsgi_app(environ, start_response), gate.release)
        except BaseException:
            gate.release()
            raise

    return gated


class _Released:
    """A response body that gives its place back once the server has sent it (or given up)."""

    def __init__(self, body, release):
        self.body, self._release = body, release

    def __iter__(self):
        return iter(self.body)

    def close(self):
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            release, self._release = self._release, None
            if release:
                release()
