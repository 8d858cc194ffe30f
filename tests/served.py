"""A real `duban serve` in a subprocess, on a free port of 127.0.0.1, with the demo loaded:
for the tests that need a real server (concurrency, OpenAPI conformance)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent
DEMO_PASSWORD = "duban-demo"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def duban_env(database_url: str, instance: Path) -> dict:
    env = dict(os.environ, DUBAN_DATABASE_URL=database_url, DUBAN_INSTANCE_PATH=str(instance),
               DUBAN_SECRET_KEY="served-test-secret", PYTHONUNBUFFERED="1")
    env.pop("DUBAN_TEST_DATABASE_URL", None)
    return env


def load_demo(env: dict) -> str:
    subprocess.run([str(BIN / "duban"), "db", "upgrade"], env=env, check=True, capture_output=True, timeout=300)
    done = subprocess.run([str(BIN / "duban"), "demo"], env=env, check=True, capture_output=True, text=True,
                          timeout=600)
    return done.stdout


@contextmanager
def serving(env: dict, log: Path, *options: str):
    """`duban serve` on a free port; yields its base URL; stopped (SIGINT, then killed) after."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen([str(BIN / "duban"), "serve", "--host", "127.0.0.1", "--port", str(port), *options],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"duban serve did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def token(base: str, username: str, password: str = DEMO_PASSWORD) -> str:
    request = urllib.request.Request(f"{base}/api/auth/token", method="POST",
                                     data=json.dumps({"username": username, "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["token"]


@contextmanager
def demo_served(database_url: str, folder: Path):
    """The demo loaded into `database_url` and served; yields (base URL, the server's log)."""
    env = duban_env(database_url, folder / "instance")
    load_demo(env)
    with serving(env, folder / "serve.log") as base:
        yield base, folder / "serve.log"
