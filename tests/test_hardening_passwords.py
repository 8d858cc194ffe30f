"""The password policy: length, common passwords, the user name, runs and repetitions, two
kinds of characters (passphrases excepted); refused by the engine, the API (naming the
`password` field) and the pages (in Chinese); the demo's password still passes."""
from __future__ import annotations

import pytest

from engine import demo, password_policy

from .hardening_support import csrf_of, page_login

CASES = [  # password, user name, the rule it breaks (None: accepted)
    ("1234567890", "chen", "password_common"),
    ("0987654321", "chen", "password_common"),
    ("short-1", "chen", "password_short"),
    ("x" * 201, "chen", "too_long"),
    ("Password123", "chen", "password_common"),
    ("qwerty123456!", "chen", "password_common"),
    ("woaini1314!!", "chen", "password_common"),
    ("chenxiaoming-2026", "chen", "password_username"),
    ("CHEN-river-bank", "chen", "password_username"),
    ("aaaaaaaaaaaa", "chen", "password_sequence"),
    ("abcabcabcabc", "chen", "password_sequence"),
    ("3456789012", "chen", "password_sequence"),
    ("zyxwvutsrqpo", "chen", "password_sequence"),
    ("riverbanks", "chen", "password_classes"),
    ("9371846205", "chen", "password_classes"),
    ("green river banks at dawn", "chen", None),  # a passphrase: one kind is enough
    ("环保督察整改工作二零二六年春天来了", "chen", None),
    ("Harbour-lights-42", "chen", None),
    (demo.PASSWORD, "admin", None),
    ("test-password", "responsible", None),
]


@pytest.mark.parametrize("password,username,rule", CASES)
def test_the_policy(password, username, rule):
    broken = password_policy.problems(password, username)
    assert (broken.code if broken else None) == rule


def test_the_common_list_is_shipped_and_read():
    common = password_policy.common_passwords()
    assert 5000 < len(common) < 10000 and "1234567890" in common and "password" in common


def test_the_api_refuses_a_weak_password_naming_the_field(api, org):
    response = api.post("/api/users", as_="admin", json={"username": "chen", "display_name": "陈干部",
                                                         "password": "1234567890", "roles": ["official"]})
    assert response.status_code == 400 and list(response.json["errors"]) == ["password"]
    assert "common" in response.json["errors"]["password"][0]
    response = api.client.patch(f"/api/users/{org['user:responsible']}", json={"password": "responsible-42"},
                                headers={"Authorization": f"Bearer {api.token('admin')}"})
    assert response.status_code == 400 and "user name" in response.json["errors"]["password"][0]


def test_the_page_says_it_in_chinese(app, org):
    client = app.test_client()
    page_login(client, "admin")
    page = client.get(f"/admin/users/{org['user:responsible']}").get_data(as_text=True)
    response = client.post(f"/admin/users/{org['user:responsible']}/password",
                           data={"password": "1234567890", "csrf_token": csrf_of(page)})
    assert response.status_code == 400
    assert "这是最常见的密码之一" in response.get_data(as_text=True)
