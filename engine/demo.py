"""The demo city 清江市 (`demo_data.toml`) loaded into a Duban database, with two months of history.

Only what is missing is created, matched by natural keys (region and unit by name, official
and user by username, problem by code): a second run creates nothing. Each problem registered
by this run is then played forward through the deployed flow by a small discrete-event
simulation on the engine's clock, from 60 days before the load day: every action comes 1 to 3
working days after the one before, timers fire when they fall due, and so the ledger's
entries come out in time order.
"""
from __future__ import annotations

import functools
import hashlib
import io
import struct
import tomllib
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select

from . import clock, second_factor
from .accounts import create_user, hash_password
from .models import (DeadlineKind, HumanTask, LedgerEntry, Official, Post, PostKind, Problem, ProblemCategory,
                     ProblemSource, ProcessInstance, Region, RegionLevel, Role, TaskState, Unit, UnitKind, User,
                     UserRole)
from .problems import NewProblem
from .workflow.forms import inputs
from .workflow.serializer import specs_for

DEMO_DATA = Path(__file__).with_name("demo_data.toml")
PASSWORD = "duban-demo"
HISTORY_DAYS = 60  # long enough for the longest path (7 steps and a public notice) across a holiday
KINDS = ("regions", "units", "officials", "posts", "users", "problems")


@dataclass
class DemoResult:
    accounts: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)  # username, name, roles
    created: Counter = field(default_factory=Counter)  # kind (KINDS) -> rows created by this run
    present: Counter = field(default_factory=Counter)  # kind -> rows that were already there
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{kind:<10} {self.created[kind]:>3} created, {self.present[kind]:>3} already present"
                 for kind in KINDS]
        return "\n".join(lines + [f"note: {note}" for note in self.notes])


def load_demo(duban, data_path: Path = DEMO_DATA) -> DemoResult:
    with open(data_path, "rb") as handle:
        data = tomllib.load(handle)
    result = DemoResult()
    load_day, load_moment = clock.today(), clock.now()
    start = datetime.combine(load_day - timedelta(days=HISTORY_DAYS), time(9), clock.SHANGHAI)
    with duban.db.reading() as session:
        known = set(session.scalars(select(Problem.code)))
        latest = session.scalar(select(LedgerEntry.at).order_by(LedgerEntry.id.desc()).limit(1))
    missing = [(index, entry) for index, entry in enumerate(data["problems"]) if entry["code"] not in known]
    result.present["problems"] = len(data["problems"]) - len(missing)
    if missing and latest is not None and latest > start:
        result.notes.append(f"the ledger already had entries after {start:%Y-%m-%d %H:%M}: "
                            "the demo's back-dated history comes after them out of time order")
    try:
        if missing:
            clock.freeze(start)  # a first deployment is then the first event of the history
        duban.deploy_shipped()
        with duban.db.transaction() as session:
            ids = _load_organisation(session, data, result)
            # the demo's accounts sign in with the password alone (a newcomer has no authenticator
            # set up for them); a real office keeps the requirement (config/security.toml)
            second_factor.set_required(session, False, "the demo")
        cases = []
        for order, (index, entry) in enumerate(missing):
            clock.freeze(start + timedelta(minutes=5 * order))
            problem_id = duban.register_problem(ids["users"]["admin"], _new_problem(entry, ids, load_day))
            result.created["problems"] += 1
            cases.append(_Case(index, entry, problem_id, _plan(entry, load_day)))
        for case in cases:
            if case.entry["advance"] > 0:
                case.at = _next_moment(case, clock.now(), duban.runtime.calendar)
        _play(duban, cases, load_moment, result.notes)
    finally:
        clock.release()
    return result


# -- who to be: the demo accounts by role, with what each has waiting ---------------------------------

# an account is listed under the first of these roles it holds
ROSTER_ROLES = (Role.ADMIN, Role.DISCIPLINE, Role.LEADER, Role.OFFICIAL, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN)
ROSTER_LABELS = {Role.ADMIN: "环督办", Role.DISCIPLINE: "纪委监委", Role.LEADER: "领导", Role.OFFICIAL: "责任人",
                 Role.SECURITY_ADMIN: "安全管理员", Role.AUDIT_ADMIN: "审计管理员"}


@dataclass(frozen=True)
class RosterEntry:
    """A demo account and what waits for it: ready tasks, how many of them are red (their due
    moment passed), unread notices."""

    username: str
    name: str
    role: Role               # the group it is listed in
    ready: int
    red: int
    unread: int

    @property
    def waiting(self) -> str:
        """"2 项待办，1 项红灯", "无待办"."""
        if not self.ready:
            return "无待办"
        return f"{self.ready} 项待办，{self.red} 项红灯" if self.red else f"{self.ready} 项待办"

    def line(self) -> str:
        unread = f"，{self.unread} 条未读通知" if self.unread else ""
        return f"{self.username:<16} {ROSTER_LABELS[self.role]:<4} {self.waiting}{unread}"


SEPARATE_ACCOUNTS = ("admin", "jiwei", "secadmin", "auditor")  # the demo's accounts that are no official's


def demo_usernames(data_path: Path = DEMO_DATA) -> list[str]:
    with open(data_path, "rb") as handle:
        data = tomllib.load(handle)
    return [*SEPARATE_ACCOUNTS, *(e["username"] for e in data["officials"] if e.get("username"))]


def roster(session, now: datetime, data_path: Path = DEMO_DATA) -> list[tuple[Role, list[RosterEntry]]]:
    """The demo's active accounts grouped by role (环督办, 纪委监委, 领导, 责任人), each with its
    ready tasks (red: due before `now`) and unread notices; within a group, those with the most
    waiting first. Empty when the database holds no demo account."""
    from . import notifications, tasks

    names = demo_usernames(data_path)
    users = session.scalars(select(User).where(User.username.in_(names), User.active.is_(True))).all()
    groups: dict[Role, list[RosterEntry]] = {role: [] for role in ROSTER_ROLES}
    for user in sorted(users, key=lambda u: names.index(u.username)):
        role = next((r for r in ROSTER_ROLES if r in user.roles), None)
        if role is None:
            continue
        due = [d for d in session.scalars(tasks.query(user).with_only_columns(HumanTask.due_at))]
        red = sum(1 for d in due if d is not None and d <= now)
        groups[role].append(RosterEntry(user.username, user.display_name, role, len(due), red,
                                        notifications.unread_count(session, user)))
    return [(role, sorted(entries, key=lambda e: (-e.ready, -e.red)))
            for role, entries in groups.items() if entries]


# -- the organisation: regions, units, officials, posts and accounts -------------------------------

def _load_organisation(session, data: dict, result: DemoResult) -> dict[str, dict[str, int]]:
    """Create what is missing; return name -> id maps (and username -> id) for the problems."""
    regions, units, officials, users = {}, {}, {}, {}
    for entry in data["regions"]:
        regions[entry["name"]] = _ensure(session, result, "regions", Region, {"name": entry["name"]},
                                         level=RegionLevel(entry["level"]), parent=regions.get(entry["parent"]))
    for entry in data["units"]:
        units[entry["name"]] = _ensure(session, result, "units", Unit, {"name": entry["name"]},
                                       short_name=entry.get("short_name"), kind=UnitKind(entry["kind"]),
                                       region=regions[entry["region"]])
    leading = {p["leading_official"] for p in data["problems"] if p.get("leading_official")}
    director = None
    for entry in data["officials"]:
        if entry["name"] in officials:
            raise ValueError(f"two officials are named {entry['name']}: problems name officials by name")
        official = _find_official(session, entry, units)
        (result.present if official else result.created)["officials"] += 1
        if official is None:
            official = Official(name=entry["name"], gender=entry.get("gender"),
                                party_member=entry.get("party_member", False),
                                email=entry.get("email") or _demo_email(entry), mobile=entry.get("mobile"))
            session.add(official)
            session.flush()
        officials[entry["name"]] = official.id
        for post in entry["posts"]:
            unit = units[post["unit"]]
            _ensure(session, result, "posts", Post, {"official_id": official.id, "unit_id": unit.id,
                                                     "title": post["title"]},
                    kind=PostKind(post["kind"]), is_head=post.get("head", False))
            if post.get("head") and unit.kind == UnitKind.OFFICE:
                director = director or official
        if entry.get("username"):
            users[entry["username"]] = _ensure_user(session, result, entry["username"], entry["name"],
                                                    _roles(entry, units, leading), official.id)
    # the office director (环督办主任) signs in as admin unless the data gives them an account
    director_has_account = director and session.scalar(select(User.id).where(User.official_id == director.id))
    users["admin"] = _ensure_user(session, result, "admin", "环督办管理员", {Role.ADMIN},
                                  None if director is None or director_has_account else director.id)
    users["jiwei"] = _ensure_user(session, result, "jiwei", "纪委监委", {Role.DISCIPLINE}, None)
    # 三员分立: the security and the audit administrator beside the system administrator (admin)
    users["secadmin"] = _ensure_user(session, result, "secadmin", "安全管理员", {Role.SECURITY_ADMIN}, None)
    users["auditor"] = _ensure_user(session, result, "auditor", "审计管理员", {Role.AUDIT_ADMIN}, None)
    for username in [*SEPARATE_ACCOUNTS, *(e["username"] for e in data["officials"] if e.get("username"))]:
        user = session.get(User, users[username])
        result.accounts.append((user.username, user.display_name, tuple(sorted(r.value for r in user.roles))))
    return {"regions": {name: row.id for name, row in regions.items()},
            "units": {name: row.id for name, row in units.items()}, "officials": officials, "users": users}


def _ensure(session, result: DemoResult, counted_as: str, model, key: dict, **values):
    """The row with these natural-key values, created with `values` if it is missing."""
    row = session.scalars(select(model).filter_by(**key)).first()
    (result.present if row else result.created)[counted_as] += 1
    if row is None:
        row = model(**key, **values)
        session.add(row)
        session.flush()
    return row


def _demo_email(entry: dict) -> str | None:
    """<username>@qingjiang.example: .example is reserved (RFC 2606), so no demo notice can
    reach a real mailbox even where DUBAN_SMTP_HOST is set."""
    return f"{entry['username']}@qingjiang.example" if entry.get("username") else None


def _find_official(session, entry: dict, units: dict) -> Official | None:
    """By their account's username; else (an official entered by hand, without an account) by
    name and the unit of their first post."""
    if entry.get("username"):
        user = session.scalars(select(User).where(User.username == entry["username"])).first()
        if user is not None and user.official is not None:
            return user.official
    return session.scalars(select(Official).join(Post).where(
        Official.name == entry["name"], Post.unit_id == units[entry["posts"][0]["unit"]].id)).first()


def _ensure_user(session, result, username: str, display_name: str, roles: set[Role], official_id) -> int:
    user_id = session.scalar(select(User.id).where(User.username == username))
    (result.present if user_id else result.created)["users"] += 1
    return user_id or create_user(session, username, display_name, None, roles, official_id,
                                  password_hash=_demo_password_hash()).id


@functools.lru_cache(maxsize=1)
def _demo_password_hash() -> str:
    """One argon2 hash for every demo account (each hash costs a deliberate ~0.1 s)."""
    return hash_password(PASSWORD)


def _roles(entry: dict, units: dict, leading: set[str]) -> set[Role]:
    """Every official does tasks; the office's staff administer, the discipline office's staff
    watch; city and county Party and government heads, and deputies who hold a problem, lead."""
    roles = {Role.OFFICIAL}
    for post in entry["posts"]:
        unit = units[post["unit"]]
        if unit.kind == UnitKind.OFFICE:
            roles.add(Role.ADMIN)
        elif unit.kind == UnitKind.DISCIPLINE:
            roles.add(Role.DISCIPLINE)
        elif (unit.kind in (UnitKind.PARTY_COMMITTEE, UnitKind.GOVERNMENT)
              and unit.region.level in (RegionLevel.CITY, RegionLevel.COUNTY)
              and (post.get("head") or entry["name"] in leading)):
            roles.add(Role.LEADER)
    return roles


# -- problems and their history --------------------------------------------------------------------

def _new_problem(entry: dict, ids: dict, load_day: date) -> NewProblem:
    units, officials, offset = ids["units"], ids["officials"], entry.get("deadline_offset_days")
    return NewProblem(
        code=entry["code"], title=entry["title"], description=entry["description"],
        source=ProblemSource.parse(entry["source"]), batch=entry["batch"],
        category=ProblemCategory.parse(entry["category"]), region_id=ids["regions"][entry["region"]],
        lead_unit_id=units[entry["lead_unit"]], responsible_official_id=officials[entry["responsible"]],
        leading_official_id=officials[entry["leading_official"]] if entry.get("leading_official") else None,
        industry_unit_id=units[entry["industry_unit"]] if entry.get("industry_unit") else None,
        cooperating_unit_ids=[units[name] for name in entry.get("cooperating_units", [])],
        target=entry.get("target"), measures=entry.get("measures"),
        deadline_kind=DeadlineKind.parse(entry.get("deadline_kind", "by_date")),
        deadline=None if offset is None else load_day + timedelta(days=offset), sites=entry.get("sites", []),
        milestones=[(m["title"], load_day + timedelta(days=m["due_offset_days"])) for m in entry.get("milestones", [])])


def _plan(entry: dict, load_day: date) -> dict:
    """The plan (整改方案) as the values of form fields named target, measures, deadline_kind and
    deadline; None where the problem has none (no date for 立行立改 or 长期坚持)."""
    offset = entry.get("deadline_offset_days")
    return {"target": entry.get("target"), "measures": entry.get("measures"),
            "deadline_kind": DeadlineKind.parse(entry.get("deadline_kind", "by_date")).value,
            "deadline": None if offset is None else (load_day + timedelta(days=offset)).isoformat()}


@dataclass
class _Case:
    """A problem registered by this run, being played forward."""

    index: int               # its place in the data, which spaces its actions
    entry: dict
    problem_id: int
    plan: dict
    at: datetime | None = None  # its next action; None once it has gone as far as it should
    done: int = 0            # main-path tasks completed; it stops at entry["advance"]
    actions: int = 0


def _play(duban, cases: list[_Case], end: datetime, notes: list[str]) -> None:
    """Always act for the problem whose next action comes first, so the clock only moves on."""
    while pending := [c for c in cases if c.at is not None]:
        case = min(pending, key=lambda c: (c.at, c.index))
        if case.at >= end:
            notes.append(f"{case.entry['code']} stopped after {case.done} of {case.entry['advance']} tasks: "
                         "its next step would have come after the load")
            case.at = None
            continue
        clock.freeze(case.at)
        if _act(duban, case):
            case.actions += 1
            case.at = _next_moment(case, clock.now(), duban.runtime.calendar)
        if case.done >= case.entry["advance"]:
            case.at = None


def _act(duban, case: _Case) -> bool:
    """Complete a side task, else the next main-path task, else fire the timer the problem
    waits at. False (with `case.at` moved or cleared) when there is nothing to do now."""
    with duban.db.reading() as session:
        ready = session.scalars(select(HumanTask).order_by(HumanTask.id).where(
            HumanTask.problem_id == case.problem_id, HumanTask.state == TaskState.READY)).all()
        side = [t.id for t in ready if t.element_id not in _main_path(t.instance.definition)]
        main = [t.id for t in ready if t.id not in side]
        wakeup = session.scalar(select(ProcessInstance.next_wakeup_at)
                                .where(ProcessInstance.problem_id == case.problem_id))
    if side or main:
        _complete(duban, (side or main)[0], case)
        case.done += 0 if side else 1
        return True
    if wakeup is None:  # the flow has ended, or waits for something no clock brings
        case.at = None
        return False
    if wakeup >= clock.now():
        # a minute past the due moment: SpiffWorkflow fires a timer only once its moment has
        # passed, while the engine already takes it as due at that very moment
        case.at = wakeup + timedelta(minutes=1)
        return False
    duban.wake_due()
    return True


def _main_path(definition) -> set[str]:
    """The BPMN ids of the elements reachable from the start without leaving through a
    non-interrupting boundary event. A ready task outside it (报送月度进展, opened by the monthly
    timer on the side of 整改实施) is a side task: done when it appears, never counted."""
    spec, _ = specs_for(definition)
    seen, todo = set(), [spec.start]
    while todo:
        node = todo.pop()
        if node.name not in seen and getattr(node, "cancel_activity", True) is not False:
            seen.add(node.name)
            todo.extend(node.outputs)
    return {spec.task_specs[name].bpmn_id for name in seen}


def _next_moment(case: _Case, after: datetime, calendar) -> datetime:
    """1 to 3 days after `after`, on a working day, in office hours; derived from the problem's
    place and its count of actions, so that every load plays the same history."""
    day = after.astimezone(clock.SHANGHAI).date() + timedelta(days=1 + (case.index + case.actions) % 3)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    minutes = (case.index * 37 + case.actions * 71) % 450  # 09:00 to 16:30
    return datetime.combine(day, time(9), clock.SHANGHAI) + timedelta(minutes=minutes)


def _complete(duban, task_id: int, case: _Case) -> None:
    with duban.db.reading() as session:
        task = session.get(HumanTask, task_id)
        form = task.instance.definition.forms.get(task.element_id) or {}
        user_id = _performer(session, task)
    duban.complete_task(user_id, task_id, _fill_form(duban, form, case, user_id))


def _performer(session, task: HumanTask) -> int:
    """The task's assignee, else someone with a post in its candidate unit (its head first),
    else someone with its candidate role (an official before a bare account)."""
    user_id = task.assignee_id
    if user_id is None and task.candidate_unit_id is not None:
        user_id = session.scalar(select(User.id).join(Post, Post.official_id == User.official_id)
                                 .where(Post.unit_id == task.candidate_unit_id, User.active)
                                 .order_by(Post.is_head.desc(), User.id).limit(1))
    if user_id is None and task.candidate_role is not None:
        user_id = session.scalar(select(User.id).join(UserRole, UserRole.user_id == User.id)
                                 .where(UserRole.role == task.candidate_role, User.active)
                                 .order_by(User.official_id.is_(None), User.id).limit(1))
    if user_id is None:
        raise LookupError(f"nobody may do task {task.id} ({task.name}) of problem {task.problem_id}")
    return user_id


# -- forms and evidence ----------------------------------------------------------------------------

def _fill_form(duban, form: dict, case: _Case, user_id: int) -> dict:
    """The happy path's answers, read off the form: the plan's values, the first option
    (approve, certify, pass, none, no), a plausible sentence, today, freshly uploaded evidence.
    A field required only for some answer of another (退回理由) is filled only if that answer was
    given; a plan value the problem lacks leaves its field empty unless the field is required."""
    data = {}
    for component in sorted(inputs(form), key=lambda c: bool(_required_when(c))):
        key, rule = component["key"], _required_when(component)
        if rule and str(data.get(rule[0])) != rule[1]:
            continue
        if case.plan.get(key) is not None:
            data[key] = case.plan[key]
        elif key not in case.plan or (component.get("validate") or {}).get("required"):
            data[key] = _answer(duban, component, case, user_id)
    return data


def _required_when(component: dict) -> list[str] | None:
    rule = (component.get("properties") or {}).get("requiredWhen")
    return [part.strip() for part in rule.split("=", 1)] if rule else None


def _answer(duban, component: dict, case: _Case, user_id: int):
    kind, rules = component["type"], component.get("validate") or {}
    label = component.get("label") or component["key"]
    if kind in ("radio", "select"):
        return component["values"][0]["value"]
    if kind in ("checklist", "taglist"):
        return [component["values"][0]["value"]]
    if kind == "checkbox":
        return True
    if kind == "number":
        value = max(100, rules["min"]) if rules.get("min") is not None else 100
        return min(value, rules["max"]) if rules.get("max") is not None else value
    if kind == "datetime":
        is_date = component.get("subtype", "date") == "date"
        return clock.today().isoformat() if is_date else clock.local_now().isoformat()
    if kind == "filepicker":
        return [_upload_evidence(duban, component, case, user_id)]
    sentence = f"{label}：针对“{case.entry['title']}”，已按要求逐项落实，情况属实。"
    return sentence[:rules["maxLength"]] if rules.get("maxLength") else sentence


def _upload_evidence(duban, component: dict, case: _Case, user_id: int) -> int:
    """A small real file: a PNG for a photo field (accept image/*), else a short Word report
    (evidence is accepted by its content: config/evidence.toml lists no plain text)."""
    label = component.get("label") or component["key"]
    name = f"{case.entry['code']}-{label}"
    if "image" in (component.get("accept") or ""):
        content, suffix, content_type = _png(hashlib.sha256(name.encode()).digest()[:3]), "png", "image/png"
    else:
        content = _docx([f"{case.entry['code']} {case.entry['title']}", f"{label}（{clock.today():%Y-%m-%d}）",
                         case.entry.get("measures", "")])
        suffix, content_type = "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    return duban.upload_evidence(user_id, case.problem_id, f"{name}.{suffix}", content_type, content).id


def _docx(paragraphs: list[str]) -> bytes:
    from docx import Document

    document = Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _png(rgb: bytes, size: int = 16) -> bytes:
    """A valid PNG of one colour, `size` pixels square (8-bit RGB, no filtering)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    rows = b"".join(b"\x00" + rgb * size for _ in range(size))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
