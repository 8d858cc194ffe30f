"""Appeals (申诉): after the decision is told, the official may appeal within the window (15
days in the shipped diagram); the discipline office reviews within 30 days and upholds,
revokes or changes the decision to a lighter form. The record stays append-only: a
revocation or a change is a new row, and the influence period ends or changes with it."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from engine import clock
from engine.models import AccountabilityRevision, Notification, ProcessInstance, TaskState

from .helpers_flow import ledger_actions, snapshot
from .test_processes import DECISION, at, case_task, instance_state, open_cases, to_decision, wake_at

APPEAL = {"appeal": "appeal", "appeal_reason": "本人已按期组织整改，延误系设备供货原因，请求撤销处分"}
REVIEW = {"appeal_decision_no": "清纪申复〔2026〕1号", "appeal_decision_date": "2026-03-20",
          "appeal_opinion": "经复查，申诉理由部分成立"}


def decided(api, duban, official: str, forms: dict) -> int:
    """A case of `official` decided with `forms`, recorded and told: it waits for the appeal."""
    case = open_cases(api, duban)[official]
    api.complete(to_decision(api, case), "jiwei", {**DECISION, **forms})
    api.complete(case_task(api, case, "Task_record", as_="jiwei"), "jiwei", {"recorded_in": ["ledger"]})
    return case


def record(api, official: str) -> dict:
    response = api.get(f"/api/officials/{api.org[official]}/accountability", as_="jiwei")
    assert response.status_code == 200, response.json
    return response.json


def by_form(record_json: dict) -> dict[str, dict]:
    return {d["form_label"]: d for d in record_json["decisions"]}


def test_the_official_appeals_and_a_revocation_ends_the_periods_from_its_date(api, duban):
    case = decided(api, duban, "magistrate", {"party_form": "admonish", "government_form": "gov_warning"})
    appeal = case_task(api, case, "Task_appeal", as_="magistrate")
    assert appeal["lane"] == "被问责人" and appeal["assignee"] == "magistrate"
    assert appeal["due_at"].startswith("2026-03-17")  # 15 days after it was told (2026-03-02)
    api.complete(appeal, "responsible", APPEAL, expect=403)  # only the official the case is about
    before = snapshot(duban)
    missing = api.complete(appeal, "magistrate", {"appeal": "appeal"}, expect=400)
    assert "appeal_reason" in missing.json["errors"]
    assert snapshot(duban) == before

    api.complete(appeal, "magistrate", APPEAL)
    [filed] = ledger_actions(duban, action="accountability.appealed")
    assert filed.payload["reason"] == APPEAL["appeal_reason"] and sorted(filed.payload["forms"]) == ["政务警告", "诫勉"]

    clock.freeze(at("2026-03-20T10:00:00"))
    review = case_task(api, case, "Task_appeal_review", as_="jiwei")
    assert review["candidate_role"] == "discipline" and review["due_at"].startswith("2026-04-01")  # 30 days after the appeal
    api.complete(review, "magistrate", {**REVIEW, "appeal_outcome": "revoked"}, expect=403)
    api.complete(review, "jiwei", {**REVIEW, "appeal_outcome": "revoked"})

    decisions = by_form(record(api, "magistrate"))
    assert set(decisions) == {"诫勉", "政务警告"}  # nothing new, nothing deleted
    for decision in decisions.values():
        [revision] = decision["revisions"]
        assert (revision["outcome"], revision["decision_no"], revision["decision_date"]) == (
            "revoked", "清纪申复〔2026〕1号", "2026-03-20")
        assert revision["appeal_reason"] == APPEAL["appeal_reason"] and revision["appealed_at"]
        assert decision["ended_on"] == "2026-03-20" and decision["in_force"] is False
        assert decision["influence_until"] == "2026-09-01"  # as decided: the decision row never changes
    assert record(api, "magistrate")["in_force"] == []
    assert sorted(e.payload["outcome"] for e in ledger_actions(duban, action="accountability.revised")) == [
        "revoked", "revoked"]

    with duban.db.reading() as session:
        told = session.scalars(select(Notification).where(Notification.official_id == api.org["magistrate"],
                                                          Notification.kind == "process_notice")
                               .order_by(Notification.id)).all()
    assert "撤销诫勉" in told[-1].body and "清纪申复〔2026〕1号" in told[-1].body
    api.complete(case_task(api, case, "Task_archive", as_="jiwei"), "jiwei", {"archive_no": "WZ-2026-012"})
    assert instance_state(duban, case)[0] == "completed"


def test_the_period_ran_until_the_revocation(api, duban):
    case = decided(api, duban, "responsible", {"government_form": "gov_demerit"})
    api.complete(case_task(api, case, "Task_appeal", as_="responsible"), "responsible", APPEAL)
    clock.freeze(at("2026-03-20T10:00:00"))
    api.complete(case_task(api, case, "Task_appeal_review", as_="jiwei"), "jiwei",
                 {**REVIEW, "appeal_outcome": "revoked", "appeal_decision_date": "2026-03-19"})
    clock.freeze(at("2026-03-18T12:00:00"))  # read back before the day it took effect: still running
    assert record(api, "responsible")["decisions"][0]["in_force"] is True
    clock.freeze(at("2026-03-19T00:00:00"))
    assert record(api, "responsible")["decisions"][0]["in_force"] is False


def test_a_change_is_to_a_lighter_form_only_and_counts_from_the_original_decision(api, duban):
    case = decided(api, duban, "responsible", {"government_form": "gov_major_demerit"})  # 记大过, 18 months
    api.complete(case_task(api, case, "Task_appeal", as_="responsible"), "responsible", APPEAL)
    review = case_task(api, case, "Task_appeal_review", as_="jiwei")
    offered = api.get(f"/api/tasks/{review['id']}", as_="jiwei").json["form_context"]
    assert [o["label"] for o in offered["lighter_government_forms"]] == ["政务警告", "记过"]
    assert offered["lighter_party_forms"] == []  # 张科长 is not a Party member

    changed = {**REVIEW, "appeal_outcome": "changed"}
    before = snapshot(duban)
    for data, field in [({}, "new_government_form"),                                      # nothing chosen
                        ({"new_government_form": "gov_downgrade"}, "new_government_form"),  # heavier
                        ({"new_government_form": "gov_major_demerit"}, "new_government_form"),  # the same
                        ({"new_party_form": "admonish"}, "new_party_form"),                 # no Party form decided
                        ({"new_government_form": "gov_demerit", "appeal_decision_date": "2026-02-27"},
                         "appeal_decision_date"),                                           # before the decision
                        ({"new_government_form": "gov_demerit", "appeal_decision_date": "2026-03-05"},
                         "appeal_decision_date")]:                                          # after today
        refused = api.complete(review, "jiwei", {**changed, "appeal_decision_date": "2026-03-02", **data}, expect=400)
        assert field in refused.json["errors"], (data, refused.json)
        assert snapshot(duban) == before

    api.complete(review, "jiwei", {**changed, "appeal_decision_date": "2026-03-02", "new_government_form": "gov_demerit"})
    decisions = by_form(record(api, "responsible"))
    old, new = decisions["记大过"], decisions["记过"]
    assert old["revisions"][0]["outcome"] == "changed" and old["revisions"][0]["replacement_id"] == new["id"]
    assert old["ended_on"] == "2026-03-02" and old["in_force"] is False and old["influence_until"] == "2027-09-01"
    assert new["replaces"] == [old["id"]] and new["revisions"] == []
    assert (new["decision_date"], new["influence_months"], new["influence_until"], new["in_force"]) == (
        "2026-03-01", 12, "2027-03-01", True)
    assert record(api, "responsible")["in_force"] == [new["id"]]
    [again] = [e for e in ledger_actions(duban, action="accountability.decided") if e.payload.get("replaces")]
    assert again.payload["replaces"] == old["id"] and again.payload["form_label"] == "记过"


def test_a_change_leaves_the_other_category_as_decided(api, duban):
    case = decided(api, duban, "magistrate", {"party_form": "party_warning", "government_form": "gov_warning"})
    api.complete(case_task(api, case, "Task_appeal", as_="magistrate"), "magistrate", APPEAL)
    api.complete(case_task(api, case, "Task_appeal_review", as_="jiwei"), "jiwei",
                 {**REVIEW, "appeal_decision_date": "2026-03-02", "appeal_outcome": "changed",
                  "new_party_form": "admonish"})
    decisions = by_form(record(api, "magistrate"))
    assert [r["outcome"] for r in decisions["政务警告"]["revisions"]] == ["upheld"]
    assert decisions["政务警告"]["in_force"] is True and decisions["党内警告"]["in_force"] is False
    assert decisions["诫勉"]["in_force"] is True


def test_an_upheld_decision_keeps_running_and_says_so(api, duban):
    case = decided(api, duban, "responsible", {"government_form": "gov_demerit"})
    api.complete(case_task(api, case, "Task_appeal", as_="responsible"), "responsible", APPEAL)
    api.complete(case_task(api, case, "Task_appeal_review", as_="jiwei"), "jiwei",
                 {**REVIEW, "appeal_decision_date": "2026-03-02", "appeal_outcome": "upheld"})
    [decision] = record(api, "responsible")["decisions"]
    assert [r["outcome_label"] for r in decision["revisions"]] == ["维持原决定"]
    assert decision["in_force"] is True and decision["ended_on"] is None


def test_declining_or_letting_the_window_run_out_goes_to_the_archive(api, duban):
    declined = decided(api, duban, "responsible", {"government_form": "gov_demerit"})
    api.complete(case_task(api, declined, "Task_appeal", as_="responsible"), "responsible", {"appeal": "accept"})
    assert ("Task_archive", "ready") in instance_state(duban, declined)[1]
    assert [e.payload["official"] for e in ledger_actions(duban, action="accountability.appeal_waived")] == ["张科长"]

    lapsed = decided_again(api, duban)  # the same firing's case of 吴县长, the window left to run out
    assert ("Task_appeal", "ready") in instance_state(duban, lapsed)[1]
    assert wake_at(duban, "2026-03-16T23:00:00") == []
    assert "申诉期满" in wake_at(duban, "2026-03-17T10:00:01")
    states = dict(instance_state(duban, lapsed)[1])
    assert states["Task_appeal"] == TaskState.CANCELLED.value and states["Task_archive"] == "ready"
    assert ledger_actions(duban, action="accountability.appealed") == []


def decided_again(api, duban) -> int:
    """Another official's case of the same firing, decided and told."""
    with duban.db.reading() as session:
        case = session.scalar(select(ProcessInstance.id).where(
            ProcessInstance.subject_official_id == api.org["magistrate"]))
    api.complete(to_decision(api, case), "jiwei", {**DECISION, "government_form": "gov_warning"})
    api.complete(case_task(api, case, "Task_record", as_="jiwei"), "jiwei", {"recorded_in": ["ledger"]})
    return case


def test_appeal_outcomes_are_never_changed_or_deleted(api, duban):
    case = decided(api, duban, "responsible", {"government_form": "gov_demerit"})
    api.complete(case_task(api, case, "Task_appeal", as_="responsible"), "responsible", APPEAL)
    api.complete(case_task(api, case, "Task_appeal_review", as_="jiwei"), "jiwei",
                 {**REVIEW, "appeal_decision_date": "2026-03-02", "appeal_outcome": "revoked"})
    for statement in ("UPDATE accountability_revision SET outcome = 'upheld'", "DELETE FROM accountability_revision"):
        with pytest.raises(DBAPIError, match="never changed or deleted"):
            with duban.db.transaction() as session:
                session.execute(text(statement))
    with duban.db.reading() as session:
        assert [r.outcome.value for r in session.scalars(select(AccountabilityRevision))] == ["revoked"]


def test_the_record_page_shows_each_decision_with_its_appeal(app, api, duban):
    from .test_pages import login

    case = decided(api, duban, "responsible", {"government_form": "gov_major_demerit"})
    api.complete(case_task(api, case, "Task_appeal", as_="responsible"), "responsible", APPEAL)
    api.complete(case_task(api, case, "Task_appeal_review", as_="jiwei"), "jiwei",
                 {**REVIEW, "appeal_decision_date": "2026-03-02", "appeal_outcome": "changed",
                  "new_government_form": "gov_demerit"})
    for user in ("jiwei", "responsible"):  # the discipline office, and the official himself
        client = app.test_client()
        login(client, user)
        html = client.get(f"/officials/{api.org['responsible']}").get_data(as_text=True)
        assert 'data-revision="changed"' in html and "提出申诉" in html and APPEAL["appeal_reason"] in html
        assert "申诉后已撤销或变更，影响期止于 2026-03-02" in html and "由以下决定变更而来" in html
        assert "清纪申复〔2026〕1号" in html and "记大过" in html and "记过" in html
    client = app.test_client()
    login(client, "jiwei")
    client.get("/lang/en")
    english = client.get(f"/officials/{api.org['responsible']}").get_data(as_text=True)
    assert "Changed" in english and "Appealed" in english and "Appeal decided" in english


@pytest.mark.parametrize("old, new, element", [
    ('{"label": "撤销问责决定", "value": "revoked"}', '{"label": "加重", "value": "heavier"}', "Task_appeal_review"),
    ('"key": "appeal_outcome"', '"key": "outcome"', "Task_appeal_review"),
    ('{"label": "不申诉", "value": "accept"}', '{"label": "以后再说", "value": "later"}', "Task_appeal"),
])
def test_the_checker_refuses_an_appeal_task_that_cannot_say_which_way_it_went(old, new, element):
    from pathlib import Path

    from .helpers_validation import codes

    shipped = (Path(__file__).resolve().parent.parent / "bpmn" / "accountability.bpmn").read_text(encoding="utf-8")
    assert ("error", "records", element) not in codes(shipped)
    assert ("error", "records", element) in codes(shipped.replace(old, new, 1))
