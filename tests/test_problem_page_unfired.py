"""The problem page tells which rungs of the ladder did not fire when they fell due: those
passed over because the problem entered the ladder late (an old ledger's row), and those held
for want of a Party or government head (组织缺口), open and then resolved, with the delay; in
Chinese and in English."""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select

from engine import clock
from engine.models import Official, Problem
from engine.organization_admin import add_post

from .test_ladder_entry import old_ledger
from .test_organisation_gaps import DEADLINE, INTERVIEW_DUE, at, sweep_at, vacate_county_government_head
from .test_pages import login


def section(html: str) -> str:
    """The text of the section on unfired rungs, tags left in (empty when there is none)."""
    start = html.find('id="unfired"')
    return html[start:html.index("</section>", start)] if start >= 0 else ""


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def page(client, problem_id: int, lang: str = "zh") -> str:
    with client.session_transaction() as state:
        state["lang"] = lang
    response = client.get(f"/problems/{problem_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def problem_id(duban, code: str) -> int:
    with duban.db.reading() as session:
        return session.scalars(select(Problem.id).where(Problem.code == code)).one()


def test_the_page_lists_the_rungs_an_imported_problem_passed_over(app, duban, org):
    duban.import_ledger(org["user:admin"], old_ledger(), confirm=True)
    duban.sweep()
    client = app.test_client()
    login(client, "admin")
    old4 = problem_id(duban, "OLD-4")

    chinese = section(page(client, old4))
    assert re.findall(r'data-passed-over-level="(\d)"', chinese) == ["1", "2", "3"]
    shown = text(chinese)
    assert "未按时发出的督办" in shown and "跳过的级别" in shown
    for name in ("提醒预警", "催办", "专函督办 / 挂牌督办"):
        assert name in shown
    assert shown.count("跳过原因：进入督办较晚（2026-03-02 09:00 进入督办，晚于本级到期时间）") == 3
    assert shown.count("代之发出：第 4 级 · 约谈") == 3
    # the urging: the day after the deadline (2026-01-23); the reminder 3 working days before it
    assert "第 2 级 · 催办 本应发出于 2026-01-24 00:00 · 针对时限 2026-01-23" in shown
    assert "第 1 级 · 提醒预警 本应发出于 2026-01-20 00:00" in shown
    assert "组织缺口" not in shown  # nothing was held

    english = text(section(page(client, old4, "en")))
    assert "Rungs passed over" in english and "跳过" not in english
    assert english.count("Passed over: the problem entered the ladder late (on 2026-03-02 09:00, "
                         "after this rung fell due)") == 3
    assert english.count("Fired in its place:") == 3 and "Would have fired on 2026-01-24 00:00" in english

    # a problem that climbs the ladder in time has no such section
    assert section(page(client, problem_id(duban, "NEW-1"))) == ""


def test_the_page_lists_a_held_rung_while_open_and_once_resolved_with_its_delay(api, app, duban):
    org = api.org
    held = api.register(deadline=DEADLINE)["id"]
    moved = api.register(code="NL-2026-002", deadline=DEADLINE)["id"]
    vacate_county_government_head(duban, org)
    sweep_at(duban, INTERVIEW_DUE)   # levels 1 to 3 fire, the interviews are held
    with duban.db.transaction() as session:   # NL-2026-002's deadline moves: its gap no longer holds
        session.get(Problem, moved).deadline = datetime(2026, 6, 30).date()

    clock.freeze(at("2026-04-22T10:00:01"))
    client = app.test_client()
    login(client, "admin")
    shown = section(page(client, held))
    assert 'data-gap-state="open"' in shown and f'data-missing="region-{org["county"]}-government"' in shown
    assert "passed-over" not in shown
    words = text(shown)
    assert "第 4 级 · 约谈 · 暂缓中" in words
    assert "缺少：区域 南岭县（缺行政主要负责人）" in words
    assert "暂缓自 2026-04-21 00:00 · 已暂缓 1 天 10 小时" in words
    english = text(section(page(client, held, "en")))
    assert "held now" in english and "no government head" in english and "held for 1 d 10 h" in english
    lapsed = section(page(client, moved))
    assert 'data-gap-state="lapsed"' in lapsed and "data-delay" not in lapsed
    assert "第 4 级 · 约谈 · 不再暂缓（问题已销号或时限已变更）" in text(lapsed)

    clock.freeze(at("2026-04-23T09:00:00"))
    with duban.db.transaction() as session:
        new = Official(name="陈县长", party_member=True)
        session.add(new)
        session.flush()
        add_post(session, None, new.id, org["county_gov"], "县长", "government", True)
    sweep_at(duban, "2026-04-23T09:00:01")
    client = app.test_client()
    login(client, "admin")
    shown = section(page(client, held))
    assert 'data-gap-state="resolved"' in shown and 'data-gap-state="open"' not in shown
    words = text(shown)
    assert "第 4 级 · 约谈 · 已发出" in words
    assert "暂缓自 2026-04-21 00:00 · 发出于 2026-04-23 09:00 · 延误 2 天 9 小时" in words
    english = text(section(page(client, held, "en")))
    assert "fired since" in english and "fired on 2026-04-23 09:00" in english and "delayed by 2 d 9 h" in english
