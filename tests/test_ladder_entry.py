"""No retroactive avalanche: a problem imported long after its deadline enters the escalation
ladder once, at the rung that fits how late it is (now, or at the office's grace date); the
rungs below are passed over. A problem registered before its deadline still climbs every rung."""
from __future__ import annotations

import io
from collections import Counter
from datetime import datetime

from openpyxl import Workbook
from sqlalchemy import select

from engine import clock
from engine.models import Escalation, LedgerEntry, PassedOverRung, Problem

HEADER = ["序号", "问题编号", "问题来源/批次", "反馈问题", "问题类型", "所属区县/乡镇", "责任领导", "牵头单位",
          "配合单位", "具体责任人", "整改目标", "整改措施", "整改时限", "整改进展"]
# the tests' clock stands at Monday 2026-03-02 09:00; working days overdue by then, under the
# 2026 arrangement (the Spring Festival holiday does not count):
DEADLINES = {
    "OLD-1": "2026年2月6日",    # 11 working days overdue -> 专函督办 (10)
    "OLD-2": "2026年2月5日",    # 12
    "OLD-3": "2026年2月4日",    # 13
    "OLD-4": "2026年1月23日",   # 21 -> 约谈 (20)
    "OLD-5": "2026年1月22日",   # 22
    "OLD-6": "2026年1月21日",   # 23
    "OLD-7": "2026年1月20日",   # 24
    "NEW-1": "2026年12月底前",  # not overdue
    "LONG-1": "长期坚持",        # no deadline
}
OVERDUE = [code for code in DEADLINES if code.startswith("OLD")]
SUPERVISION, INTERVIEW, ACCOUNTABILITY = "专函督办 / 挂牌督办", "约谈", "问责"


def old_ledger() -> bytes:
    workbook = Workbook()
    ws = workbook.active
    ws.append(["南岭县督察整改台账（历年）"])
    ws.append(HEADER)
    for number, (code, deadline) in enumerate(DEADLINES.items(), 1):
        ws.append([number, code, "省级生态环境保护督察/2025年省级督察", f"{code} 河道排污问题", "水", "南岭县", "吴县长",
                   "南岭县生态环境分局", None, "张科长", "达标", "整治", deadline, "推进中"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=clock.SHANGHAI)


def fired(duban) -> dict[str, list[int]]:
    with duban.db.reading() as session:
        found: dict[str, list[int]] = {}
        for escalation in session.scalars(select(Escalation).order_by(Escalation.id)):
            found.setdefault(escalation.problem.code, []).append(escalation.level)
        return found


def rungs(report) -> dict[str, int]:
    return {rung["name"]: rung["count"] for rung in report["ladder"]["rungs"]}


def test_the_dry_run_says_what_a_confirmed_import_would_fire(duban, org):
    report = duban.import_ledger(org["user:admin"], old_ledger())
    assert report["counts"]["ok"] == 9 and report["ladder"]["overdue"] == 7
    assert rungs(report) == {INTERVIEW: 4, SUPERVISION: 3}
    assert [rung["level"] for rung in report["ladder"]["rungs"]] == [4, 3]  # the highest rung first
    row = next(row for row in report["ladder"]["rows"] if row["code"] == "OLD-4")
    assert row["passed_over"] == ["提醒预警", "催办", SUPERVISION]
    # counted at a grace date two weeks on, each row is later by then
    later = duban.import_ledger(org["user:admin"], old_ledger(), ladder_from="2026-03-16")
    assert later["ladder"]["grace_date"] == "2026-03-16" and later["ladder"]["overdue"] == 7
    assert rungs(later) == {ACCOUNTABILITY: 4, INTERVIEW: 3}
    with duban.db.reading() as session:
        assert session.scalars(select(Problem)).first() is None  # a dry run writes nothing


def test_confirmed_now_a_sweep_fires_one_rung_per_overdue_problem(duban, org):
    report = duban.import_ledger(org["user:admin"], old_ledger(), confirm=True)
    assert len(report["imported"]) == 9 and rungs(report) == {INTERVIEW: 4, SUPERVISION: 3}
    swept = duban.sweep()
    assert Counter(f.rule_name for f in swept) == {INTERVIEW: 4, SUPERVISION: 3}  # 7, not 7 x 4
    assert fired(duban) == {"OLD-1": [3], "OLD-2": [3], "OLD-3": [3], "OLD-4": [4], "OLD-5": [4], "OLD-6": [4],
                            "OLD-7": [4]}
    assert duban.sweep() == []
    with duban.db.reading() as session:
        passed = Counter((p.problem_id, p.level) for p in session.scalars(select(PassedOverRung)))
        assert len(passed) == 3 * 2 + 4 * 3 and set(passed.values()) == {1}
        old4 = session.scalars(select(Escalation).join(Problem).where(Problem.code == "OLD-4")).one()
        assert [p.level for p in old4.passed_over] == [1, 2, 3]
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "escalation.fired",
                                                          LedgerEntry.problem_id == old4.problem_id)).one()
        assert entry.payload["passed_over"] == ["reminder", "urging", "supervision"]
    # rungs falling due after the import fire normally: OLD-1 reaches 20 working days overdue,
    # OLD-4 30; the passed-over reminders count for no second yellow card
    clock.freeze(at("2026-03-18T09:00:00"))
    duban.sweep()
    assert fired(duban)["OLD-1"] == [3, 4] and fired(duban)["OLD-4"] == [4, 5]
    assert "NEW-1" not in fired(duban)


def test_with_a_grace_date_nothing_fires_before_it(duban, org, api):
    report = duban.import_ledger(org["user:admin"], old_ledger(), confirm=True, ladder_from="2026-03-16")
    assert report["ladder"]["grace_date"] == "2026-03-16"
    assert duban.sweep() == []
    clock.freeze(at("2026-03-13T09:00:00"))
    forecast = duban.forecast(5)  # the forecast shows one entry per problem, on the grace date
    assert Counter(f.rule_name for f in forecast) == {ACCOUNTABILITY: 4, INTERVIEW: 3}
    assert {f.due_at.astimezone(clock.SHANGHAI).isoformat() for f in forecast} == {"2026-03-16T00:00:00+08:00"}
    listed = api.get("/api/escalations/forecast?days=5", as_="jiwei").json["items"]
    assert len(listed) == 7 and {tuple(p["level"] for p in item["passed_over"]) for item in listed} == {
        (1, 2, 3), (1, 2, 3, 4)}
    clock.freeze(at("2026-03-15T23:59:00"))
    assert duban.sweep() == []
    clock.freeze(at("2026-03-16T00:00:01"))
    assert Counter(f.rule_name for f in duban.sweep()) == {ACCOUNTABILITY: 4, INTERVIEW: 3}
    assert duban.sweep() == []
    with duban.db.reading() as session:
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "ledger.imported")).one()
        assert entry.payload["ladder_from"] == "2026-03-15T16:00:00+00:00"


def test_a_problem_registered_before_its_deadline_climbs_every_rung(api, duban):
    api.register(deadline="2026-03-20")
    levels = []
    for moment in ("2026-03-17T00:00:01", "2026-03-21T00:00:01", "2026-04-04T00:00:01", "2026-04-21T00:00:01",
                   "2026-05-08T00:00:01"):
        clock.freeze(at(moment))
        levels += [f.level for f in duban.sweep()]
    assert levels == [1, 2, 3, 4, 5]
    with duban.db.reading() as session:
        assert session.scalars(select(PassedOverRung)).first() is None


def test_the_api_takes_the_choice_and_refuses_a_bad_grace_date(api, duban):
    def upload(**form):
        data = {"file": (io.BytesIO(old_ledger()), "台账.xlsx"), **form}
        return api.post("/api/ledger/import", as_="admin", data=data, content_type="multipart/form-data")

    dry = upload()
    assert dry.status_code == 200 and rungs(dry.json) == {INTERVIEW: 4, SUPERVISION: 3}
    for bad in ("2026-03-02", "2026-02-01", "next week", "2027-06-01"):
        refused = upload(confirm="true", ladder_from=bad)
        assert refused.status_code == 400 and "ladder_from" in refused.json["errors"], bad
    with duban.db.reading() as session:
        assert session.scalars(select(Problem)).first() is None
    done = upload(confirm="true", ladder_from="2026-03-16")
    assert done.status_code == 200 and len(done.json["imported"]) == 9
    assert rungs(done.json) == {ACCOUNTABILITY: 4, INTERVIEW: 3}
    assert duban.sweep() == []
    clock.freeze(at("2026-03-16T08:00:00"))
    assert len(duban.sweep()) == 7
    listed = api.get("/api/escalations?rule=interview", as_="admin").json["items"]
    assert len(listed) == 3 and [p["rule"] for p in listed[0]["passed_over"]] == ["reminder", "urging", "supervision"]


def test_the_import_page_reports_the_entry_and_takes_the_grace_date(app, org, duban):
    from .test_pages import login, token_of
    from .test_pages_imports import dry_run

    client = app.test_client()
    login(client, "admin")
    address, html = dry_run(client, old_ledger())
    assert 'data-overdue="7"' in html and 'data-rung="4" data-count="4"' in html and 'data-rung="3" data-count="3"' in html
    preview = client.get(address + "?ladder_from=2026-03-16").get_data(as_text=True)
    assert 'data-rung="5" data-count="4"' in preview and 'data-rung="4" data-count="3"' in preview
    refused = client.post(address, data={"csrf_token": token_of(html), "ladder_entry": "grace", "ladder_from": "2026-03-01"})
    assert refused.status_code == 400 and 'data-error="ladder_from"' in refused.get_data(as_text=True)
    with duban.db.reading() as session:
        assert session.scalars(select(Problem)).first() is None
    done = client.post(address, data={"csrf_token": token_of(html), "ladder_entry": "grace", "ladder_from": "2026-03-16"})
    assert done.status_code == 303
    result = client.get(address).get_data(as_text=True)
    assert 'data-rung="5" data-count="4"' in result
    assert duban.sweep() == []
    clock.freeze(at("2026-03-16T00:00:01"))
    assert len(duban.sweep()) == 7
