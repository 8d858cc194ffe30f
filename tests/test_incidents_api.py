"""Incidents through the API: a failing start, a failing completion, a failing gateway
condition and a bad timer expression each leave their instance at an incident; the office
retries it once the cause is fixed; who may read and retry."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from engine import clock
from engine.models import HumanTask, InstanceStatus, LedgerEntry, ProblemStatus

from .helpers_incidents import chain, deploy, fix_data, gateway, incidents_of, instance_of, script, task_state, timer, user


def open_incident(api, problem_id: int) -> dict:
    [incident] = api.get(f"/api/problems/{problem_id}", as_="admin").json["incidents"]
    return incident


def test_a_failing_gateway_condition_registers_the_problem_at_an_incident_and_a_retry_fixes_it(api, duban):
    # `amount` is a declared data object nothing writes: it passes deployment, fails at run time
    deploy(api, gateway("amounts", "amount > 10", "amount <= 10", data=("amount",)))
    created = api.register(process_key="amounts")                         # 201: the problem stands
    incident = created["incidents"][0]
    assert (incident["element_id"], incident["element_name"], incident["status"], incident["attempts"]) == (
        "Gateway", "金额判断", "open", 1)
    assert "amount" in incident["message"] and created["current_tasks"] == []
    assert task_state(duban, created["id"], "Gateway") == "ERROR"

    again = api.post(f"/api/incidents/{incident['id']}/retry", as_="admin")   # the cause is still there
    assert again.status_code == 200, again.json
    assert (again.json["status"], again.json["attempts"]) == ("open", 2)

    fix_data(duban, created["id"], "Gateway", amount=20)
    fixed = api.post(f"/api/incidents/{incident['id']}/retry", as_="admin")
    assert fixed.status_code == 200, fixed.json
    assert (fixed.json["status"], fixed.json["resolved_by"], fixed.json["next_retry_at"]) == ("resolved", "admin", None)
    assert [t["element_id"] for t in api.get(f"/api/problems/{created['id']}", as_="admin").json["current_tasks"]] == [
        "Task_a"]
    assert instance_of(duban, created["id"]).status == InstanceStatus.RUNNING
    assert api.post(f"/api/incidents/{incident['id']}/retry", as_="admin").status_code == 409
    assert api.get(f"/api/problems/{created['id']}", as_="admin").json["incidents"] == []


def test_a_gateway_with_no_matching_condition(api, duban):
    deploy(api, gateway("nomatch", "False", "False"))
    incident = api.register(process_key="nomatch")["incidents"][0]
    assert (incident["element_id"], incident["error_type"]) == ("Gateway", "WorkflowException")
    assert "No conditions satisfied" in incident["message"]


def test_a_bad_timer_expression_is_an_incident_and_its_retry_starts_the_timer(api, duban):
    deploy(api, chain("waits_for", timer("Timer", "wait_for"), user("Task_after"), data=("wait_for",)))
    pid = api.register(process_key="waits_for")["id"]
    incident = open_incident(api, pid)
    assert (incident["element_id"], incident["error_type"]) == ("Timer", "NameError")
    assert "wait_for" in incident["message"] and "not defined" in incident["message"]
    assert instance_of(duban, pid).next_wakeup_at is None

    fix_data(duban, pid, "Timer", wait_for="PT2H")
    fixed = api.post(f"/api/incidents/{incident['id']}/retry", as_="admin").json
    assert fixed["status"] == "resolved"
    assert instance_of(duban, pid).next_wakeup_at == clock.now() + timedelta(hours=2)
    clock.advance(timedelta(hours=2, seconds=1))
    assert [names for _, names in duban.wake_due()] == [["等待期"]]


def test_a_completion_whose_next_step_fails_stands_and_names_the_incident(api, duban):
    deploy(api, chain("after_sign", user("Task_first", "签收"), script("Script", "total = count * 2"),
                      user("Task_after")))
    pid = api.register(process_key="after_sign")["id"]
    task = api.ready_task(pid, "Task_first")
    response = api.complete(task, "admin", {})
    assert response.json["state"] == "completed"                           # the completion stands: 200
    incident = response.json["incident"]
    assert (incident["element_id"], incident["error_type"], incident["status"]) == ("Script", "NameError", "open")
    with duban.db.reading() as session:
        completed = session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.problem_id == pid, LedgerEntry.action == "task.completed"))
        rows = session.scalars(select(HumanTask.state).where(HumanTask.problem_id == pid)).all()
    assert completed == 1 and [r.value for r in rows] == ["completed"]

    fix_data(duban, pid, "Script", count=3)
    assert api.post(f"/api/incidents/{incident['id']}/retry", as_="admin").json["status"] == "resolved"
    assert [t["element_id"] for t in api.get(f"/api/problems/{pid}", as_="admin").json["current_tasks"]] == [
        "Task_after"]
    assert api.get(f"/api/tasks/{task['id']}", as_="admin").json["incident"] is None


def test_a_retry_that_fails_further_on_resolves_this_incident_and_opens_the_next(api, duban):
    deploy(api, chain("two_faults", script("First", "a = first_value"), script("Second", "b = second_value"),
                      user("Task_after")))
    pid = api.register(process_key="two_faults")["id"]
    first = open_incident(api, pid)
    fix_data(duban, pid, "First", first_value=1)
    retried = api.post(f"/api/incidents/{first['id']}/retry", as_="admin").json
    assert retried["status"] == "resolved"
    second = open_incident(api, pid)
    assert (second["element_id"], second["attempts"]) == ("Second", 1)
    assert instance_of(duban, pid).status == InstanceStatus.ERROR


def test_the_list_pages_and_filters_and_who_may_read_and_retry(api, duban):
    deploy(api, gateway("nomatch", "False", "False"))
    ids = [api.register(code=f"G-{i}", process_key="nomatch")["incidents"][0]["id"] for i in range(3)]
    listed = api.get("/api/incidents?status=open&per_page=2", as_="jiwei")
    assert listed.status_code == 200
    assert ([i["id"] for i in listed.json["items"]], listed.json["total"]) == ([ids[2], ids[1]], 3)
    assert api.get("/api/incidents?status=resolved", as_="admin").json["total"] == 0
    assert api.get("/api/incidents?status=broken", as_="admin").status_code == 400
    assert api.get(f"/api/incidents/{ids[0]}", as_="jiwei").json["problem_code"] == "G-0"

    for path in ("/api/incidents", f"/api/incidents/{ids[0]}"):
        refused = api.get(path, as_="responsible")
        assert refused.status_code == 403 and refused.json["code"] == "forbidden"
        assert api.get(path).status_code == 401
    assert api.post(f"/api/incidents/{ids[0]}/retry", as_="responsible").status_code == 403
    assert api.post(f"/api/incidents/{ids[0]}/retry", as_="jiwei").status_code == 403   # reads, does not retry
    assert incidents_of(duban)[0].attempts == 1
    assert api.get("/api/incidents/999999", as_="admin").status_code == 404
    assert api.post("/api/incidents/999999/retry", as_="admin").status_code == 404
    with duban.db.reading() as session:
        denied = session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.action == "permission.denied", LedgerEntry.subject_type == "incident"))
    assert denied == 4


def test_the_dashboard_counts_open_incidents_for_admins(api, duban, app):
    deploy(api, gateway("nomatch", "False", "False"))
    api.register(process_key="nomatch")
    from .test_pages import login

    client = app.test_client()
    login(client, "admin")
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'data-figure="incidents"' in page and "流程异常" in page
    figure = page.split('data-figure="incidents"')[1].split("</div>")[0]
    assert "<b>1</b>" in figure
    client.get("/lang/en?next=/dashboard")
    assert "Incidents" in client.get("/dashboard").get_data(as_text=True).split('data-figure="incidents"')[1]
    other = app.test_client()
    login(other, "jiwei")
    assert 'data-figure="incidents"' not in other.get("/dashboard").get_data(as_text=True)


def test_the_openapi_document_describes_the_incident_endpoints(api):
    paths = api.get("/api/openapi.json").json["paths"]
    assert {"/api/incidents", "/api/incidents/{incident_id}", "/api/incidents/{incident_id}/retry"} <= set(paths)
    schemas = api.get("/api/openapi.json").json["components"]["schemas"]
    assert "incident" in schemas["TaskDetail"]["properties"] and "incidents" in schemas["ProblemDetail"]["properties"]


def test_a_problem_at_an_incident_keeps_its_status(api, duban):
    deploy(api, gateway("nomatch", "False", "False"))
    created = api.register(process_key="nomatch")
    assert created["status"] == ProblemStatus.REGISTERED.value
