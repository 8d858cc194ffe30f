"""Accountability cases name their official everywhere: one firing of the top rung opens a case
per official (党政同责), and the discipline office tells them apart in 我的待办, in the problem
page's process tabs, in the case list (grouped under the firing: rung, when, why) and on the
case page, each with the official's post as the firing named it."""
from __future__ import annotations

import re
from html import unescape

from sqlalchemy import select

from engine.models import Escalation, HumanTask, ProcessInstance, TaskState

from .test_pages import login
from .test_pages_cases import cases, client  # noqa: F401  (fixtures)

OFFICIALS = ("responsible", "eco_head", "magistrate", "secretary", "housing_head")
NAMES = {"responsible": "张科长", "eco_head": "李局长", "magistrate": "吴县长", "secretary": "周书记",
         "housing_head": "王局长"}


def labels(duban, cases) -> dict[int, str]:
    """case id -> "name（post）" as the firing's targets name the official."""
    with duban.db.reading() as session:
        found = {}
        for instance in session.scalars(select(ProcessInstance).where(ProcessInstance.subject_official_id.is_not(None))):
            firing = session.get(Escalation, instance.escalation_id)
            target = next(t for t in firing.targets if t["official_id"] == instance.subject_official_id)
            found[instance.id] = f"{target['name']}（{target['title']}）" if target.get("title") else target["name"]
    assert len(found) == 5 and all(NAMES[k] in found[cases[k]] for k in OFFICIALS)
    return found


def test_the_task_rows_name_the_official(client, duban, org, cases):
    named = labels(duban, cases)
    with duban.db.reading() as session:
        ready = {task_id: instance_id for task_id, instance_id in session.execute(
            select(HumanTask.id, HumanTask.instance_id).where(HumanTask.state == TaskState.READY,
                                                              HumanTask.instance_id.in_(list(named))))}
    assert len({named[i] for i in ready.values()}) >= 4, "the open cases wait at tasks of the same name"
    login(client, "jiwei")
    html = unescape(client.get("/tasks").get_data(as_text=True))
    for task_id, instance_id in ready.items():
        row = re.search(rf'<tr data-task-id="{task_id}".*?</tr>', html, re.S).group(0)
        assert f"问责对象：{named[instance_id]}" in row
        assert all(NAMES[k] not in row for k in OFFICIALS if cases[k] != instance_id)
    # a task of the rectification process names nobody
    with duban.db.reading() as session:
        plain = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == cases["rectification"],
                                                          HumanTask.state == TaskState.READY))
    login(client, "admin")
    office = client.get("/tasks").get_data(as_text=True)
    if plain is not None and f'data-task-id="{plain}"' in office:
        assert "问责对象" not in re.search(rf'<tr data-task-id="{plain}".*?</tr>', office, re.S).group(0)


def test_the_process_tabs_name_the_official_under_their_firing(client, duban, org, cases):
    named = labels(duban, cases)
    login(client, "jiwei")
    html = unescape(client.get(f"/problems/{cases['problem']}").get_data(as_text=True))
    tabs = html.split('role="tablist"')[1].split("</div>")[0]
    with duban.db.reading() as session:
        top = session.scalar(select(Escalation).where(Escalation.problem_id == cases["problem"],
                                                      Escalation.level == 5))
        top_id, top_name = top.id, top.rule_name
    group = tabs.split(f'data-firing-id="{top_id}"')
    assert len(group) == 2, "one label for the firing, before its cases"
    label = group[1].split("</span>")[0]
    assert top_name in label and "逾期" in label  # the rung and why it fired
    for key in OFFICIALS:
        tab = re.search(rf'data-instance-id="{cases[key]}".*?</a>', tabs, re.S).group(0)
        assert named[cases[key]] in tab
        assert f'data-instance-id="{cases[key]}"' in group[1]
    rectification = re.search(rf'data-instance-id="{cases["rectification"]}".*?</a>', tabs, re.S).group(0)
    assert "data-subject" not in rectification


def test_the_case_list_groups_the_cases_under_the_firing_and_names_each(client, duban, org, cases):
    named = labels(duban, cases)
    login(client, "jiwei")
    html = unescape(client.get("/accountability").get_data(as_text=True))
    headers = re.findall(r'<tr class="firing" data-firing-id="(\d+)">(.*?)</tr>', html, re.S)
    assert len(headers) == 1, "the five cases came from one firing"
    assert "第 5 级督办" in headers[0][1] and "NL-2026-001" in headers[0][1] and "逾期" in headers[0][1]
    after = html.split('<tr class="firing"')[1]
    for key in OFFICIALS:
        row = re.search(rf'<tr data-case-id="{cases[key]}".*?</tr>', after, re.S).group(0)
        name, post = named[cases[key]].rstrip("）").split("（")
        assert f"data-official>{name}</a>" in row and f"data-post>{post}</span>" in row


def test_the_case_page_names_the_official_and_post(client, duban, org, cases):
    named = labels(duban, cases)
    login(client, "jiwei")
    for key in ("secretary", "magistrate"):
        html = unescape(client.get(f"/accountability/cases/{cases[key]}").get_data(as_text=True))
        heading = re.search(r"<h1>(.*?)</h1>", html, re.S).group(1)
        assert named[cases[key]] in heading


def test_the_api_names_the_official_and_groups_the_cases_by_firing(api, duban, org, cases):
    named = labels(duban, cases)
    body = api.get("/api/accountability-cases?per_page=50", as_="jiwei").json
    listed = [c for c in body["items"] if c["id"] in named]
    assert len(listed) == 5
    for case in listed:
        assert case["subject"]["label"] == named[case["id"]]
        assert case["subject"]["official_id"] == case["official"]["id"]
        assert case["firing"]["level"] == 5 and case["firing"]["trigger"]["kind"]
    # one firing opened the five (one case per official); they come one after another
    assert len({c["firing"]["id"] for c in listed}) == 1
    positions = [i for i, c in enumerate(body["items"]) if c["id"] in named]
    assert positions == list(range(positions[0], positions[0] + 5))
