"""DUBAN_RATELIMIT_STORAGE: redis:// shares the count of failed sign-ins between workers (two
apps here, as two gunicorn workers would be), against the Redis server on 127.0.0.1:6379; a
storage Duban cannot use stops the start with an error naming the setting."""
from __future__ import annotations

import socket
import uuid

import pytest
from click.testing import CliRunner

from engine.errors import Misconfigured

from .hardening_support import make_app

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_server():
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError:
        pytest.skip("no Redis server listens on 127.0.0.1:6379 (CI and the development machine run one)")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


def test_two_workers_share_the_count_of_failed_sign_ins_in_redis(duban, org, monkeypatch, redis_server):
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"  # this test's own key
    workers = [make_app(duban, monkeypatch, DUBAN_RATELIMIT_STORAGE=REDIS_URL, DUBAN_LOGIN_RATE_LIMIT="3/minute")
               for _ in range(2)]
    clients = [worker.test_client() for worker in workers]
    wrong = {"username": "admin", "password": "not-the-password"}
    try:
        statuses = [clients[n % 2].post("/api/auth/token", json=wrong, environ_base={"REMOTE_ADDR": address}).status_code
                    for n in range(4)]
        assert statuses == [401, 401, 401, 429]  # 2 + 1 failures on the two workers: the third counted on both
        refused = clients[0].post("/api/auth/token", json=wrong, environ_base={"REMOTE_ADDR": address})
        assert refused.status_code == 429 and refused.json["code"] == "too_many_requests"
        keys = [key for key in redis_server.scan_iter(f"*{address}*")]
        assert keys, "the count is not in Redis"
        # a different address is counted apart
        other = clients[1].post("/api/auth/token", json=wrong, environ_base={"REMOTE_ADDR": address + "1"})
        assert other.status_code == 401
    finally:
        for key in redis_server.scan_iter(f"*{address}*"):
            redis_server.delete(key)


@pytest.mark.parametrize("url, words", [
    ("bogus://somewhere", ["is not usable", "bogus://somewhere"]),
    ("redis://127.0.0.1:1/0", ["does not answer"]),                 # nothing listens on port 1
    ("redis://duban:s3cret-pass@127.0.0.1:1/0", ["does not answer", "duban:***@127.0.0.1:1"]),
    ("redis://127.0.0.1:notaport/0", ["is not usable"]),
])
def test_a_storage_duban_cannot_use_stops_the_start_naming_the_setting(duban, monkeypatch, url, words):
    with pytest.raises(Misconfigured) as refused:
        make_app(duban, monkeypatch, DUBAN_RATELIMIT_STORAGE=url)
    message = refused.value.message
    assert message.startswith("DUBAN_RATELIMIT_STORAGE=") and all(word in message for word in words), message
    assert list(refused.value.errors) == ["DUBAN_RATELIMIT_STORAGE"]
    assert "s3cret" not in message + str(refused.value.errors)


def test_duban_serve_refuses_to_start_with_it(database_url, tmp_path):
    from web.cli import main

    env = {"DUBAN_DATABASE_URL": database_url, "DUBAN_INSTANCE_PATH": str(tmp_path / "cli"),
           "DUBAN_RATELIMIT_STORAGE": "bogus://somewhere"}
    result = CliRunner().invoke(main, ["serve", "--no-scheduler", "--port", "1"], env=env)
    assert result.exit_code == 2, result.output
    assert "error: DUBAN_RATELIMIT_STORAGE='bogus://somewhere' is not usable" in result.output
    assert "  DUBAN_RATELIMIT_STORAGE: not a storage the rate limiter can use" in result.output
