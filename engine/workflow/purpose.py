"""What a process is for (流程用途): the rectification of a problem, or one of the processes the
escalation ladder starts (督办升级, 约谈, 问责).

A diagram declares it with the process-level property `purpose` (bpmn/README.md). Only a
problem process may be chosen when a problem is registered (by the API, or an Excel ledger's
import); the ladder starts the others by their key and refuses a problem process.

A diagram that declares nothing is a problem process when some element of it sets a
`problemStatus` (what a problem process does, and what every diagram written before the
declaration existed and meant for problems does); otherwise its purpose stays undeclared,
the deployment warns (no-problem-status, saying so), and no problem can be registered on it until it is declared: a
process that never moves the problem's status is much more likely one of the ladder's than
a problem's.
"""
from __future__ import annotations

from ..errors import Invalid
from .document import properties_of
from ..validation.findings import ERROR, Finding

PROBLEM = "problem"
ESCALATION = "escalation"
INTERVIEW = "interview"
ACCOUNTABILITY = "accountability"
PURPOSES = (PROBLEM, ESCALATION, INTERVIEW, ACCOUNTABILITY)
LADDER = (ESCALATION, INTERVIEW, ACCOUNTABILITY)
NAMES_ZH = {PROBLEM: "问题整改", ESCALATION: "督办升级", INTERVIEW: "约谈", ACCOUNTABILITY: "问责"}
PROPERTY = "purpose"
MAX_LENGTH = 20   # the column's size (models/process.py)
# what the no-problem-status warning adds for a process that declares no purpose either
UNDECLARED = ("; and it declares no purpose (process property purpose = problem, escalation, interview or "
              "accountability): no problem can be registered on it until it declares purpose = problem")
UNDECLARED_ZH = ("；流程也没有声明用途（流程属性 purpose：problem、escalation、interview 或 accountability）："
                 "声明 purpose = problem 之前不能用它登记问题")


def sets_problem_status(process) -> bool:
    return any(properties_of(el).get("problemStatus") for el in process.iter() if isinstance(el.tag, str))


def read(process) -> tuple[str | None, list[Finding]]:
    """(the purpose a document's executable process has, the findings about it)."""
    declared = properties_of(process).get(PROPERTY)
    key = process.get("id")
    if declared is not None:
        value = declared.strip()
        if value in PURPOSES:
            return value, []
        return None, [Finding(key, process.sourceline,
                              f"purpose {declared[:40]!r} is not one of {', '.join(PURPOSES)}",
                              code="purpose-unknown", severity=ERROR,
                              message_zh=f"流程用途 “{declared[:40]}” 不是以下之一：{'、'.join(PURPOSES)}"
                                         f"（{'、'.join(NAMES_ZH.values())}）")]
    if sets_problem_status(process):
        return PROBLEM, []
    return None, []   # the no-problem-status warning says it (UNDECLARED)


def refusal_for_problem(key: str, purpose: str | None) -> str | None:
    """Why a problem may not be registered on the process `key` (None: it may)."""
    if purpose == PROBLEM:
        return None
    if purpose in LADDER:
        return (f"{key!r} is started by the escalation ladder ({purpose}: {NAMES_ZH[purpose]}), not for a problem; "
                "choose a problem process (purpose = problem)")
    return (f"{key!r} does not declare its purpose and sets no problemStatus: declare purpose = problem in the "
            "diagram to register problems on it")


def refusal_for_ladder(key: str, purpose: str | None) -> str | None:
    """Why the ladder may not start the process `key` (None: it may). An undeclared process is
    started as before (the shipped ladder diagrams set no problemStatus either)."""
    if purpose == PROBLEM:
        return (f"{key!r} is a problem process (purpose = problem): the ladder starts escalation, interview or "
                "accountability processes")
    return None


def one_per_official(key: str, purpose: str | None) -> bool:
    """Whether the ladder opens one instance per official it names (问责: one case each)."""
    return purpose == ACCOUNTABILITY or (purpose is None and key == ACCOUNTABILITY)


def require_problem_process(definition) -> None:
    """Invalid naming `process_key` unless problems may be registered on `definition`."""
    refusal = refusal_for_problem(definition.key, definition.purpose)
    if refusal:
        raise Invalid(refusal, {"process_key": [refusal]})
