"""A diagram that is not finished yet is kept as a draft (草稿 · 未完成) instead of being refused:
an upload with errors the editor can open (a Camunda Modeler diagram with no executable process
and JUEL conditions) becomes its process's draft, without a spec and with its findings; it is
listed with them, opened in the editor with them, never started, refused at publication while
its errors remain, finished by saving it again, then published. A draft, finished or not, is
deleted by `DELETE /api/process-definitions/<key>/versions/<n>` or the page's 删除草稿, written
to the ledger; a published version cannot be (409), nor by anyone but an administrator."""
from __future__ import annotations

import re

from sqlalchemy import select

from engine.models import DefinitionStatus, ProcessDefinition

from .helpers_flow import ledger_actions, snapshot
from .test_admin_config import deploy as upload_page
from .test_definitions import SHIPPED
from .test_foreign_bpmn import fixture, for_problems, mended
from .test_modeler_page import editor_data, post_xml
from .test_pages import login
from .test_versions import deploy, listed, publish
from .support import problem_body

KEY = "camunda_review"


def row(duban, key: str, version: int) -> ProcessDefinition | None:
    with duban.db.reading() as session:
        return session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                               ProcessDefinition.version == version)).first()


def signed_in(app, who: str = "admin"):
    client = app.test_client()
    login(client, who)
    return client


def test_an_upload_with_errors_is_kept_as_an_unfinished_draft(app, org, duban, api):
    admin = signed_in(app)
    response = upload_page(admin, fixture("camunda_review_gbk"), "review.bpmn")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-kept="camunda_review" data-kept-version="1"' in html
    assert "已保存为 camunda_review 第 1 版草稿（未完成）" in html and 'data-code="juel-condition"' in html
    assert f'href="/admin/definitions/{KEY}/edit?version=1" data-action="open-in-modeler"' in html
    draft = row(duban, KEY, 1)
    assert (draft.status, draft.spec, draft.forms, draft.unfinished) == (DefinitionStatus.DRAFT, None, {}, True)
    assert draft.name == "整改方案审核" and 'encoding="UTF-8"' in draft.bpmn_xml and "审核整改方案" in draft.bpmn_xml
    codes = {f["code"] for f in draft.findings if f["severity"] == "error"}
    assert {"not-executable", "juel-condition"} <= codes, draft.findings
    [saved] = ledger_actions(duban, action="definition.draft_saved")
    assert saved.payload["unfinished"] is True and saved.payload["errors"] == len(
        [f for f in draft.findings if f["severity"] == "error"]) and saved.payload["version"] == 1

    page = admin.get(f"/admin/definitions/{KEY}").get_data(as_text=True)
    assert "草稿 · 未完成" in page
    assert 'data-findings-of="1"' in page and 'data-code="not-executable"' in page
    assert 'data-form="publish"' not in page and "修正错误后才能发布" in page
    data = editor_data(admin, f"/admin/definitions/{KEY}/edit")
    assert "审核整改方案" in data["xml"] and "not-executable" in {f["code"] for f in data["findings"]}
    assert "草稿第 1 版 · 未完成" in admin.get(f"/admin/definitions/{KEY}/edit").get_data(as_text=True)
    assert admin.get(f"/admin/definitions/{KEY}/1").status_code == 200   # its page, with no heatmap to draw

    [listed_row] = listed(api, KEY)
    assert (listed_row["status"], listed_row["unfinished"], listed_row["current"]) == ("draft", True, False)
    assert any(f["code"] == "not-executable" for f in listed_row["findings"])
    assert not listed(api)[0]["unfinished"] and listed(api)[0]["findings"] == []

    # never started: the process has no current version to start a problem on
    before = snapshot(duban)
    refused = api.post("/api/problems", as_="admin", json=problem_body(org, process_key=KEY, code="CAM-1"))
    assert refused.status_code in (400, 404, 409) and "process_key" in str(refused.json), refused.json
    assert snapshot(duban) == before


def test_an_upload_with_errors_does_not_replace_the_process_s_draft(app, org, duban, api):
    assert deploy(api, SHIPPED.replace('name="签收"', 'name="签收确认"'), comment="草稿", draft=True).status_code == 201
    admin = signed_in(app)
    before = snapshot(duban)
    response = upload_page(admin, SHIPPED.replace('isExecutable="true"', 'isExecutable="false"'), "rectification.bpmn")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and 'data-element="file"' in html and "已有草稿（第 2 版）" in html
    assert "not-executable" in html and "data-kept" not in html
    assert snapshot(duban) == before
    assert not row(duban, "rectification", 2).unfinished


def test_a_malformed_upload_is_still_refused_and_nothing_is_kept(app, org, duban):
    admin = signed_in(app)
    before = snapshot(duban)
    response = upload_page(admin, b"<bpmn:definitions <oops", "bad.bpmn")
    assert response.status_code == 400 and "xml-malformed" in response.get_data(as_text=True)
    assert snapshot(duban) == before


def test_its_errors_refuse_its_publication_until_it_is_finished(app, org, duban, api):
    admin = signed_in(app)
    upload_page(admin, fixture(), "review.bpmn")
    before = snapshot(duban)
    refused = publish(api, 1, key=KEY, comment="上线")
    assert refused.status_code == 400 and "not-executable" in {f["code"] for f in refused.json["findings"]}
    assert snapshot(duban) == before
    page = admin.post(f"/admin/definitions/{KEY}/1/publish", data={"csrf_token": csrf(admin, KEY), "comment": "上线"})
    assert page.status_code == 400 and "第 1 版未发布" in page.get_data(as_text=True)
    assert snapshot(duban) == before

    # saved again from the editor, still unfinished: the same draft, replaced in place
    data = editor_data(admin, f"/admin/definitions/{KEY}/edit")
    half = fixture().decode().replace('isExecutable="false"', 'isExecutable="true"')
    answer = post_xml(admin, "/admin/definitions/deploy?draft=true&comment=%E5%8D%8A", half, data["csrf"])
    assert answer.status_code == 200, answer.json
    assert (answer.json["version"], answer.json["outcome"], answer.json["unfinished"]) == (1, "replaced", True)
    assert {f["code"] for f in answer.json["findings"] if f["severity"] == "error"} == {"juel-condition"}
    assert row(duban, KEY, 1).unfinished and row(duban, KEY, 1).comment == "半"

    # finished: an ordinary draft with its spec, then published
    finished = for_problems(mended(fixture().decode()))
    answer = post_xml(admin, "/admin/definitions/deploy?draft=true&comment=done", finished, data["csrf"])
    assert answer.status_code == 200 and answer.json["unfinished"] is False, answer.json
    draft = row(duban, KEY, 1)
    assert draft.findings is None and draft.spec is not None and draft.status == DefinitionStatus.DRAFT
    published = publish(api, 1, key=KEY, comment="上线", accept_warnings=True)
    assert published.status_code == 200, published.json
    assert (published.json["current"], published.json["unfinished"]) == (True, False)
    problem = api.register(process_key=KEY, code="CAM-9")
    assert api.ready_task(problem["id"], "Activity_submit")


def test_the_editor_saves_an_unfinished_draft_of_a_known_process_and_a_deployment_finishes_it(app, org, duban, api):
    admin = signed_in(app)
    data = editor_data(admin, "/admin/definitions/rectification/edit")
    broken = SHIPPED.replace('isExecutable="true"', 'isExecutable="false"')
    answer = post_xml(admin, "/admin/definitions/deploy?draft=true&comment=wip", broken, data["csrf"])
    assert answer.status_code == 201 and (answer.json["version"], answer.json["unfinished"]) == (2, True), answer.json
    assert listed(api)[0]["unfinished"] and listed(api)[1]["current"]
    # a published deployment of the process publishes its draft's row, finished
    deployed = deploy(api, SHIPPED.replace('name="签收"', 'name="签收确认"'), comment="改名")
    assert deployed.status_code == 201 and deployed.json["version"] == 2, deployed.json
    assert row(duban, "rectification", 2).findings is None and row(duban, "rectification", 2).spec is not None


def csrf(client, key: str) -> str:
    page = client.get(f"/admin/definitions/{key}").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_a_draft_is_deleted_through_the_api_and_written_to_the_ledger(app, org, duban, api):
    upload_page(signed_in(app), fixture(), "review.bpmn")
    assert api.delete(f"/api/process-definitions/{KEY}/versions/1", as_="responsible").status_code == 403
    before = snapshot(duban)
    published = api.delete("/api/process-definitions/rectification/versions/1", as_="admin")
    assert published.status_code == 409 and "version" in published.json["errors"]
    assert api.delete(f"/api/process-definitions/{KEY}/versions/7", as_="admin").status_code == 404
    assert api.delete(f"/api/process-definitions/{KEY}/versions/99999999999", as_="admin").status_code == 404
    assert snapshot(duban)["process_definition"] == before["process_definition"]
    gone = api.delete(f"/api/process-definitions/{KEY}/versions/1", as_="admin")
    assert gone.status_code == 204 and not gone.data
    assert row(duban, KEY, 1) is None and listed(api, KEY) == []
    [entry] = ledger_actions(duban, action="definition.draft_deleted")
    assert (entry.payload["key"], entry.payload["version"], entry.payload["unfinished"]) == (KEY, 1, True)


def test_the_page_deletes_a_finished_draft(app, org, duban, api):
    assert deploy(api, SHIPPED.replace('name="签收"', 'name="签收确认"'), comment="试", draft=True).status_code == 201
    admin = signed_in(app)
    page = admin.get("/admin/definitions/rectification").get_data(as_text=True)
    assert 'data-action="delete-draft"' in page and page.count('data-form="delete-draft"') == 1
    assert "删除后无法恢复" in page  # the form asks before it deletes (web/static/duban.js, data-confirm)
    response = admin.post("/admin/definitions/rectification/2/delete", data={"csrf_token": csrf(admin, "rectification")})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/definitions/rectification")
    assert row(duban, "rectification", 2) is None and row(duban, "rectification", 1) is not None
    assert "已删除 rectification 第 2 版草稿" in admin.get("/admin/definitions/rectification").get_data(as_text=True)
    before = snapshot(duban)
    refused = admin.post("/admin/definitions/rectification/1/delete", data={"csrf_token": csrf(admin, "rectification")})
    assert refused.status_code == 409 and "只能删除草稿" in refused.get_data(as_text=True)
    assert snapshot(duban) == before


def test_the_migration_keeps_existing_versions_and_goes_back_without_the_unfinished(tmp_path):
    """0014 makes the spec nullable and adds the findings; going back removes the unfinished
    drafts (they have no spec) and keeps every other version."""
    from sqlalchemy import create_engine, text

    from engine import migrate

    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0013_process_purpose")
    engine = create_engine(url)
    insert = ("INSERT INTO process_definition (key, name, version, bpmn_xml, forms, spec, checksum, deployed_at, status) "
              "VALUES ('rectification', '整改', :n, '<x/>', '{}', :spec, :c, '2026-01-05 01:00:00', :status)")
    with engine.begin() as connection:
        connection.execute(text(insert), {"n": 1, "spec": "{}", "c": "c1", "status": "published"})
    migrate.upgrade(url)
    with engine.begin() as connection:
        assert connection.execute(text("SELECT findings FROM process_definition")).scalar() is None
        connection.execute(text(
            "INSERT INTO process_definition (key, name, version, bpmn_xml, forms, spec, checksum, deployed_at, status, "
            "findings) VALUES ('review', '审核', 1, '<x/>', '{}', NULL, 'c2', '2026-01-06 01:00:00', 'draft', '[]')"))
    from alembic import command

    command.downgrade(migrate.alembic_config(url), "0013_process_purpose")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version FROM process_definition")).scalars().all() == [1]
    engine.dispose()
