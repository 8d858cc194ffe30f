"""The domain model (SQLAlchemy 2, typed)."""
from .base import Base
from .escalation import Escalation, EscalationEvent, EscalationRuleSet
from .ledger import LedgerEntry
from .notification import Channel, Notification, NotificationStatus
from .organization import Official, Post, PostKind, Region, RegionLevel, Role, Unit, UnitKind, User, UserRole
from .problem import (DeadlineKind, EvidenceFile, LabelledEnum, Milestone, Problem, ProblemCategory, ProblemSource,
                      ProblemStatus, Site, problem_cooperating_unit)
from .process import HumanTask, InstanceStatus, ProcessDefinition, ProcessInstance, TaskState

__all__ = [
    "Channel", "Notification", "NotificationStatus",
    "Escalation", "EscalationEvent", "EscalationRuleSet",
    "Base", "LedgerEntry", "Official", "Post", "PostKind", "Region", "RegionLevel", "Role", "Unit", "UnitKind",
    "User", "UserRole", "DeadlineKind", "EvidenceFile", "LabelledEnum", "Milestone", "Problem", "ProblemCategory",
    "ProblemSource", "ProblemStatus", "Site", "problem_cooperating_unit", "HumanTask", "InstanceStatus", "ProcessDefinition", "ProcessInstance",
    "TaskState",
]
