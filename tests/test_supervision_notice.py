"""督办单: the notice an urging (催办) or a supervised case (专函督办) sends, read from the stored
escalation, as an A4 page and a PDF, for whoever may see the problem."""
from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from sqlalchemy import select

from engine import clock, supervision_notice
from engine.errors import Forbidden, NotFound
from engine.models import Escalation, LedgerEntry

from .test_pages import login

DEADLINE = "2026-03-20"   # a Friday; 催办 fires as it ends, 专函督办 ten working days later


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=clock.SHANGHAI)


@pytest.fixture
def fired(api, duban):
    """One problem urged on Saturday 21 March and supervised on Saturday 4 April; a second
    problem, registered after its deadline had passed, enters the ladder at 催办 the same
    Saturday, later in the night (its 预警 passed over, not fired)."""
    api.register(deadline=DEADLINE, code="A")
    clock.freeze(at("2026-03-21T00:00:01"))
    assert [(f.problem_code, f.level) for f in duban.sweep()] == [("A", 1), ("A", 2)]
    api.register(deadline="2026-03-20", code="B")
    clock.freeze(at("2026-03-21T02:00:00"))
    assert [(f.problem_code, f.level) for f in duban.sweep()] == [("B", 2)]
    clock.freeze(at("2026-04-04T00:00:01"))
    assert [(f.problem_code, f.level) for f in duban.sweep()] == [("A", 3), ("B", 3)]
    with duban.db.reading() as session:
        return {(e.problem.code, e.level): e.id for e in session.scalars(select(Escalation))}


def test_the_notice_reads_the_escalation_as_it_was_sent(fired, duban, org):
    urging = duban.supervision_notice(fired[("A", 2)], org["user:admin"])
    assert urging.kind == "催办通知单" and urging.number == "清江市督办〔2026〕1号"
    assert urging.office == "清江市生态环境保护督察整改工作领导小组办公室"
    assert urging.issued_on == date(2026, 3, 21)
    # five working days after Saturday 21 March: 23, 24, 25, 26, 27 March
    assert urging.reply_by == date(2026, 3, 27)
    assert urging.deadline == "2026年3月20日前" and urging.days_late == 1
    assert urging.problem_code == "A" and urging.lead_unit == "南岭县生态环境分局" and urging.responsible == "张科长"
    # the rung targets the responsible person and the lead unit's heads (one person holds both posts)
    assert [(a.name, a.side_name) for a in urging.addressees] == [("张科长", "责任人"), ("李局长", "党政主要负责人")]
    assert "南岭县生态环境分局" in urging.units

    assert duban.supervision_notice(fired[("B", 2)], org["user:admin"]).number == "清江市督办〔2026〕2号"
    supervised = duban.supervision_notice(fired[("A", 3)], org["user:admin"])
    assert supervised.kind == "督办通知单" and supervised.number == "清江市督办〔2026〕3号"
    assert supervised.days_late == 15 and "专函督办" in supervised.ask
    assert [(a.name, a.side_name) for a in supervised.addressees] == [("李局长", "党政主要负责人"), ("吴县长", "牵头领导")]
    assert supervised.units == ["南岭县生态环境分局"]
    # a reprint a year later says the same: it reads what was stored
    clock.freeze(at("2027-05-01T09:00:00"))
    assert duban.supervision_notice(fired[("A", 2)], org["user:admin"]) == urging


def test_only_urgings_and_supervised_cases_have_a_notice(fired, duban, org):
    with pytest.raises(NotFound, match="rung 1"):
        duban.supervision_notice(fired[("A", 1)], org["user:admin"])
    with pytest.raises(NotFound):
        duban.supervision_notice(10**6, org["user:admin"])


def test_someone_who_may_not_see_the_problem_is_refused_and_recorded(fired, duban, org):
    with pytest.raises(Forbidden):
        duban.supervision_notice(fired[("A", 2)], org["user:outsider"])
    with duban.db.reading() as session:
        denied = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "permission.denied")).all()
    assert denied[-1].subject_type == "escalation" and denied[-1].subject_id == str(fired[("A", 2)])


def test_the_page_and_the_pdf(fired, app, org):
    client = app.test_client()
    login(client, "eco_head")                      # an addressee reads and prints it
    page = client.get(f"/escalations/{fired[('A', 3)]}/notice")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "督办通知单" in html and "清江市督办〔2026〕3号" in html and "李局长" in html
    assert "2026年4月13日前" in html           # 5 working days after Sat 4 Apr, the Qingming holiday (4-6 Apr) skipped
    assert 'data-print' in html and f"/escalations/{fired[('A', 3)]}/notice.pdf" in html
    assert "print.css" in html and 'media="print"' in html

    pdf = client.get(f"/escalations/{fired[('A', 3)]}/notice.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf.data))
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (210, 297)
    text = "".join(page.extract_text() for page in reader.pages)
    assert "督办通知单" in text and "李局长" in text and "— 1 —" in text


def test_the_page_refuses_what_it_must(fired, app, org):
    client = app.test_client()
    login(client, "outsider")
    assert client.get(f"/escalations/{fired[('A', 2)]}/notice").status_code == 403
    assert client.get(f"/escalations/{fired[('A', 2)]}/notice.pdf").status_code == 403
    login(client, "admin")
    reminder = client.get(f"/escalations/{fired[('A', 1)]}/notice")
    assert reminder.status_code == 404 and "只有催办和专函督办" in reminder.get_data(as_text=True)
    assert client.get("/escalations/999999/notice.pdf").status_code == 404
    assert client.get(f"/escalations/{2**63}/notice").status_code == 404


def test_the_problem_page_links_its_notices(fired, app, org, duban):
    client = app.test_client()
    login(client, "admin")
    with duban.db.reading() as session:
        problem_id = session.get(Escalation, fired[("A", 2)]).problem_id
    html = client.get(f"/problems/{problem_id}").get_data(as_text=True)
    assert f'data-notice-link="{fired[("A", 2)]}"' in html and f'data-notice-link="{fired[("A", 3)]}"' in html
    assert f'data-notice-link="{fired[("A", 1)]}"' not in html



def test_without_its_pdf_library_the_pdf_is_a_503_naming_it(fired, app, org, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "weasyprint", None)   # as on a server where it cannot load
    client = app.test_client()
    login(client, "admin")
    answer = client.get(f"/escalations/{fired[('A', 3)]}/notice.pdf")
    assert answer.status_code == 503 and "WeasyPrint" in answer.get_data(as_text=True)
    assert client.get(f"/escalations/{fired[('A', 3)]}/notice").status_code == 200   # the page still prints
