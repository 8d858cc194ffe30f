from __future__ import annotations

from flask import request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from engine import incidents, lights, problems, tasks
from engine import evidence as evidence_store
from engine.models import (DeadlineKind, EvidenceFile, LedgerEntry, Light, Official, Problem, ProblemCategory,
                           ProblemSource, ProblemStatus, ProcessInstance, Role)
from engine.errors import Invalid, NotFound

from .. import evidence
from .common import BEARER, Blueprint, calendar_of, caller_id, duban, reply, reply_json
from .schemas import EvidenceOut, LightCounts, ProblemDetail, ProblemFilterQuery, ProblemIn, ProblemPage, ProblemQuery

blp = Blueprint("problems", __name__, url_prefix="/api", description="Problems and their ledger (整改台账)")


@blp.get("/problems")
@blp.arguments(ProblemQuery, location="query")
@blp.response(200, ProblemPage)
@blp.doc(security=BEARER)
def list_problems(query):
    """Problems the caller may see (admins and the discipline office: all), filtered and paginated."""
    wanted = _wanted(query)
    app = duban()
    with app.db.reading() as session:
        viewer = app.actor(session, caller_id())
        statement = problems.query(session, viewer, wanted)
        if "sort" in query:
            statement = problems.sorted_by(statement, query["sort"])
        statement = statement.options(selectinload(Problem.region), selectinload(Problem.lead_unit),
                                      selectinload(Problem.responsible_official).selectinload(Official.user))
        items, total = problems.page(session, statement, query["page"], query["per_page"])
        return reply(ProblemPage(), {"items": items, "total": total, "page": query["page"], "per_page": query["per_page"]})


@blp.get("/problems/lights")
@blp.arguments(ProblemFilterQuery, location="query")
@blp.response(200, LightCounts)
@blp.doc(security=BEARER)
def count_lights(query):
    """How many of the problems the caller may see show each traffic light (红黄绿灯), with the
    same filters as the list: a dashboard's figures."""
    app = duban()
    with app.db.reading() as session:
        viewer = app.actor(session, caller_id())
        statement = problems.query(session, viewer, _wanted(query))
        return reply(LightCounts(), lights.counts(session, statement, Problem.light))


def _wanted(query) -> problems.ProblemFilter:
    return problems.ProblemFilter(
        status=ProblemStatus(query["status"]) if "status" in query else None,
        region_id=query.get("region"), unit_id=query.get("unit"), lead_unit_id=query.get("lead_unit"),
        source=ProblemSource(query["source"]) if "source" in query else None, batch=query.get("batch"),
        category=ProblemCategory(query["category"]) if "category" in query else None, overdue=query.get("overdue"),
        light=Light(query["light"]) if "light" in query else None, text=query.get("q") or None)


@blp.post("/problems")
@blp.arguments(ProblemIn)
@blp.response(201, ProblemDetail)
@blp.doc(security=BEARER)
def create_problem(body):
    """Register a problem and start its rectification process (环督办 only). A step of the
    process that fails at its start does not refuse the problem: it is registered, its
    process stops there as an incident, listed in `incidents`."""
    app = duban()
    user_id = caller_id()
    with app.db.reading() as session:
        allowed = app.actor(session, user_id).has_role(Role.ADMIN)
    if not allowed:
        app.deny(user_id, "register problems", "problem", None)
    new = problems.NewProblem(
        code=body["code"], title=body["title"], description=body["description"],
        source=ProblemSource(body["source"]), batch=body["batch"], category=ProblemCategory(body["category"]),
        region_id=body["region_id"], lead_unit_id=body["lead_unit_id"],
        responsible_official_id=body["responsible_official_id"], leading_official_id=body["leading_official_id"],
        industry_unit_id=body["industry_unit_id"], cooperating_unit_ids=body["cooperating_unit_ids"],
        target=body["target"], measures=body["measures"], deadline_kind=DeadlineKind(body["deadline_kind"]),
        deadline=body["deadline"], sites=body["sites"],
        milestones=[(m["title"], m["due"]) for m in body["milestones"]])
    return reply_json(app.register_problem(user_id, new, body["process_key"], answer=_registered), 201)


def _registered(session, problem_id: int) -> dict:
    """The answer to a registration, built in its transaction."""
    calendar_of(session)
    return ProblemDetail().dump(_with_details(session, problems.get(session, problem_id)))


@blp.get("/problems/<int:problem_id>")
@blp.response(200, ProblemDetail)
@blp.doc(security=BEARER)
def get_problem(problem_id: int):
    """One problem: its chain of responsibility, plan, current tasks, evidence and timeline."""
    return _detail(problem_id)


def _detail(problem_id: int, status: int = 200):
    app = duban()
    user_id = caller_id()
    with app.db.reading() as session:
        viewer = app.actor(session, user_id)
        problem = problems.get(session, problem_id)
        allowed = problems.may_see(viewer, problem)
        if allowed:
            return reply(ProblemDetail(), _with_details(session, problem), status)
    app.deny(user_id, f"see problem {problem_id}", "problem", problem_id, problem_id)


def _with_details(session, problem):
    problem.current_tasks = session.scalars(tasks.open_on(problem.id)).all()
    problem.evidence = session.scalars(evidence_store.submitted_on(problem.id)).all()
    problem.incidents = incidents.open_on(session, session.scalars(
        select(ProcessInstance.id).where(ProcessInstance.problem_id == problem.id)))
    problem.timeline = session.scalars(select(LedgerEntry).where(LedgerEntry.problem_id == problem.id)
                                       .order_by(LedgerEntry.id)).all()
    return problem


@blp.post("/problems/<int:problem_id>/evidence")
@blp.response(201, EvidenceOut)
@blp.doc(security=BEARER, requestBody={"content": {"multipart/form-data": {"schema": {
    "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}}}})
def upload_evidence(problem_id: int):
    """Upload an evidence file (佐证材料); put its id in a task form's file field."""
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("send the file as the multipart field 'file'", {"file": ["Missing data for required field."]})
    row = duban().upload_evidence(caller_id(), problem_id, upload.filename or "", upload.mimetype or "",
                                  upload.read())
    return reply(EvidenceOut(), row, 201)


@blp.get("/evidence/<int:evidence_id>")
@blp.doc(security=BEARER, responses={"200": {"description": "the file"}})
def download_evidence(evidence_id: int):
    """Download an evidence file."""
    app = duban()
    user_id = caller_id()
    with app.db.reading() as session:
        row = session.get(EvidenceFile, evidence_id)
        if row is None:
            raise NotFound(f"no evidence file with id {evidence_id}")
        allowed = problems.may_see(app.actor(session, user_id), problems.get(session, row.problem_id))
    if not allowed:
        app.deny(user_id, f"download evidence {evidence_id}", "evidence_file", evidence_id, row.problem_id)
    return evidence.send(app, row)
