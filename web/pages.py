"""The pages. For now the front door: what is running and where to go."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template
from sqlalchemy import func, select

from engine.models import HumanTask, Problem, ProblemStatus, TaskState

pages = Blueprint("pages", __name__)


@pages.get("/")
def index():
    duban = current_app.extensions["duban"]
    with duban.db.reading() as session:
        by_status = dict(session.execute(select(Problem.status, func.count()).group_by(Problem.status)).all())
        open_tasks = session.scalar(select(func.count()).select_from(HumanTask)
                                    .where(HumanTask.state == TaskState.READY))
    counts = [(status.label, by_status.get(status, 0)) for status in ProblemStatus]
    return render_template("index.html", counts=counts, total=sum(by_status.values()), open_tasks=open_tasks)
