"""Small helpers several test files share: driving a problem along the rectification flow,
uploading evidence, and looking at the database from the outside."""
from __future__ import annotations

from io import BytesIO

from sqlalchemy import func, select

from engine.models import Base, HumanTask, LedgerEntry, Problem, ProcessInstance, SecurityEvent
from engine.ledger import Action

PLAN = {"target": "出水稳定达到一级A标准", "measures": "提标改造，新增深度处理单元", "deadline_kind": "by_date",
        "deadline": "2026-06-20"}

# The steps from registration to each user task, with who does them and what they enter.
STEPS = [
    ("Task_sign", "responsible", {"acknowledged": True}),
    ("Task_submit_plan", "responsible", PLAN),
    ("Task_review_plan", "admin", {"decision": "approve"}),
]


def upload(api, problem_id: int, content: bytes = b"%PDF-1.4 report", name: str = "验收报告.pdf",
           as_: str = "responsible") -> int:
    response = api.post(f"/api/problems/{problem_id}/evidence", as_=as_,
                        data={"file": (BytesIO(content), name)}, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json["id"]


def drive_to(api, problem_id: int, element: str) -> dict:
    """Complete the flow's tasks, from wherever the problem stands, until `element` is ready; that task."""
    steps = {name: (user, data) for name, user, data in STEPS}
    while True:
        ready = [t for t in api.get(f"/api/problems/{problem_id}", as_="admin").json["current_tasks"]]
        names = [t["element_id"] for t in ready]
        if element in names:
            return api.ready_task(problem_id, element)
        if "Task_rectify" in names:
            evidence = upload(api, problem_id)
            api.complete(api.ready_task(problem_id, "Task_rectify"), "responsible",
                         {"summary": "整改完成", "evidence": [evidence]})
            continue
        assert len(ready) == 1 and names[0] in steps, f"cannot drive from {names} to {element}"
        user, data = steps[names[0]]
        api.complete(ready[0], user, data)


def snapshot(duban) -> dict:
    """Row counts of every table, the ledger's last id, and the states that an action changes in
    place (task states, instance versions, problem statuses): what a refused request must leave."""
    with duban.db.reading() as session:
        counts = {table.name: session.scalar(select(func.count()).select_from(table))
                  for table in Base.metadata.sorted_tables}
        # a refusal is recorded (permission_denied): that is what a refused request leaves
        business = LedgerEntry.action != Action.PERMISSION_DENIED
        counts["ledger_entry"] = session.scalar(select(func.count()).select_from(LedgerEntry).where(business))
        counts["ledger_last_id"] = session.scalar(select(func.max(LedgerEntry.id)).where(business))
        # the sign-ins that fetch a test's tokens are events of their own, not the request's
        counts["security_event"] = session.scalar(select(func.count()).select_from(SecurityEvent).where(
            SecurityEvent.kind.not_in(("sign_in", "token_issued"))))
        counts["task_states"] = session.execute(select(HumanTask.id, HumanTask.state).order_by(HumanTask.id)).all()
        counts["instance_versions"] = session.execute(
            select(ProcessInstance.id, ProcessInstance.version).order_by(ProcessInstance.id)).all()
        counts["problem_statuses"] = session.execute(select(Problem.id, Problem.status).order_by(Problem.id)).all()
    return counts


def ledger_actions(duban, **filters) -> list[LedgerEntry]:
    with duban.db.reading() as session:
        return list(session.scalars(select(LedgerEntry).filter_by(**filters).order_by(LedgerEntry.id)))
