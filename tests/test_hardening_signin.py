"""Signing in under attack: failed sign-ins per address are rate-limited (429 with the JSON
error body on the API, a message on the page; successes do not count); a user name is locked
after 5 failures in 15 minutes, for 15 minutes on the engine's clock, whether an account of
that name exists or not; an unknown name and a wrong password get the same answer in the same
time."""
from __future__ import annotations

import json
import re
import statistics
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from engine import accounts, clock
from engine.errors import Locked, Unauthenticated
from engine.models import User

from .hardening_support import csrf_of, make_app
from .support import PASSWORD


def token_request(client, username, password, **kwargs):
    return client.post("/api/auth/token", json={"username": username, "password": password}, **kwargs)


def test_the_api_answers_429_after_ten_failures_from_one_address(duban, org):
    client = make_app(duban).test_client()
    for n in range(10):  # a different name each time: no lockout, only the address counts
        assert token_request(client, "admin", PASSWORD).status_code == 200  # successes are free
        assert token_request(client, f"nobody{n}", "wrong-password-1").status_code == 401
    refused = token_request(client, "admin", PASSWORD)
    assert refused.status_code == 429
    assert refused.json["code"] == "too_many_requests" and set(refused.json) == {"code", "message", "errors"}
    assert int(refused.headers["Retry-After"]) > 0
    other = token_request(client, "admin", PASSWORD, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 200  # another address is not held back


def test_the_sign_in_page_says_so_after_ten_failures(duban, org):
    client = make_app(duban).test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    for n in range(10):
        response = client.post("/login", data={"username": f"nobody{n}", "password": "x", "csrf_token": token})
        assert response.status_code == 401
    response = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 429
    assert "本机登录失败次数过多" in response.get_data(as_text=True)
    assert client.get("/login").status_code == 200  # looking at the page is not limited


def test_a_name_is_locked_after_five_failures_and_unlocks_on_the_engine_clock(api, org):
    def answers(name, password, address):  # two addresses: under the per-address limit
        response = token_request(api.client, name, password, environ_base={"REMOTE_ADDR": address})
        return response.status_code, response.json

    known = [answers("responsible", "wrong-password-1", "192.0.2.1") for _ in range(5)]
    unknown = [answers("nobody-here", "wrong-password-1", "192.0.2.2") for _ in range(5)]
    assert known == unknown  # the same answers, status and body, whether the account exists
    assert [status for status, _ in known] == [401, 401, 401, 401, 429]
    assert known[0][1] == {"code": "unauthenticated", "message": "wrong username or password", "errors": {}}
    assert known[4][1]["code"] == "locked" and "15 minutes" in known[4][1]["message"]

    locked = token_request(api.client, "responsible", PASSWORD)  # even the right password
    assert locked.status_code == 429 and locked.json["code"] == "locked"
    assert 14 * 60 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert token_request(api.client, "eco_clerk", PASSWORD).status_code == 200  # other names go on

    clock.advance(timedelta(minutes=14, seconds=59))
    assert token_request(api.client, "responsible", PASSWORD).status_code == 429
    clock.advance(timedelta(seconds=1))
    assert token_request(api.client, "responsible", PASSWORD).status_code == 200


def test_failures_older_than_the_window_do_not_count(duban, org):
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            duban.sign_in("responsible", "wrong-password-1")
    clock.advance(timedelta(minutes=15))
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            duban.sign_in("responsible", "wrong-password-1")
    assert duban.sign_in("responsible", PASSWORD)[0].username == "responsible"  # success clears the count
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            duban.sign_in("responsible", "wrong-password-1")
    with pytest.raises(Locked):
        duban.sign_in("responsible", "wrong-password-1")


def test_the_page_shows_the_lockout_without_telling_whether_the_name_exists(duban, org):
    client = make_app(duban).test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    pages = {}
    for name in ("responsible", "nobody-here"):
        for _ in range(5):
            response = client.post("/login", data={"username": name, "password": "wrong-pass-1",
                                                   "csrf_token": token})
        pages[name] = response
    assert {r.status_code for r in pages.values()} == {429}
    texts = [re.sub(r'[\w-]{20,}\.[\w-]{6}\.[\w-]{20,}', "TOKEN", r.get_data(as_text=True)).replace(name, "NAME")
             for name, r in pages.items()]
    assert texts[0] == texts[1] and "已暂时锁定，请 15 分钟后再试" in texts[0]


def test_an_unknown_name_costs_what_a_wrong_password_costs(duban, org):
    def median_seconds(attempts):
        times = []
        for name, password in attempts:
            started = time.perf_counter()
            with pytest.raises(Unauthenticated):
                duban.sign_in(name, password)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    users = ["responsible", "eco_clerk", "eco_head", "housing_head", "outsider", "secretary", "magistrate"]
    strong = accounts.hash_password(PASSWORD)  # the product's own parameters (the test org's hash is light)
    with duban.db.transaction() as session:
        session.execute(update(User).where(User.username.in_(users + ["admin"])).values(password_hash=strong))
    duban.sign_in("admin", PASSWORD)  # warm: the dummy hash is made once
    wrong = median_seconds([(name, "wrong-password-1") for name in users])
    unknown = median_seconds([(f"nobody{n}", "wrong-password-1") for n in range(len(users))])
    assert 0.5 < unknown / wrong < 2, (unknown, wrong)
    assert wrong > 0.005  # both do the argon2 work (a lookup alone takes well under a millisecond)


def test_hostile_names_and_passwords_are_only_wrong(api, org):
    for name, password in [("a\ud800b", "x"), ("admin", "pass\ud800word"), ("ad\x00min", "x"), ("x" * 5000, "y")]:
        body = json.dumps({"username": name, "password": password})  # \ud800 escaped, as a client sends it
        response = api.client.post("/api/auth/token", data=body, content_type="application/json")
        assert response.status_code in (400, 401), (name[:10], response.json)
