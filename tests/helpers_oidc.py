"""A real OpenID provider for the single sign-on tests: oidc-provider (certified), run by node
from tests/oidc/provider.mjs on a free port, with Duban's client registered for `duban` (the
base URL of the Duban the test signs in to) and the accounts below."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from .served import free_port

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "oidc" / "provider.mjs"
CLIENT_ID, CLIENT_SECRET = "duban", "duban-test-client-secret-0123456789"
ACCOUNTS = {
    "zhangke": {"password": "pw-zhangke", "sub": "sub-zhangke",
                "claims": {"preferred_username": "zhangke", "name": "张科长", "email": "zhangke@qj.gov.cn",
                           "employee_number": "QJ-0042", "groups": ["duban-officials"]}},
    "mover": {"password": "pw-mover", "sub": "sub-mover",
              "claims": {"preferred_username": "mover", "name": "调动者", "groups": ["duban-officials"]}},
    "wanderer": {"password": "pw-wanderer", "sub": "sub-wanderer",
                 "claims": {"preferred_username": "wanderer", "name": "访客", "groups": ["visitors"]}},
    "chenadmin": {"password": "pw-chen", "sub": "sub-chen",
                  "claims": {"preferred_username": "chenadmin", "name": "陈管理", "groups": ["duban-admins"]}},
    "limfa": {"password": "pw-li", "sub": "sub-li", "amr": ["mfa"],
              "claims": {"preferred_username": "limfa", "name": "李管理", "groups": ["duban-admins"]}},
}


def missing() -> str | None:
    """Why the provider cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (make install installs it)"
    if not (ROOT / "node_modules" / "oidc-provider").is_dir():
        return "the npm package oidc-provider is missing (make install runs npm ci)"
    return None


def config_text(issuer: str, duban: str) -> str:
    return f"""
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
redirect_uri = "{duban}/login/oidc/callback"
post_logout_redirect_uri = "{duban}/login"
timeout = 3

[attributes]
employee_number = "employee_number"

[[group_mappings]]
group = "duban-officials"
role = "official"

[[group_mappings]]
group = "duban-admins"
role = "admin"
"""


@contextmanager
def running_provider(folder: Path, duban: str):
    """oidc-provider on a free port until the block ends; yields (its issuer, the accounts file,
    which a test may rewrite: the provider reads it at every sign-in)."""
    accounts = folder / "accounts.json"
    accounts.write_text(json.dumps(ACCOUNTS, ensure_ascii=False))
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    log = folder / "provider.log"
    env = dict(os.environ, PORT=str(port), ACCOUNTS=str(accounts), CLIENT_ID=CLIENT_ID,
               CLIENT_SECRET=CLIENT_SECRET, REDIRECT_URI=f"{duban}/login/oidc/callback",
               POST_LOGOUT_URI=f"{duban}/login")
    with open(log, "wb") as out:
        process = subprocess.Popen([shutil.which("node"), str(SCRIPT)], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"oidc-provider did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        yield issuer, accounts
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
