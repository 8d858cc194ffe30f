"""The engine's side of 通知 and of the demo's roster: the unread count (one COUNT on the
inbox index), the filters of the list, where a notice leads, marking all read, and
`engine.demo.roster` with what each demo account has waiting."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import event, func, select

from engine import clock, notifications, tasks
from engine.demo import ROSTER_LABELS, ROSTER_ROLES, load_demo, roster
from engine.models import Channel, HumanTask, Notification, Role, TaskState, User

from .helpers_pages import register


def user(session, org, key):
    return session.get(User, org[f"user:{key}"])


def test_the_unread_count_is_one_indexed_count_and_follows_the_reading(duban, org):
    with duban.db.reading() as session:
        assert notifications.unread_count(session, org["user:responsible"]) == 0
    problem_id = register(duban, org)
    clock.advance(timedelta(hours=1))
    register(duban, org, code="NL-2026-002")
    with duban.db.reading() as session:
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(session.get_bind(), "before_cursor_execute", listener)
        try:
            assert notifications.unread_count(session, org["user:responsible"]) == 2
        finally:
            event.remove(session.get_bind(), "before_cursor_execute", listener)
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert len(selects) == 1 and "count(" in selects[0].lower()
        index = next(i for i in Notification.__table__.indexes if i.name == "ix_notification_inbox")
        assert [c.name for c in index.columns] == ["user_id", "channel", "read_at"]
        first = session.scalars(select(Notification).where(Notification.problem_id == problem_id,
                                                           Notification.user_id == org["user:responsible"])).one()
    duban.mark_notification_read(org["user:responsible"], first.id)
    with duban.db.reading() as session:
        assert notifications.unread_count(session, user(session, org, "responsible")) == 1
        assert notifications.unread_count(session, org["user:outsider"]) == 0


def test_the_list_filters_by_kind_and_day_newest_first(duban, org):
    register(duban, org)
    clock.advance(timedelta(days=2))
    register(duban, org, code="NL-2026-002")
    with duban.db.reading() as session:
        viewer = user(session, org, "responsible")
        everything = notifications.inbox(session, viewer)
        assert [n.subject for n in everything.items] == ["新待办：签收（NL-2026-002）", "新待办：签收（NL-2026-001）"]
        assert notifications.kinds(session, viewer) == ["task_assigned"]
        assert notifications.inbox(session, viewer, kind="escalation").total == 0
        later = notifications.inbox(session, viewer, since=clock.now() - timedelta(days=1))
        assert [n.subject for n in later.items] == ["新待办：签收（NL-2026-002）"] and later.unread == 2
        earlier = notifications.inbox(session, viewer, until=clock.now() - timedelta(days=1))
        assert [n.subject for n in earlier.items] == ["新待办：签收（NL-2026-001）"]
        paged = notifications.inbox(session, viewer, per_page=1, page=2)
        assert (paged.total, [n.subject for n in paged.items]) == (2, ["新待办：签收（NL-2026-001）"])


def test_a_notice_leads_to_its_task_while_ready_then_to_its_problem(duban, org):
    problem_id = register(duban, org)
    with duban.db.reading() as session:
        notice = session.scalars(select(Notification).where(Notification.user_id == org["user:responsible"])).one()
        task_id = notice.payload["task_id"]
        lead = notifications.destinations(session, [notice])[notice.id]
        assert (lead.task_id, lead.problem_id) == (task_id, problem_id)
    duban.complete_task(org["user:responsible"], task_id, {"acknowledged": True})
    with duban.db.reading() as session:
        notice = session.get(Notification, notice.id)
        assert session.get(HumanTask, task_id).state != TaskState.READY
        lead = notifications.destinations(session, [notice])[notice.id]
        assert (lead.task_id, lead.problem_id) == (None, problem_id)


def test_mark_all_read_marks_only_the_callers_unread_notices(duban, org):
    register(duban, org)
    register(duban, org, code="NL-2026-002")
    with duban.db.reading() as session:
        office_unread = notifications.unread_count(session, org["user:admin"])
        first = notifications.inbox(session, user(session, org, "responsible")).items[-1].id
    duban.mark_notification_read(org["user:responsible"], first)
    clock.advance(timedelta(minutes=10))
    assert duban.mark_all_notifications_read(org["user:responsible"]) == 1
    assert duban.mark_all_notifications_read(org["user:responsible"]) == 0
    with duban.db.reading() as session:
        mine = session.scalars(select(Notification).where(Notification.user_id == org["user:responsible"],
                                                          Notification.channel == Channel.INAPP)).all()
        assert all(n.read_at is not None for n in mine)
        assert session.get(Notification, first).read_at == clock.now() - timedelta(minutes=10)
        assert notifications.unread_count(session, org["user:admin"]) == office_unread


def test_the_roster_groups_the_demo_accounts_with_what_waits_for_each(settings):
    from engine.service import Duban

    duban = Duban(settings)
    with duban.db.reading() as session:
        assert roster(session, clock.now()) == []  # no demo data, no roster
    load_demo(duban)
    now = clock.now()
    with duban.db.reading() as session:
        groups = roster(session, now)
        assert [role for role, _ in groups] == [Role.ADMIN, Role.DISCIPLINE, Role.LEADER, Role.OFFICIAL,
                                                Role.SECURITY_ADMIN, Role.AUDIT_ADMIN]
        listed = [entry for _, entries in groups for entry in entries]
        assert len(listed) == len({e.username for e in listed}) == session.scalar(
            select(func.count()).select_from(User).where(User.active.is_(True)))
        for entry in listed:
            account = session.scalars(select(User).where(User.username == entry.username)).one()
            due = [t.due_at for t in session.scalars(tasks.query(account))]
            assert entry.ready == len(due) and entry.red == sum(1 for d in due if d is not None and d <= now)
            assert entry.unread == notifications.unread_count(session, account)
            assert entry.role == next(r for r in ROSTER_ROLES if r in account.roles)
        leaders = dict(groups)[Role.LEADER]
        assert leaders[0].username == "huangqiming" and leaders[0].ready >= 1, "a leader has a task waiting"
        assert any(e.ready for e in dict(groups)[Role.OFFICIAL]) and Counter(e.role for e in listed)[Role.ADMIN] >= 1
        sample = next(e for e in listed if e.ready and e.red)
        assert sample.line().startswith(sample.username) and ROSTER_LABELS[sample.role] in sample.line()
        assert f"{sample.ready} 项待办，{sample.red} 项红灯" in sample.line()
    duban.db.dispose()
