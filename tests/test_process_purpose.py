"""What a process is for (流程用途): declared by the diagram, stored at deployment; problems are
registered only on problem processes (API and Excel import), the ladder's processes are
started by the ladder alone, and a rule cannot make the ladder start a problem process."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.errors import Invalid
from engine.models import Escalation, Problem, ProcessInstance

from .helpers_incidents import chain, user
from .support import for_problems
from .test_definitions import FIXTURE, ROOT, deploy_xml
from .test_escalation import DEADLINE, sweep_at
from .test_import_batches import sheet

SHIPPED = {path.stem: path.read_text(encoding="utf-8") for path in (ROOT / "bpmn").glob("*.bpmn")}


def problem_count(duban) -> int:
    with duban.db.reading() as session:
        return session.scalar(select(func.count()).select_from(Problem))


def purposes(api) -> dict[str, str | None]:
    """The newest version's purpose of each key."""
    found: dict[str, str | None] = {}
    for row in api.get("/api/process-definitions", as_="admin").json["items"]:   # newest first within a key
        found.setdefault(row["key"], row["purpose"])
    return found


def undeclared(key: str) -> str:
    """A one-task diagram that declares no purpose and sets no problemStatus."""
    text = chain(key, user("Task_do"))
    start = text.index("<bpmn:extensionElements>")
    end = text.index("</bpmn:extensionElements>") + len("</bpmn:extensionElements>")
    return text[:start] + text[end:]


def test_the_shipped_processes_declare_their_purpose(api):
    assert purposes(api) == {"rectification": "problem", "escalation": "escalation", "interview": "interview",
                             "accountability": "accountability"}
    for key, text in SHIPPED.items():   # declared in the diagram itself, not taken from the key
        assert 'name="purpose" value="' in text, key


@pytest.mark.parametrize("key, words", [("interview", "started by the escalation ladder"),
                                        ("escalation", "started by the escalation ladder"),
                                        ("accountability", "not for a problem")])
def test_a_ladder_process_is_refused_for_a_problem_naming_the_field(api, duban, key, words):
    before = problem_count(duban)
    response = api.post("/api/problems", as_="admin", json=_body(api, process_key=key))
    assert response.status_code == 400, response.json
    assert words in response.json["errors"]["process_key"][0] and repr(key) in response.json["message"]
    assert problem_count(duban) == before
    with duban.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 0


def _body(api, **overrides):
    from .support import problem_body
    return problem_body(api.org, **overrides)


def test_an_undeclared_diagram_without_problem_status_is_warned_and_refused_for_problems(api, duban):
    document = undeclared("plain_flow")
    refused = deploy_xml(api, document)
    assert refused.status_code == 400
    warned = [f for f in refused.json["findings"] if f["code"] == "no-problem-status"]
    assert len(warned) == 1 and "declares no purpose" in warned[0]["message"]
    assert "声明 purpose = problem" in warned[0]["message_zh"]
    assert deploy_xml(api, document, accept=FIXTURE).status_code == 201
    assert purposes(api)["plain_flow"] is None
    response = api.post("/api/problems", as_="admin", json=_body(api, process_key="plain_flow"))
    assert response.status_code == 400 and "declare purpose = problem" in response.json["errors"]["process_key"][0]

    # declared: problems may be registered on it (the problemStatus warning stays)
    assert deploy_xml(api, for_problems(document), accept=FIXTURE).json["version"] == 2
    assert purposes(api)["plain_flow"] == "problem"
    assert api.register(process_key="plain_flow")["status"] == "registered"


def test_an_undeclared_diagram_that_sets_a_problem_status_is_a_problem_process(api):
    document = undeclared("status_flow").replace(
        '<bpmn:userTask id="Task_do" name="办理">',
        '<bpmn:userTask id="Task_do" name="办理"><bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="problemStatus" value="rectifying" /></spiffworkflow:properties>'
        '</bpmn:extensionElements>')
    response = deploy_xml(api, document)
    assert response.status_code == 201, response.json      # no warning at all
    assert purposes(api)["status_flow"] == "problem"
    assert api.register(process_key="status_flow")["status"] == "rectifying"


def test_a_ladder_purpose_needs_no_problem_status_and_an_unknown_one_is_an_error(api):
    findings = api.post("/api/process-definitions/check", as_="admin", data=for_problems(
        undeclared("late_letter"), "escalation").encode(), content_type="application/xml").json
    assert findings["warnings"] == 0 and findings["errors"] == 0
    bad = deploy_xml(api, for_problems(undeclared("odd_flow"), "rectify"))
    assert bad.status_code == 400 and "odd_flow" in bad.json["errors"]
    assert any(f["code"] == "purpose-unknown" and "rectify" in f["message"] for f in bad.json["findings"])


def test_an_import_on_a_ladder_process_is_refused_naming_the_field(duban, org):
    with pytest.raises(Invalid) as refused:
        duban.import_ledger(org["user:admin"], sheet(2), confirm=True, filename="台账.xlsx", process_key="interview")
    assert "process_key" in refused.value.errors and "escalation ladder" in refused.value.message
    assert problem_count(duban) == 0
    report = duban.import_ledger(org["user:admin"], sheet(2), confirm=True, filename="台账.xlsx")
    assert problem_count(duban) == 2, report


def test_a_rule_may_not_start_a_problem_process(api, duban):
    rules = [dict(r) for r in duban.escalation_rules().rules]
    rules[1] = {**rules[1], "action": {"kind": "start_process", "process": "rectification"}}
    response = api.client.put("/api/escalation-rules", json={"rules": rules},
                              headers={"Authorization": f"Bearer {api.token('admin')}"})
    assert response.status_code == 400, response.json
    assert "problem process" in response.json["errors"]["rules.1.action.process"][0]
    assert duban.escalation_rules().version == 1


def test_the_ladder_starts_no_process_that_became_a_problem_process(api, duban):
    """A rule saved while `escalation` was the ladder's; a new version then declares it a
    problem process: the firing stands, starts nothing and says why."""
    text = SHIPPED["escalation"].replace('name="purpose" value="escalation"', 'name="purpose" value="problem"')
    assert deploy_xml(api, text, accept=FIXTURE).status_code == 201
    api.register(deadline=DEADLINE)
    assert sweep_at(duban, "2026-03-21T00:00:01")[-1] == ("NL-2026-001", 2)
    with duban.db.reading() as session:
        fired = session.scalars(select(Escalation).where(Escalation.level == 2)).one()
        assert fired.instance_ids == [] and "problem process" in fired.note


def test_the_pages_show_each_process_purpose(app, api):
    from .test_pages import login

    client = app.test_client()
    login(client, "admin")
    listing = client.get("/admin/definitions").get_data(as_text=True)
    assert 'data-purpose="interview"' in listing and 'data-purpose="problem"' in listing
    version = client.get("/admin/definitions/accountability/1").get_data(as_text=True)
    assert 'data-purpose="accountability"' in version and "问责" in version
    deploy_xml(api, undeclared("plain_flow"), accept=FIXTURE)
    assert "未声明（不能用于登记问题）" in client.get("/admin/definitions/plain_flow/1").get_data(as_text=True)
