"""约谈 through Flask's test client: the interviews the ladder's 约谈 rung started, with whom
(both heads, 党政同责), why, when, their step, and the minutes and commitments once the forms
recorded them; one interview with its steps and timeline; a problem's interviews on its page;
only the discipline office and the rectification office read them."""
from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from engine import clock, tasks
from engine.models import LedgerEntry, ProcessInstance

from .helpers_pages import register
from .test_pages import login
from .test_pages_ledger import add

SCHEDULE = {"interview_on": "2026-04-24", "place": "县委第一会议室", "interviewer": "市环督办主任",
            "subject": "县城污水处理厂出水超标问题逾期未整改"}
HOLD = {"held_on": "2026-04-24", "attendees": "周书记、吴县长到会", "minutes": "通报问题，听取整改情况说明",
        "commitments": "5月20日前完成提标改造"}


def signed_in(app, user):
    client = app.test_client()
    login(client, user)
    return client


def interview_task(duban, org, instance_id, element):
    with duban.db.reading() as db:
        viewer = duban.actor(db, org["user:admin"])
        [task] = [t for t in db.scalars(tasks.query(viewer)) if t.instance_id == instance_id
                  and t.element_id == element]
        return task.id


@pytest.fixture
def interview(duban, org):
    """An overdue problem whose ladder reached 约谈 (level 4) on 21 April: the interview's id."""
    problem_id = add(duban, org, "YT-2026-001", deadline=date(2026, 3, 20))
    clock.freeze(datetime(2026, 4, 21, 0, 0, 1, tzinfo=clock.SHANGHAI))
    assert [f.level for f in duban.sweep()] == [1, 2, 3, 4]
    with duban.db.reading() as db:
        [instance_id] = db.scalars(select(ProcessInstance.id).join(ProcessInstance.definition)
                                   .where(ProcessInstance.problem_id == problem_id)
                                   .where(ProcessInstance.definition.has(key="interview"))).all()
    return {"problem": problem_id, "id": instance_id}


def row_of(html: str, instance_id: int) -> str:
    return html.split(f'data-interview-id="{instance_id}"')[1].split("</tr>")[0]


def test_the_interviews_say_whom_why_when_and_where_they_stand(app, duban, org, interview):
    jiwei = signed_in(app, "jiwei")
    html = jiwei.get("/interviews").get_data(as_text=True)
    row = row_of(html, interview["id"])
    assert 'data-status="running"' in html
    for shown in ("周书记", "吴县长", "L4 约谈", "YT-2026-001", "安排约谈"):
        assert shown in row, shown
    assert re.search(r"data-minutes>\s*—", row) and re.search(r"data-commitments>\s*—", row)
    admin_row = row_of(signed_in(app, "admin").get("/interviews").get_data(as_text=True), interview["id"])
    assert re.search(r'href="/tasks/\d+">安排约谈', admin_row)

    duban.complete_task(org["user:admin"], interview_task(duban, org, interview["id"], "Task_schedule"), SCHEDULE)
    duban.complete_task(org["user:admin"], interview_task(duban, org, interview["id"], "Task_hold"), HOLD)
    row = row_of(jiwei.get("/interviews").get_data(as_text=True), interview["id"])
    assert "data-scheduled>2026-04-24<" in row
    assert "通报问题，听取整改情况说明" in row and "5月20日前完成提标改造" in row
    assert "报送书面整改承诺" in row

    page = jiwei.get(f"/interviews/{interview['id']}").get_data(as_text=True)
    assert page.count("data-interviewee") >= 2 and "周书记" in page and "吴县长" in page
    assert 'data-record="place">县委第一会议室<' in page and 'data-record="minutes">通报问题' in page
    assert 'data-record="commitments">5月20日前完成提标改造<' in page
    assert "data-trigger>" in page and "逾期 20 个工作日" in page
    for step in ("安排约谈", "实施约谈并形成纪要", "报送书面整改承诺"):
        assert step in page
    timeline = page.split('data-section="timeline"')[1]
    assert "data-action=\"task.completed\"" in timeline and "data-action=\"instance.started\"" in timeline


def test_the_step_links_to_its_task_for_whoever_holds_it(app, duban, org, interview):
    duban.complete_task(org["user:admin"], interview_task(duban, org, interview["id"], "Task_schedule"), SCHEDULE)
    duban.complete_task(org["user:admin"], interview_task(duban, org, interview["id"], "Task_hold"), HOLD)
    # the written commitment is the lead unit's: the office reads it and its page links the step
    page = signed_in(app, "admin").get(f"/interviews/{interview['id']}").get_data(as_text=True)
    assert re.search(r'href="/tasks/\d+">报送书面整改承诺', page)
    page = signed_in(app, "jiwei").get(f"/interviews/{interview['id']}").get_data(as_text=True)
    assert re.search(r'href="/tasks/\d+">报送书面整改承诺', page)  # 纪委 reads every task


def test_a_problem_shows_its_interviews(app, duban, org, interview):
    duban.complete_task(org["user:admin"], interview_task(duban, org, interview["id"], "Task_schedule"), SCHEDULE)
    duban.complete_task(org["user:admin"], interview_task(duban, org, interview["id"], "Task_hold"), HOLD)
    html = signed_in(app, "admin").get(f"/problems/{interview['problem']}").get_data(as_text=True)
    section = html.split('id="interviews"')[1].split("</section>")[0]
    assert f'href="/interviews/{interview["id"]}"' in section
    assert "周书记" in section and "通报问题，听取整改情况说明" in section and "5月20日前完成提标改造" in section
    # the responsible official reads the problem's interviews, without a link to the office's page
    html = signed_in(app, "responsible").get(f"/problems/{interview['problem']}").get_data(as_text=True)
    section = html.split('id="interviews"')[1].split("</section>")[0]
    assert "5月20日前完成提标改造" in section and "/interviews/" not in section


def test_the_list_filters_by_state_and_refuses_a_bad_one(app, duban, org, interview):
    jiwei = signed_in(app, "jiwei")
    assert f'data-interview-id="{interview["id"]}"' in jiwei.get("/interviews?status=open").get_data(as_text=True)
    closed = jiwei.get("/interviews?status=closed").get_data(as_text=True)
    assert f'data-interview-id="{interview["id"]}"' not in closed and "暂无约谈" in closed
    response = jiwei.get("/interviews?status=done")
    assert response.status_code == 400 and "参数 status 无效" in response.get_data(as_text=True)
    assert jiwei.get("/interviews?page=0").status_code == 400


def test_an_unknown_interview_or_another_process_is_not_found(app, duban, org, interview):
    admin = signed_in(app, "admin")
    assert admin.get("/interviews/99999").status_code == 404
    with duban.db.reading() as db:
        other = db.scalars(select(ProcessInstance.id).where(ProcessInstance.problem_id == interview["problem"],
                                                            ProcessInstance.id != interview["id"])).first()
    assert admin.get(f"/interviews/{other}").status_code == 404


@pytest.mark.parametrize("user", ["responsible", "secretary", "eco_head"])
def test_only_the_offices_read_the_interviews(app, duban, org, interview, user):
    client = signed_in(app, user)
    assert client.get("/interviews").status_code == 403
    assert client.get(f"/interviews/{interview['id']}").status_code == 403
    assert 'data-nav="interviews"' not in client.get("/tasks").get_data(as_text=True)
    with duban.db.reading() as db:
        assert db.scalar(select(func.count()).select_from(LedgerEntry)
                         .where(LedgerEntry.action == "permission.denied")) == 2
    for office in ("admin", "jiwei"):
        assert 'data-nav="interviews"' in signed_in(app, office).get("/tasks").get_data(as_text=True)


def test_the_pages_speak_english_when_asked(app, duban, org, interview):
    admin = signed_in(app, "admin")
    admin.get("/lang/en")
    html = admin.get("/interviews").get_data(as_text=True)
    assert "Interviewees" in html and "Current step" in html
    html = admin.get(f"/interviews/{interview['id']}").get_data(as_text=True)
    assert "Interview record" in html and "Interviewees" in html and "Why" in html
    html = admin.get("/problems/new").get_data(as_text=True)
    assert "Register a problem" in html and "Register and assign" in html
    html = admin.get("/problems/new/deadline?deadline=2027年6月底前").get_data(as_text=True)
    assert "due 2027-06-30" in html
    later = register(duban, org, code="YT-2026-002")  # due 30 June: still time to ask for more
    assert "File the extension request" in admin.get(f"/problems/{later}").get_data(as_text=True)
    assert "0 pending" in admin.get("/extensions").get_data(as_text=True)


def test_the_dashboard_leads_the_offices_to_the_interviews(app, duban, org, interview):
    html = signed_in(app, "jiwei").get("/dashboard").get_data(as_text=True)
    section = re.search(r'data-section="interviews".*?</section>', html, re.S).group(0)
    assert 'href="/interviews"' in section and f'href="/interviews/{interview["id"]}"' in section
    html = signed_in(app, "secretary").get("/dashboard").get_data(as_text=True)  # a leader: not these pages
    section = re.search(r'data-section="interviews".*?</section>', html, re.S).group(0)
    assert "YT-2026-001" in section and "/interviews" not in section
