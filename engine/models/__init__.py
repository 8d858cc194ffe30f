"""The domain model (SQLAlchemy 2, typed)."""
from .base import Base
from .calendar import CalendarOverride, CalendarYear
from .escalation import (Escalation, EscalationEvent, EscalationRuleSet, LadderRung, OrganisationGap,
                         PassedOverRung)
from .extension import ExtensionRequest, ExtensionStatus
from .ledger import LedgerEntry, chain_setting
from .notification import Channel, Notification, NotificationStatus
from .organization import (Official, Post, PostKind, Region, RegionLevel, Role, SEPARATED_ADMINS, GRANTED_BY_SECURITY_ADMIN, Unit, UnitKind, User,
                           UserRole)
from .problem import (DeadlineKind, EvidenceFile, LabelledEnum, Light, Milestone, Problem, ProblemCategory, ProblemSource,
                      ProblemStatus, Site, problem_cooperating_unit)
from .process import DefinitionStatus, HumanTask, InstanceStatus, ProcessDefinition, ProcessInstance, TaskState
from .accountability import AccountabilityCategory, AccountabilityDecision, AccountabilityRevision, RevisionOutcome
from .schedule import scheduler_jobs, scheduler_lease
from .bulletin import BulletinRecord
from .incident import Incident, IncidentStatus
from .sign_in import SignInThrottle
from .import_run import ImportRun, ImportRunStatus
from .stored_file import StoredFile
from .security_event import SecurityEvent
from .second_factor import RecoveryCode, SecondFactor, SecuritySetting
from .user_session import PasswordHistory, UserSession

__all__ = [
    "AccountabilityCategory", "AccountabilityDecision", "AccountabilityRevision", "RevisionOutcome", "BulletinRecord", "Incident", "IncidentStatus", "SignInThrottle",
    "ImportRun", "ImportRunStatus", "StoredFile", "SecurityEvent", "RecoveryCode", "SecondFactor", "SecuritySetting",
    "PasswordHistory", "UserSession",
    "CalendarOverride", "CalendarYear", "Light",
    "ExtensionRequest", "ExtensionStatus", "scheduler_jobs", "scheduler_lease",
    "Channel", "Notification", "NotificationStatus",
    "Escalation", "EscalationEvent", "EscalationRuleSet", "LadderRung", "OrganisationGap", "PassedOverRung",
    "Base", "LedgerEntry", "chain_setting", "SEPARATED_ADMINS", "GRANTED_BY_SECURITY_ADMIN", "Official", "Post", "PostKind", "Region", "RegionLevel", "Role", "Unit", "UnitKind",
    "User", "UserRole", "DeadlineKind", "EvidenceFile", "LabelledEnum", "Milestone", "Problem", "ProblemCategory",
    "ProblemSource", "ProblemStatus", "Site", "problem_cooperating_unit", "DefinitionStatus", "HumanTask", "InstanceStatus", "ProcessDefinition", "ProcessInstance",
    "TaskState",
]
