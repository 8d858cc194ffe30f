"""What the page tests share: registering a problem through the engine, reading who holds
which ready task."""
from __future__ import annotations

from datetime import date

from engine import tasks
from engine.models import DeadlineKind, ProblemCategory, ProblemSource
from engine.problems import NewProblem


def register(duban, org, code="NL-2026-001", responsible="responsible", lead_unit="eco") -> int:
    return duban.register_problem(org["user:admin"], NewProblem(
        code=code, title="县城污水处理厂出水超标", description="出水氨氮超标。", source=ProblemSource("provincial"),
        batch="2025年省级督察", category=ProblemCategory("water"), region_id=org["county"],
        lead_unit_id=org[lead_unit], responsible_official_id=org[responsible], leading_official_id=org["magistrate"],
        industry_unit_id=org["housing"], cooperating_unit_ids=[org["housing"]], target=None, measures=None,
        deadline_kind=DeadlineKind.BY_DATE, deadline=date(2026, 6, 30), sites=["县城污水处理厂"], milestones=[]))


def ready_tasks(duban, user_key, org) -> list[tuple[int, str, str]]:
    """(task id, element id, problem code) of a user's ready tasks."""
    with duban.db.reading() as session:
        viewer = duban.actor(session, org[f"user:{user_key}"])
        return [(t.id, t.element_id, t.problem.code) for t in session.scalars(tasks.query(viewer))]
