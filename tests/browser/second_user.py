"""A second person's browser beside the `page` fixture's (the office deciding what an official
asked, the discipline office reading what the office did), watched for Content-Security-Policy
violations like the fixture's: a test that saw any fails."""
from __future__ import annotations

from contextlib import contextmanager

from .conftest import REPORT_VIOLATIONS, _violation


@contextmanager
def another_user(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.add_init_script(REPORT_VIOLATIONS)
    violations: list[str] = []
    context.on("console", lambda message: (found := _violation(message)) and violations.append(found))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)
    assert not errors, errors
