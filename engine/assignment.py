"""Who does a user task: the lane's name is a role in the problem's chain of responsibility."""
from __future__ import annotations

import enum
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from .models import Official, Problem, Role
from .organization import primary_unit, unit_heads
from .settings import CONFIG_DIR


class ChainRole(enum.StrEnum):
    RESPONSIBLE_PERSON = "responsible_person"
    LEAD_UNIT = "lead_unit"
    INDUSTRY_DEPARTMENT = "industry_department"
    LEADING_OFFICIAL = "leading_official"
    OFFICE = "office"
    DISCIPLINE = "discipline"
    SUBJECT_OFFICIAL = "subject_official"


def load_lane_roles(path: Path = CONFIG_DIR / "roles.toml") -> dict[str, ChainRole]:
    with open(path, "rb") as handle:
        lanes = tomllib.load(handle).get("lanes", {})
    return {name: ChainRole(role) for name, role in lanes.items()}


@dataclass(frozen=True)
class Assignment:
    """A named user, and/or the unit or role any of whose members may act."""

    assignee_id: int | None = None
    candidate_unit_id: int | None = None
    candidate_role: Role | None = None
    official_id: int | None = None  # the official named, whether or not they have an account


def _official(official: Official | None, unit_id: int | None = None) -> Assignment:
    """The official by name; with `unit_id`, anyone in that unit may act for them. An official
    without an account falls back to their own unit, so that the task is never orphaned."""
    if official is None:
        return Assignment(candidate_unit_id=unit_id)
    if official.user is None and unit_id is None:
        unit = primary_unit(official)
        unit_id = unit.id if unit else None
    return Assignment(assignee_id=official.user.id if official.user else None, candidate_unit_id=unit_id,
                      official_id=official.id)


def subject_of(session: Session, instance) -> Official | None:
    """The official a process instance is about (None for a problem's own process)."""
    return session.get(Official, instance.subject_official_id) if instance.subject_official_id else None


def assign(session: Session, problem: Problem, role: ChainRole, subject: Official | None = None) -> Assignment:
    """Who does a task in `role`'s lane; `subject` is the official the instance is about (an
    accountability case's 问责对象), whom the SUBJECT_OFFICIAL lane names; an instance about
    nobody gives that lane's tasks to the discipline office."""
    if role == ChainRole.SUBJECT_OFFICIAL:
        return _official(subject) if subject is not None else Assignment(candidate_role=Role.DISCIPLINE)
    if role == ChainRole.OFFICE:
        return Assignment(candidate_role=Role.ADMIN)
    if role == ChainRole.DISCIPLINE:
        return Assignment(candidate_role=Role.DISCIPLINE)
    if role == ChainRole.RESPONSIBLE_PERSON:
        return _official(problem.responsible_official)
    if role == ChainRole.LEADING_OFFICIAL:
        return _official(problem.leading_official)
    unit = problem.lead_unit if role == ChainRole.LEAD_UNIT else (problem.industry_unit or problem.lead_unit)
    heads = unit_heads(session, unit)
    return _official(heads.government or heads.party, unit.id)
