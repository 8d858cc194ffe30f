"""The case a task decides on (engine.task_case), read from the process's completed tasks, their
forms and the ledger: a plan submitted, sent back with a reason, resubmitted; evidence pairs."""
from __future__ import annotations

from engine import task_case
from engine.models import HumanTask, User

from .helpers_flow import PLAN
from .helpers_pages import ready_tasks, register

PNG = b"\x89PNG\r\n\x1a\n"


def case_of(duban, task_id):
    with duban.db.reading() as session:
        return task_case.of_task(session, session.get(HumanTask, task_id))


def complete(duban, org, user, element, data) -> int:
    [(task_id, found, _)] = [t for t in ready_tasks(duban, user, org) if t[1] == element]
    duban.complete_task(org[f"user:{user}"], task_id, data)
    return task_id


def one_ready(duban, org, user, element) -> int:
    [task_id] = [t[0] for t in ready_tasks(duban, user, org) if t[1] == element]
    return task_id


def fields(shown) -> dict:
    return {f.label: f.value for f in shown}


def test_plan_sent_back_with_a_reason_and_resubmitted(duban, org):
    register(duban, org)
    complete(duban, org, "responsible", "Task_sign", {"acknowledged": True, "remark": "已签收"})
    first_plan = complete(duban, org, "responsible", "Task_submit_plan", {**PLAN, "milestones_text": ""})

    review = one_ready(duban, org, "admin", "Task_review_plan")
    case = case_of(duban, review)
    # the plan first (showsData), its fields first and by their labels, the select by its label
    assert [s.step for s in case.earlier] == ["提交整改方案", "签收"]
    plan = case.earlier[0]
    assert plan.first and plan.task_id == first_plan and plan.by and plan.at is not None
    assert [f.label for f in plan.fields][:3] == ["整改目标", "整改措施", "时限类型"]
    assert fields(plan.fields)["时限类型"] == "限期整改" and fields(plan.fields)["阶段性目标"] is None
    assert all(f.first for f in plan.fields)
    sign = case.earlier[1]
    assert not sign.first and fields(sign.fields) == {"确认签收": True, "备注": "已签收"}
    assert case.send_backs == [] and case.reopened_by is None and case.previous is None and case.own is None

    reason = "措施不具体：请写明深度处理单元的工艺、规模和投运时间。\n另请补充阶段性目标。"
    duban.complete_task(org["user:admin"], review, {"decision": "return", "reason": reason})
    again = one_ready(duban, org, "responsible", "Task_submit_plan")
    case = case_of(duban, again)
    back = case.reopened_by
    assert back is not None and back.task_id == again
    assert (back.from_step, back.to_step) == ("审核整改方案", "提交整改方案")
    with duban.db.reading() as session:
        reviewer = session.get(User, org["user:admin"]).display_name
    assert back.by == reviewer and back.at is not None
    assert fields(back.fields) == {"审核意见": "退回", "退回理由": reason}  # the reason in full
    assert case.previous["target"] == PLAN["target"] and case.previous["deadline_kind"] == "by_date"
    assert case.send_backs == [back]
    # the step's own earlier submission is the prefill, not one of the earlier steps
    assert [s.step for s in case.earlier] == ["审核整改方案", "签收"]

    complete(duban, org, "responsible", "Task_submit_plan", {**PLAN, "measures": "新增深度处理单元，日处理2万吨"})
    second_review = one_ready(duban, org, "admin", "Task_review_plan")
    case = case_of(duban, second_review)
    assert fields(case.earlier[0].fields)["整改措施"] == "新增深度处理单元，日处理2万吨"  # the latest submission
    assert [s.step for s in case.earlier] == ["提交整改方案", "签收"]  # its own step's return is history
    assert len(case.send_backs) == 1 and fields(case.send_backs[0].fields)["退回理由"] == reason
    assert case.reopened_by is None and case.previous["decision"] == "return"

    # the first review, done: what it submitted, by whom; the case as it stood then
    done = case_of(duban, review)
    assert done.own is not None and fields(done.own.fields)["退回理由"] == reason
    assert done.own.by and done.own.at is not None
    assert fields(done.earlier[0].fields)["整改措施"] == PLAN["measures"]


def test_evidence_pairs_and_files_of_a_submission(duban, org):
    problem_id = register(duban, org)
    complete(duban, org, "responsible", "Task_sign", {"acknowledged": True})
    complete(duban, org, "responsible", "Task_submit_plan", PLAN)
    complete(duban, org, "admin", "Task_review_plan", {"decision": "approve"})
    upload = duban.upload_evidence
    before = upload(org["user:responsible"], problem_id, "前.png", "image/png", PNG + b"before").id
    after = upload(org["user:responsible"], problem_id, "后.png", "image/png", PNG + b"after").id
    report = upload(org["user:responsible"], problem_id, "报告.pdf", "application/pdf", b"%PDF-1.4 report").id
    complete(duban, org, "responsible", "Task_rectify", {"summary": "已完成提标改造", "evidence": [report],
                                                          "photos_before": [before], "photos_after": [after]})
    certify = one_ready(duban, org, "housing_head", "Task_industry_certify")
    case = case_of(duban, certify)
    rectify = case.earlier[0]
    assert rectify.step == "整改实施并申请销号" and rectify.first
    assert [(f.label, f.kind) for f in rectify.fields] == [("整改完成情况", "text"), ("佐证材料", "files")]
    assert [row.id for row in rectify.fields[1].files] == [report]
    [pair] = rectify.pairs
    assert (pair.before_label, pair.after_label) == ("整改前照片", "整改后照片")
    assert ([r.id for r in pair.before], [r.id for r in pair.after]) == ([before], [after])

    # 不予认定 sends the work back to the rectification: its reopened task prefills the files too
    opinion = "出水监测数据不足一个月。"
    duban.complete_task(org["user:housing_head"], certify, {"decision": "reject", "opinion": opinion})
    again = one_ready(duban, org, "responsible", "Task_rectify")
    case = case_of(duban, again)
    assert fields(case.reopened_by.fields) == {"认定结论": "不予认定", "认定意见": opinion}
    assert case.previous["photos_before"] == [before] and case.previous["evidence"] == [report]


def test_shows_data_is_read_from_the_diagram(duban, org):
    register(duban, org)
    with duban.db.reading() as session:
        task = session.get(HumanTask, ready_tasks(duban, "responsible", org)[0][0])
        definition = task.instance.definition
        assert task_case.shows_data(definition, "Task_review_plan")[:2] == ["target", "measures"]
        assert task_case.shows_data(definition, "Task_sign") == []
        assert task_case.shows_data(definition, "No_such_element") == []


def test_a_shows_data_name_no_form_has_is_a_warning_at_deployment():
    from .helpers_validation import codes, document, good

    def with_shows(value: str) -> str:
        shows = (f'<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property name="showsData" '
                 f'value="{value}" /></spiffworkflow:properties><duban:form>')
        return document(*[b.replace("<bpmn:extensionElements><duban:form>", shows, 1) if 'id="Task_decide"' in b
                          else b for b in good()])

    assert "showsData" in with_shows("reason,decision")
    assert [c for c in codes(with_shows("reason,decision")) if c[1] == "shows-data"] == []
    assert [c for c in codes(with_shows("reason,reasn")) if c[1] == "shows-data"] == [
        ("warning", "shows-data", "Task_decide")]
