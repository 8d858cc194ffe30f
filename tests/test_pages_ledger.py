"""整改台账 and the problem page through Flask's test client: filters, sorting, paging,
who sees what, refusals and bad arguments; the trail of a process instance (elements passed,
open, waiting, flows taken) that the diagram draws; the timeline in words."""
from __future__ import annotations

import json
import re
from datetime import date, datetime

import pytest
from sqlalchemy import select

from engine import clock, extensions
from engine.models import (DeadlineKind, LedgerEntry, ProblemCategory, ProblemSource, ProcessInstance)
from engine.problems import NewProblem
from engine.workflow import trail

from .helpers_flow import PLAN
from .helpers_pages import ready_tasks
from .test_pages import login


@pytest.fixture
def client(app):
    return app.test_client()


def add(duban, org, code, *, title="县城污水处理厂出水超标", region="county", lead_unit="eco", responsible="responsible",
        source="provincial", batch="2025年省级督察", category="water", deadline=date(2026, 6, 30),
        kind=DeadlineKind.BY_DATE, milestones=()) -> int:
    return duban.register_problem(org["user:admin"], NewProblem(
        code=code, title=title, description="督察发现的问题。", source=ProblemSource(source), batch=batch,
        category=ProblemCategory(category), region_id=org[region], lead_unit_id=org[lead_unit],
        responsible_official_id=org[responsible], leading_official_id=org["magistrate"],
        industry_unit_id=org["housing"], cooperating_unit_ids=[org["housing"]], deadline_kind=kind,
        deadline=deadline, sites=["县城污水处理厂", "城北排口"], milestones=list(milestones)))


def codes(html: str) -> list[str]:
    """The problem codes of the ledger table, in the order shown."""
    return re.findall(r'<a class="code" href="/problems/\d+">([^<]+)</a>', html)


def page_of(client, url, **headers):
    response = client.get(url, headers=headers)
    return response.status_code, response.get_data(as_text=True)


# -- the ledger ------------------------------------------------------------------------------

@pytest.fixture
def ledger(duban, org):
    """Four problems: two in the county (one overdue), one in the town, one of another batch."""
    ids = {
        "A": add(duban, org, "NL-A", title="污水处理厂出水超标", deadline=date(2026, 2, 20)),
        "B": add(duban, org, "NL-B", title="城区扬尘污染", category="air", lead_unit="housing",
                 deadline=date(2026, 9, 30)),
        "C": add(duban, org, "NL-C", title="青石镇垃圾堆放", region="town", category="solid_waste",
                 source="central", batch="2024年中央督察", deadline=date(2026, 4, 15)),
        "D": add(duban, org, "NL-D", title="河道生态修复", responsible="eco_clerk", category="ecology",
                 kind=DeadlineKind.LONG_TERM, deadline=None),
    }
    duban.refresh_lights()
    return ids


def test_the_ledger_shows_the_columns_a_reader_expects(client, org, ledger):
    login(client, "admin")
    status, html = page_of(client, "/ledger")
    assert status == 200
    for header in ("问题编号", "问题描述", "区域", "牵头单位", "责任人", "来源", "批次", "类别", "整改时限", "灯色",
                   "状态", "是否逾期"):
        assert f">{header}<" in html or f">{header}</a>" in html
    assert codes(html) == ["NL-A", "NL-B", "NL-C", "NL-D"]
    row = html.split(f'data-problem-id="{ledger["A"]}"')[1].split("</tr>")[0]
    for shown in ("污水处理厂出水超标", "南岭县", "南岭县生态环境分局", "张科长", "省级生态环境保护督察",
                  "2025年省级督察", "水", "2026年2月20日前", "红灯", "已交办", "逾期 10 天"):
        assert shown in row, shown
    assert "长期坚持" in html.split(f'data-problem-id="{ledger["D"]}"')[1].split("</tr>")[0]
    # the filter selects list the real regions, units and batches
    assert '<option value="%d"' % org["town"] in html and "2024年中央督察</option>" in html
    assert "南岭县住房和城乡建设局</option>" in html
    # counts by light above the table
    assert 'data-count="total">4<' in html and 'data-count="red">1<' in html
    # the office imports and exports
    assert 'href="/ledger/import"' in html and 'href="/ledger/export.xlsx"' in html


FILTERS = [
    ("region={town}", ["NL-C"]),
    ("region={county}", ["NL-A", "NL-B", "NL-C", "NL-D"]),       # a region includes those below it
    ("unit={housing_unit}", ["NL-A", "NL-B", "NL-C", "NL-D"]),    # lead or cooperating
    ("unit={eco}", ["NL-A", "NL-C", "NL-D"]),
    ("source=central", ["NL-C"]),
    ("batch=2025年省级督察", ["NL-A", "NL-B", "NL-D"]),
    ("category=air", ["NL-B"]),
    ("light=red", ["NL-A"]),
    ("status=registered", ["NL-A", "NL-B", "NL-C", "NL-D"]),
    ("status=closed", []),
    ("overdue=true", ["NL-A"]),
    ("overdue=false", ["NL-B", "NL-C", "NL-D"]),
    ("q=垃圾", ["NL-C"]),
    ("q=nl-b", ["NL-B"]),
    ("q=100%25", []),
    ("category=water&overdue=true", ["NL-A"]),
]


def test_filters(client, org, ledger):
    login(client, "admin")
    for query, expected in FILTERS:
        url = "/ledger?" + query.format(town=org["town"], county=org["county"], housing_unit=org["housing"],
                                        eco=org["eco"])
        status, html = page_of(client, url)
        assert status == 200, query
        assert codes(html) == expected, query
        if not expected:
            assert "没有符合条件的问题。" in html


SORTS = [
    ("code", ["NL-A", "NL-B", "NL-C", "NL-D"]),
    ("-code", ["NL-D", "NL-C", "NL-B", "NL-A"]),
    ("deadline", ["NL-A", "NL-C", "NL-B", "NL-D"]),     # no deadline last
    ("-deadline", ["NL-D", "NL-B", "NL-C", "NL-A"]),
    ("light", ["NL-A", "NL-B", "NL-C", "NL-D"]),        # red first, then the greens by id
    ("region", ["NL-A", "NL-B", "NL-D", "NL-C"]),       # 南岭县 before 青石镇
    ("category", ["NL-B", "NL-D", "NL-C", "NL-A"]),     # by code: air, ecology, solid_waste, water
]


def test_sorting(client, org, ledger):
    login(client, "admin")
    for sort, expected in SORTS:
        status, html = page_of(client, f"/ledger?sort={sort}")
        assert status == 200 and codes(html) == expected, sort
        assert f'aria-sort="{"descending" if sort.startswith("-") else "ascending"}"' in html


def test_header_links_keep_the_filters_and_turn_the_order(client, org, ledger):
    login(client, "admin")
    _, html = page_of(client, "/ledger?category=water&sort=deadline")
    header = html.split('data-sort-key="deadline"')[1].split("</th>")[0]
    assert "sort=-deadline" in header and "category=water" in header
    _, html = page_of(client, "/ledger?category=water&sort=-deadline")
    header = html.split('data-sort-key="deadline"')[1].split("</th>")[0]
    assert "sort=deadline" in header and "sort=-deadline" not in header
    _, html = page_of(client, "/ledger")
    assert "sort=-code" in html.split('data-sort-key="code"')[1].split("</th>")[0]


def test_paging(client, duban, org):
    for number in range(1, 26):
        add(duban, org, f"NL-{number:03d}")
    login(client, "admin")
    _, first = page_of(client, "/ledger?category=water")
    assert codes(first) == [f"NL-{n:03d}" for n in range(1, 21)]
    assert 'data-page="1" data-pages="2"' in first and "共 25 条" in first
    assert 'href="/ledger?category=water&amp;page=2"' in first or 'href="/ledger?page=2&amp;category=water"' in first
    _, second = page_of(client, "/ledger?category=water&page=2")
    assert codes(second) == [f"NL-{n:03d}" for n in range(21, 26)]
    _, small = page_of(client, "/ledger?per_page=10&page=3&sort=-code")
    assert codes(small) == [f"NL-{n:03d}" for n in range(5, 0, -1)]
    _, beyond = page_of(client, "/ledger?page=9")
    assert codes(beyond) == [] and "没有符合条件的问题。" in beyond


def test_htmx_updates_the_table_only(client, org, ledger):
    login(client, "admin")
    status, html = page_of(client, "/ledger?light=red", **{"HX-Request": "true", "HX-Target": "problem-table"})
    assert status == 200 and "<html" not in html and 'id="ledger-filters"' not in html
    assert codes(html) == ["NL-A"]
    state = json.loads(re.search(r"data-ledger-state='([^']+)'", html).group(1))
    assert state["light"] == "red" and state["sort"] == "code" and "light=red" in state["export"]


BAD = [
    ("sort=password", "排序"), ("sort=--code", "排序"), ("page=0", "页码"), ("page=abc", "页码"),
    ("per_page=1000", "每页条数"), ("region=abc", "区域"), ("unit=-3", "责任单位"), ("light=purple", "灯色"),
    ("status=done", "状态"), ("source=x", "来源"), ("category=metal", "类别"), ("overdue=maybe", "是否逾期"),
    ("q=" + "很" * 101, "关键词"),
]


def test_bad_arguments_are_a_400_page_naming_the_field(client, org, ledger):
    login(client, "admin")
    for query, field in BAD:
        status, html = page_of(client, "/ledger?" + query)
        assert status == 400, query
        assert f"「{field}」" in html and "请求有误" in html, query


def test_unknown_region_or_unit_is_just_empty(client, org, ledger):
    login(client, "admin")
    assert codes(page_of(client, "/ledger?region=99999")[1]) == []
    assert codes(page_of(client, "/ledger?unit=99999")[1]) == []


def test_officials_see_only_their_problems(client, org, ledger):
    login(client, "eco_clerk")  # 赵科员: a clerk of the lead unit of A, C and D, responsible for D
    status, html = page_of(client, "/ledger")
    assert status == 200 and codes(html) == ["NL-A", "NL-C", "NL-D"]
    assert 'href="/ledger/import"' not in html and "导出 Excel" not in html
    assert 'data-count="total">3<' in html
    client.post("/logout")
    client.delete_cookie("session")
    login(client, "outsider")
    _, html = page_of(client, "/ledger")
    assert codes(html) == [] and "2025年省级督察</option>" not in html  # no batch of what one cannot see


def test_the_ledger_needs_sign_in(client, org):
    response = client.get("/ledger")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# -- one problem -----------------------------------------------------------------------------

def test_problem_page_shows_chain_plan_tasks_and_timeline(client, duban, org):
    problem_id = add(duban, org, "NL-2026-001", milestones=[("完成提标改造设计", date(2026, 2, 27)),
                                                            ("设备安装调试", date(2026, 5, 31))])
    [(sign, _, _)] = ready_tasks(duban, "responsible", org)
    duban.complete_task(org["user:responsible"], sign, {"acknowledged": True})
    [(plan, _, _)] = ready_tasks(duban, "responsible", org)
    duban.complete_task(org["user:responsible"], plan, PLAN)
    [(review, _, _)] = ready_tasks(duban, "admin", org)
    duban.complete_task(org["user:admin"], review, {"decision": "return", "reason": "措施不够具体"})
    duban.upload_evidence(org["user:responsible"], problem_id, "现场.png", "image/png", b"\x89PNG\r\n\x1a\n")

    login(client, "admin")
    status, html = page_of(client, f"/problems/{problem_id}")
    assert status == 200
    chain = html.split('id="chain"')[1].split("</section>")[0]
    for shown in ("清江市 › 南岭县", "周书记", "吴县长", "南岭县生态环境分局", "李局长", "南岭县住房和城乡建设局",
                  "张科长"):
        assert shown in chain, shown
    assert 'data-head="party">周书记<' in chain and 'data-head="government">吴县长<' in chain
    plan_card = html.split('id="plan"')[1].split("</section>")[0]
    assert PLAN["target"] in plan_card and PLAN["measures"] in plan_card and "2026-06-20" in plan_card
    assert 'data-pending-state="returned"' in plan_card  # the plan was sent back: kept as what was sent back
    assert "共 2 个，已完成整改 0 个" in plan_card
    assert 'data-milestone="late"' in plan_card and 'data-milestone="open"' in plan_card
    # the plan went back: the responsible person's task is open again, and links to the task page
    [(task_id, element, _)] = ready_tasks(duban, "responsible", org)
    tasks_card = html.split('id="current-tasks"')[1].split("</section>")[0]
    assert f'href="/tasks/{task_id}"' in tasks_card and "提交整改方案" in tasks_card and "张科长" in tasks_card
    timeline = html.split('id="timeline"')[1].split("</section>")[0]
    for shown in ("登记交办", "启动流程", "环保督察问题整改（第 1 版）", "派发任务", "「签收」交 张科长 办理",
                  "办理任务", "提交整改方案（待审核）", "整改方案退回", "退回", "从「审核整改方案」退回至「提交整改方案」", "措施不够具体",
                  "状态变更", "已交办 → 方案编制", "上传佐证材料", "现场.png", "张科长", "admin"):
        assert shown in timeline, shown
    assert timeline.index("登记交办") < timeline.index("退回")
    evidence = html.split('id="evidence"')[1].split("</section>")[0]
    assert 'class="thumb"' in evidence and "/evidence/" in evidence
    assert "未触发督办。" in html and "没有延期申请。" in html


def test_problem_page_escalations_extensions_and_several_processes(client, duban, org):
    problem_id = add(duban, org, "NL-2026-001", deadline=date(2026, 3, 20))
    request_id = duban.request_extension(org["user:responsible"], problem_id, extensions.NewRequest(
        requested_deadline=date(2026, 3, 27), reason="设备到货延迟"))
    duban.decide_extension(org["user:admin"], request_id, False, "理由不充分")
    clock.freeze(datetime(2026, 3, 25, 9, 0, tzinfo=clock.SHANGHAI))
    fired = duban.sweep()
    assert [f.level for f in fired] == [1, 2]

    login(client, "admin")
    status, html = page_of(client, f"/problems/{problem_id}")
    assert status == 200
    escalations = html.split('id="escalations"')[1].split("</section>")[0]
    assert 'data-escalation-level="1"' in escalations and 'data-escalation-level="2"' in escalations
    assert "张科长" in escalations and "李局长" in escalations
    extensions_card = html.split('id="extensions"')[1].split("</section>")[0]
    assert "2026-03-20 → 2026-03-27" in extensions_card and "不予批准" in extensions_card
    assert "设备到货延迟" in extensions_card and "理由不充分" in extensions_card
    assert "已逾期 5 天" in html
    timeline = html.split('id="timeline"')[1].split("</section>")[0]
    assert "触发督办" in timeline and "第 2 级" in timeline and "申请延期" in timeline and "不予批准延期" in timeline

    with duban.db.reading() as session:
        instances = session.scalars(select(ProcessInstance).where(ProcessInstance.problem_id == problem_id)
                                    .order_by(ProcessInstance.id)).all()
        keys = [i.definition.key for i in instances]
        ids = [i.id for i in instances]
    assert keys[0] == "rectification" and len(keys) >= 2  # the urging (催办) started a process of its own
    tabs = html.split('class="process-tabs"')[1].split("</div>")[0]
    assert all(f'data-instance-id="{i}"' in tabs for i in ids)
    data = json.loads(re.search(r'<script id="diagram-data" type="application/json">(.*?)</script>', html,
                                re.S).group(1))
    assert data["instance_id"] == ids[0] and data["current"] == ["Task_sign"]
    other = client.get(f"/problems/{problem_id}/instances/{ids[1]}/diagram")
    assert other.status_code == 200 and other.json["instance_id"] == ids[1]
    assert other.json["xml"].startswith("<?xml") or "<bpmn:definitions" in other.json["xml"]
    assert other.json["current"] and other.json["done"]
    chosen = page_of(client, f"/problems/{problem_id}?instance={ids[1]}")[1]
    assert f'"instance_id": {ids[1]}' in chosen
    assert client.get(f"/problems/{problem_id}?instance=999999").status_code == 404


def test_problem_page_refuses_strangers_and_unknown_ids(client, duban, org):
    problem_id = add(duban, org, "NL-2026-001")
    with duban.db.reading() as session:
        instance_id = session.scalars(select(ProcessInstance.id)).first()
    other_id = add(duban, org, "NL-2026-002")
    login(client, "outsider")
    response = client.get(f"/problems/{problem_id}")
    assert response.status_code == 403 and "无权访问" in response.get_data(as_text=True)
    assert client.get(f"/problems/{problem_id}/instances/{instance_id}/diagram").status_code == 403
    with duban.db.reading() as session:
        denied = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "permission.denied",
                                                           LedgerEntry.problem_id == problem_id)).all()
    assert [e.payload["action"] for e in denied] == [f"see problem {problem_id}"] * 2
    assert client.get("/problems/999999").status_code == 404
    client.post("/logout")
    client.delete_cookie("session")
    login(client, "responsible")
    assert client.get(f"/problems/{problem_id}").status_code == 200
    assert client.get(f"/problems/{problem_id}/instances/{instance_id}/diagram").status_code == 200
    # an instance of another problem is not this problem's
    assert client.get(f"/problems/{other_id}/instances/{instance_id}/diagram").status_code == 404
    assert client.get(f"/problems/{problem_id}/instances/999999/diagram").status_code == 404


def test_an_official_sees_no_refusals_and_no_link_to_tasks_not_theirs(client, duban, org):
    problem_id = add(duban, org, "NL-2026-001")
    [(sign, _, _)] = ready_tasks(duban, "responsible", org)
    duban.complete_task(org["user:responsible"], sign, {"acknowledged": True})
    [(plan, _, _)] = ready_tasks(duban, "responsible", org)
    duban.complete_task(org["user:responsible"], plan, PLAN)
    [(review, _, _)] = ready_tasks(duban, "admin", org)
    login(client, "outsider")
    client.get(f"/problems/{problem_id}")  # refused and recorded
    client.post("/logout")
    client.delete_cookie("session")
    login(client, "responsible")
    html = page_of(client, f"/problems/{problem_id}")[1]
    tasks_card = html.split('id="current-tasks"')[1].split("</section>")[0]
    assert "审核整改方案" in tasks_card and f'href="/tasks/{review}"' not in tasks_card
    assert "拒绝访问" not in html


# -- the trail the diagram draws ---------------------------------------------------------------

def _trail(duban, problem_id):
    with duban.db.reading() as session:
        instance = session.scalars(select(ProcessInstance).where(ProcessInstance.problem_id == problem_id)
                                   .order_by(ProcessInstance.id)).first()
        return trail.of_instance(instance), trail.of_task_rows(instance)


def test_trail_of_a_new_instance(duban, org):
    found, rows = _trail(duban, add(duban, org, "NL-2026-001"))
    assert found.current == ["Task_sign"] and found.done == ["StartEvent_assigned"]
    assert found.flows == ["Flow_to_sign"] and found.waiting == [] and found.from_state
    assert rows.current == ["Task_sign"] and rows.done == [] and not rows.from_state


def test_trail_after_a_send_back_and_at_rectification(duban, org):
    problem_id = add(duban, org, "NL-2026-001")
    for user, data in (("responsible", {"acknowledged": True}), ("responsible", PLAN),
                       ("admin", {"decision": "return", "reason": "不够具体"})):
        [(task_id, _, _)] = ready_tasks(duban, user, org)
        duban.complete_task(org[f"user:{user}"], task_id, data)
    found, _ = _trail(duban, problem_id)
    assert found.current == ["Task_submit_plan"]  # passed once, and where the work is again
    assert {"Task_sign", "Task_review_plan", "Gateway_plan_approved"} <= set(found.done)
    assert "Task_submit_plan" not in found.done
    assert "Flow_plan_returned" in found.flows and "Flow_plan_approved" not in found.flows

    for user, data in (("responsible", PLAN), ("admin", {"decision": "approve"})):
        [(task_id, _, _)] = ready_tasks(duban, user, org)
        duban.complete_task(org[f"user:{user}"], task_id, data)
    found, rows = _trail(duban, problem_id)
    assert found.current == ["Task_rectify"]
    assert found.waiting == ["BoundaryEvent_monthly"]  # the monthly progress report's timer
    assert {"Flow_plan_returned", "Flow_plan_approved", "Flow_to_industry_certify"} & set(found.flows) == {
        "Flow_plan_returned", "Flow_plan_approved"}
    assert rows.current == ["Task_rectify"] and "Task_review_plan" in rows.done


def test_every_flow_taken_is_a_flow_of_the_diagram(duban, org):
    problem_id = add(duban, org, "NL-2026-001")
    with duban.db.reading() as session:
        instance = session.scalars(select(ProcessInstance).where(ProcessInstance.problem_id == problem_id)).one()
        joins = trail.sequence_flows(instance.definition.bpmn_xml)
    assert joins[("Gateway_plan_approved", "Task_submit_plan")] == ["Flow_plan_returned"]
    assert len({flow for flows in joins.values() for flow in flows}) == sum(len(f) for f in joins.values())


def test_an_unreadable_state_falls_back_to_the_task_rows(duban, org):
    problem_id = add(duban, org, "NL-2026-001")
    with duban.db.reading() as session:
        instance = session.scalars(select(ProcessInstance).where(ProcessInstance.problem_id == problem_id)).one()
        instance.state = {"format": "something-else"}
        found = trail.of_instance(instance)
        session.rollback()
    assert found.current == ["Task_sign"] and not found.from_state and found.flows == []
