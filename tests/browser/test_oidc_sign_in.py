"""统一身份认证 in a real browser, under the Content-Security-Policy: the sign-in page's button
takes Chromium to the provider (oidc-provider, run by node), its form signs the person in and
sends them back signed in to Duban; 退出 posts the sign-out form, which goes on to the provider's
end_session_endpoint (the policy's form-action lets it), and Duban's session has ended."""
from __future__ import annotations

import re
import threading

import pytest
from playwright.sync_api import expect

from engine import oidc

from ..helpers_oidc import config_text, missing, running_provider
from ..served import free_port


@pytest.fixture
def oidc_server(duban, org, tmp_path, monkeypatch):
    """Duban on a port fixed before the provider starts (its callback is registered there),
    configured for the provider; yields (Duban's base URL, the provider's issuer)."""
    from werkzeug.serving import make_server

    from web import create_app

    if missing():
        pytest.skip(missing())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running_provider(tmp_path, base) as (issuer, _accounts):
        path = tmp_path / "oidc.toml"
        path.write_text(config_text(issuer, base))
        monkeypatch.setenv(oidc.ENV, str(path))
        app = create_app(duban=duban)
        httpd = make_server("127.0.0.1", port, app, threaded=True)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield base, issuer
        finally:
            httpd.shutdown()
            thread.join(5)


def test_signing_in_and_out_through_the_provider_in_a_browser(oidc_server, page, shoot):
    base, issuer = oidc_server
    page.goto(f"{base}/login")
    page.get_by_role("link", name="统一身份认证").click()
    expect(page).to_have_url(re.compile(re.escape(issuer) + r"/interaction/"))
    page.locator('input[name="login"]').fill("zhangke")
    page.locator('input[name="password"]').fill("pw-zhangke")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(base) + r"/tasks"))
    expect(page.get_by_role("button", name="退出")).to_be_visible()
    shoot(page, "signed-in")

    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url(re.compile(re.escape(issuer) + r"/session/end"))
    shoot(page, "provider-sign-out")
    page.goto(f"{base}/tasks")
    expect(page).to_have_url(re.compile(r"/login\?next=/tasks"))
    assert page.js_errors == []
