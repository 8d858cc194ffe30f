"""Helpers the tests share: a small organisation, an API client that signs in."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from argon2 import PasswordHasher

from engine import accounts, second_factor
from engine.models import Official, Post, PostKind, Region, RegionLevel, Role, Unit, UnitKind

PASSWORD = "test-password"


@cache
def light_hash() -> str:
    """PASSWORD's argon2id hash for the test organisation's accounts, made once a process with
    the lightest parameters: verifying it at each sign-in costs a millisecond, not the tenth of
    a second the product's own parameters cost on purpose (a hash carries its parameters, so
    the product verifies it as any other; accounts made through the product get its own)."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
SPIFF_NS = 'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'


def for_problems(document, purpose: str = "problem"):
    """The BPMN document (text or bytes) with its process declaring `purpose` (property
    purpose, bpmn/README.md): a fixture that sets no problemStatus needs it before problems
    can be registered on it."""
    raw = isinstance(document, bytes)
    text = document.decode("utf-8") if raw else document
    if SPIFF_NS not in text:
        text = text.replace("<bpmn:definitions ", f"<bpmn:definitions {SPIFF_NS} ", 1)
    start = text.index("<bpmn:process ")
    end = text.index(">", start) + 1
    declaration = (f'<spiffworkflow:properties><spiffworkflow:property name="purpose" value="{purpose}" />'
                   '</spiffworkflow:properties>')
    if text[end:].lstrip().startswith("<bpmn:extensionElements>"):   # the process has some already
        end = text.index("<bpmn:extensionElements>", end) + len("<bpmn:extensionElements>")
        text = text[:end] + declaration + text[end:]
    else:
        text = text[:end] + f"<bpmn:extensionElements>{declaration}</bpmn:extensionElements>" + text[end:]
    return text.encode("utf-8") if raw else text


@dataclass
class Org:
    ids: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, name: str) -> int:
        return self.ids[name]


def build_org(duban) -> Org:
    """清江市 with one county: its Party committee and government, two departments, the
    rectification office and the discipline office, officials in posts, and their accounts."""
    org = Org()
    hashed = light_hash()
    with duban.db.transaction() as session:
        city = Region(name="清江市", level=RegionLevel.CITY)
        county = Region(name="南岭县", level=RegionLevel.COUNTY, parent=city)
        town = Region(name="青石镇", level=RegionLevel.TOWNSHIP, parent=county)
        units = {
            "county_party": Unit(name="中共南岭县委员会", kind=UnitKind.PARTY_COMMITTEE, region=county),
            "county_gov": Unit(name="南岭县人民政府", kind=UnitKind.GOVERNMENT, region=county),
            "eco": Unit(name="南岭县生态环境分局", kind=UnitKind.DEPARTMENT, region=county),
            "housing": Unit(name="南岭县住房和城乡建设局", kind=UnitKind.DEPARTMENT, region=county),
            "office": Unit(name="市环督办", kind=UnitKind.OFFICE, region=city),
            "discipline": Unit(name="市纪委监委", kind=UnitKind.DISCIPLINE, region=city),
        }
        session.add_all([city, county, town, *units.values()])
        people = {  # key: (name, [(unit, title, kind, head)], roles)
            "secretary": ("周书记", [("county_party", "县委书记", PostKind.PARTY, True)], {Role.LEADER}),
            "magistrate": ("吴县长", [("county_gov", "县长", PostKind.GOVERNMENT, True)], {Role.LEADER}),
            "eco_head": ("李局长", [("eco", "局长", PostKind.DEPARTMENT, True),
                                   ("eco", "党组书记", PostKind.PARTY, True)], {Role.OFFICIAL}),
            "eco_clerk": ("赵科员", [("eco", "科员", PostKind.DEPARTMENT, False)], {Role.OFFICIAL}),
            "responsible": ("张科长", [("housing", "科长", PostKind.DEPARTMENT, False)], {Role.OFFICIAL}),
            "housing_head": ("王局长", [("housing", "局长", PostKind.DEPARTMENT, True)], {Role.OFFICIAL}),
            "outsider": ("孙站长", [("county_gov", "站长", PostKind.GOVERNMENT, False)], {Role.OFFICIAL}),
        }
        officials = {}
        for key, (name, posts, roles) in people.items():
            official = Official(name=name, party_member=True)
            session.add(official)
            for unit_key, title, kind, head in posts:
                session.add(Post(official=official, unit=units[unit_key], title=title, kind=kind, is_head=head))
            session.flush()
            user = accounts.create_user(session, key, name, None, roles, official.id, password_hash=hashed)
            officials[key] = official
            org.ids[f"user:{key}"] = user.id
            org.ids[key] = official.id
        for key in ("admin", "jiwei"):
            role = Role.ADMIN if key == "admin" else Role.DISCIPLINE
            org.ids[f"user:{key}"] = accounts.create_user(session, key, key, None, {role}, password_hash=hashed).id
        # the tests of the second factor switch it on again (tests/test_second_factor.py)
        second_factor.set_required(session, False, "the test organisation")
        session.flush()
        org.ids.update({"city": city.id, "county": county.id, "town": town.id})
        org.ids.update({key: unit.id for key, unit in units.items()})
    return org


def problem_body(org: Org, **overrides) -> dict:
    body = {
        "code": "NL-2026-001", "title": "县城污水处理厂出水超标", "description": "督察发现县城污水处理厂出水氨氮超标排放。",
        "source": "provincial", "batch": "2025年省级督察", "category": "water", "region_id": org["county"],
        "lead_unit_id": org["eco"], "responsible_official_id": org["responsible"],
        "leading_official_id": org["magistrate"], "industry_unit_id": org["housing"],
        "cooperating_unit_ids": [org["housing"]], "deadline_kind": "by_date", "deadline": "2026-06-30",
        "sites": ["县城污水处理厂", "城北排口"],
    }
    body.update(overrides)
    return body


class Api:
    """The Flask test client, signed in as one of the organisation's users at a time."""

    def __init__(self, client, org: Org):
        self.client, self.org, self._tokens = client, org, {}

    def token(self, username: str) -> str:
        if username not in self._tokens:
            response = self.client.post("/api/auth/token", json={"username": username, "password": PASSWORD})
            assert response.status_code == 200, response.json
            self._tokens[username] = response.json["token"]
        return self._tokens[username]

    def _headers(self, username: str | None, headers: dict | None = None) -> dict:
        headers = dict(headers or {})
        if username:
            headers["Authorization"] = f"Bearer {self.token(username)}"
        return headers

    def get(self, path: str, as_: str | None = None, **kwargs):
        return self.client.get(path, headers=self._headers(as_), **kwargs)

    def post(self, path: str, as_: str | None = None, headers: dict | None = None, **kwargs):
        return self.client.post(path, headers=self._headers(as_, headers), **kwargs)

    def delete(self, path: str, as_: str | None = None, **kwargs):
        return self.client.delete(path, headers=self._headers(as_), **kwargs)

    def register(self, as_: str = "admin", **overrides) -> dict:
        response = self.post("/api/problems", as_=as_, json=problem_body(self.org, **overrides))
        assert response.status_code == 201, response.json
        return response.json

    def ready_task(self, problem_id: int, element: str | None = None) -> dict:
        """The one ready task of a problem (or the one at `element`)."""
        tasks = [t for t in self.get(f"/api/problems/{problem_id}", as_="admin").json["current_tasks"]
                 if element is None or t["element_id"] == element]
        assert len(tasks) == 1, tasks
        return tasks[0]

    def complete(self, task: dict, as_: str, data: dict, expect: int = 200):
        response = self.post(f"/api/tasks/{task['id']}/complete", as_=as_, json={"data": data})
        assert response.status_code == expect, response.json
        return response
