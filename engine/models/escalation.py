"""The escalation ladder's rules (versioned data) and what it fired (督办记录)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime
from .problem import Problem


class EscalationRuleSet(Base):
    """One version of the whole ladder; the newest version is in force."""

    __tablename__ = "escalation_rule_set"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rules: Mapped[list] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Escalation(Base):
    """One firing of one rule for one problem. Its key is unique, so no path (a second
    sweep, a second scheduler, a retry) can fire the same escalation twice."""

    __tablename__ = "escalation"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id"), index=True)
    rule_code: Mapped[str] = mapped_column(String(40), index=True)
    rule_name: Mapped[str] = mapped_column(String(60))
    level: Mapped[int] = mapped_column(Integer, index=True)
    rule_version: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[dict] = mapped_column(JSON)
    deadline: Mapped[date | None] = mapped_column(Date)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    targets: Mapped[list] = mapped_column(JSON)
    action: Mapped[dict] = mapped_column(JSON)
    instance_ids: Mapped[list] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    held_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # held as an organisation gap since

    problem: Mapped[Problem] = relationship()
    passed_over: Mapped[list["PassedOverRung"]] = relationship(
        back_populates="escalation", lazy="selectin", order_by="PassedOverRung.level")


class PassedOverRung(Base):
    """A rung of the ladder that fell due before the problem entered the ladder (its
    `ladder_from`, e.g. an old ledger's row imported long after its deadline) and was passed
    over: not fired, not counted as a repeat, because a higher rung entered the problem on
    the ladder in its place (`escalation_id`). Its key is the key the rung would have fired
    with, so nothing fires it afterwards."""

    __tablename__ = "passed_over_rung"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id"), index=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalation.id"), index=True)
    rule_code: Mapped[str] = mapped_column(String(40))
    rule_name: Mapped[str] = mapped_column(String(60))
    level: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[date | None] = mapped_column(Date)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)

    escalation: Mapped[Escalation] = relationship(back_populates="passed_over")


class LadderRung(Base):
    """A rung of the ladder that a problem's deadline will make due after the moment it was
    worked out (engine/escalation/due_moments.py stores them with `problem.ladder_due_at`, from
    the same survey, and replaces them whenever it is worked out again), so that the forecast
    counts and pages the rungs of a window through an index instead of working out every problem
    due within it. The rows of a problem marked to be worked out (ladder_due_at long ago) are
    stale until it is, and are not read. `key` is the key the rung fires with (unique)."""

    __tablename__ = "ladder_rung"
    __table_args__ = (Index("ix_ladder_rung_order", "moment", "problem_id", "level", "key"),  # a page's order
                      Index("ix_ladder_rung_first", "moment", "level", "problem_id", "key"))  # the first lines

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id"), index=True)
    moment: Mapped[datetime] = mapped_column(UTCDateTime)
    level: Mapped[int] = mapped_column(Integer)


class EscalationEvent(Base):
    """Something a process reported to the ladder (an escalationEvent element was reached):
    a listed case's deadline missed, an interview commitment missed."""

    __tablename__ = "escalation_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    event: Mapped[str] = mapped_column(String(40))
    element_id: Mapped[str] = mapped_column(String(100))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrganisationGap(Base):
    """A rung held because a `*_heads` target lacks a Party or a government head (党政同责:
    the rung fires with both heads or not at all). One row per firing key; `missing` lists
    each vacant post ({"target", "where": "region"|"unit", "id", "name", "side"}); resolved
    when the rung fires once the heads are entered."""

    __tablename__ = "organisation_gap"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem.id"), index=True)
    rule_code: Mapped[str] = mapped_column(String(40))
    rule_name: Mapped[str] = mapped_column(String(60))
    level: Mapped[int] = mapped_column(Integer)
    missing: Mapped[list] = mapped_column(JSON)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalation.id"))

    problem: Mapped[Problem] = relationship()
