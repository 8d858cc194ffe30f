"""The case a task decides on (案卷): what the earlier steps of its process submitted, with their
evidence, the send-backs (退回) and their reasons, and, for a step done again, what it submitted
last time. Read from the process itself (its completed user tasks, the forms of its deployed
version, the data they set) and the ledger; no step of a diagram is named here. Reading only.

A user task's `showsData` property (comma-separated field names) names the earlier fields the
step shows first: the submissions that set them come first, those fields at their top."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .evidence import paired_keys
from .ledger import Action
from .models import EvidenceFile, HumanTask, LedgerEntry, TaskState
from .workflow.forms import evidence_keys, inputs
from .workflow.serializer import specs_for

SHOWS_DATA = "showsData"
CHOICE_TYPES = {"radio", "select", "checklist", "taglist"}


@dataclass
class Shown:
    """One field of a submission as a person reads it."""

    key: str
    label: str
    kind: str                   # "text", "yes_no" (a checkbox) or "files"
    value: object = None        # the text (select values by their labels), a bool, or None when empty
    files: list[EvidenceFile] = field(default_factory=list)
    first: bool = False         # named by the step's showsData


@dataclass
class Pair:
    """A `<name>_before` / `<name>_after` pair of file fields of one submission."""

    before_label: str
    after_label: str
    before: list[EvidenceFile]
    after: list[EvidenceFile]


@dataclass
class Submission:
    """What one completed task submitted."""

    task_id: int
    element_id: str
    step: str
    by: str | None
    at: datetime | None
    fields: list[Shown]
    pairs: list[Pair]

    @property
    def first(self) -> bool:
        return any(f.first for f in self.fields)


@dataclass
class SendBack:
    """A step that sent the work back (退回): who, when, from which step to which, and what that
    step submitted (its decision and reasons)."""

    task_id: int                # the task the work was sent back to
    at: datetime
    by: str
    from_step: str
    to_step: str
    fields: list[Shown]


@dataclass
class TaskCase:
    earlier: list[Submission]           # the latest submission of every other step, showsData first
    send_backs: list[SendBack]          # every send-back of the instance, oldest first
    reopened_by: SendBack | None        # the send-back that opened this task
    previous: dict | None               # what this step submitted the time before (to prefill its form)
    own: Submission | None              # this task's own submission, once it is done
    shows_first: list[str]


def shows_data(definition, element_id: str) -> list[str]:
    """The field names a user task's `showsData` property lists."""
    spec, subprocess_specs = specs_for(definition)
    for candidate in (spec, *subprocess_specs.values()):
        task_spec = candidate.task_specs.get(element_id)
        if task_spec is not None:
            listed = getattr(task_spec, "extensions", {}).get("properties", {}).get(SHOWS_DATA) or ""
            return [name.strip() for name in listed.split(",") if name.strip()]
    return []


def of_task(session: Session, task: HumanTask, options: dict | None = None) -> TaskCase:
    """`options`: the process data's dynamic options (valuesKey -> form-js options), so that a
    choice made from them shows by its label (e.g. 记过, not gov_demerit)."""
    instance = task.instance
    forms = _with_options(instance.definition.forms or {}, options or {})
    first = shows_data(instance.definition, task.element_id)
    done = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                        HumanTask.state == TaskState.COMPLETED)
                                .order_by(HumanTask.completed_at, HumanTask.id)))
    if task.state == TaskState.COMPLETED:
        done = [t for t in done if t.id == task.id or (t.completed_at, t.id) <= (task.completed_at, task.id)]
    latest: dict[str, HumanTask] = {}
    for row in done:
        if row.id != task.id and row.element_id != task.element_id:
            latest.pop(row.element_id, None)
            latest[row.element_id] = row  # kept in the order of their latest completion
    previous = [t for t in done if t.element_id == task.element_id and t.id < task.id]
    entries = _send_back_entries(session, instance.id, task.problem_id)

    files = _files(session, task.problem_id, [*latest.values(), task, *previous],
                   [e.payload for e in entries], forms)
    earlier = [_submission(row, forms.get(row.element_id), files, first) for row in reversed(latest.values())]
    earlier.sort(key=lambda s: not s.first)  # stable: showsData first, then the latest first
    send_backs = [SendBack(int(e.subject_id), e.at, e.actor_name, e.payload.get("from_name") or e.payload.get("from"),
                           e.payload.get("to_name") or e.payload.get("to"),
                           _fields(e.payload.get("data") or {}, forms.get(e.payload.get("from")), files, []))
                  for e in entries]
    return TaskCase(
        earlier=earlier, send_backs=send_backs,
        reopened_by=next((s for s in send_backs if s.task_id == task.id), None),
        previous=dict(previous[-1].data or {}) if previous else None,
        own=_submission(task, forms.get(task.element_id), files, []) if task.state == TaskState.COMPLETED else None,
        shows_first=first)


def _with_options(forms: dict, options: dict) -> dict:
    """The forms with each valuesKey choice given the options the process data holds for it."""
    if not options:
        return forms
    def resolved(component):
        if isinstance(component, dict):
            found = options.get(component.get("valuesKey"))
            component = {k: resolved(v) for k, v in component.items()}
            if isinstance(found, list) and not component.get("values"):
                component["values"] = found
        elif isinstance(component, list):
            return [resolved(c) for c in component]
        return component
    return {element: resolved(form) for element, form in forms.items()}


def _send_back_entries(session: Session, instance_id: int, problem_id: int) -> list[LedgerEntry]:
    ids = [str(i) for i in session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance_id))]
    if not ids:
        return []
    return list(session.scalars(select(LedgerEntry).where(
        LedgerEntry.problem_id == problem_id, LedgerEntry.action == Action.TASK_SENT_BACK.value,
        LedgerEntry.subject_type == "human_task", LedgerEntry.subject_id.in_(ids)).order_by(LedgerEntry.id)))


def _file_ids(data: dict, form: dict | None) -> list[int]:
    return [i for key in evidence_keys(form) for i in (data.get(key) or [])
            if isinstance(i, int) and not isinstance(i, bool)]


def _files(session: Session, problem_id: int, rows: list[HumanTask], payloads: list[dict],
           forms: dict) -> dict[int, EvidenceFile]:
    wanted = {i for row in rows for i in _file_ids(row.data or {}, forms.get(row.element_id))}
    wanted |= {i for p in payloads for i in _file_ids(p.get("data") or {}, forms.get(p.get("from")))}
    if not wanted:
        return {}
    return {row.id: row for row in session.scalars(select(EvidenceFile).where(
        EvidenceFile.id.in_(wanted), EvidenceFile.problem_id == problem_id))}


def _submission(row: HumanTask, form: dict | None, files: dict[int, EvidenceFile], first: list[str]) -> Submission:
    data = row.data or {}
    components = {c["key"]: c for c in inputs(form or {})}
    pairs = paired_keys(evidence_keys(form))
    paired = {key for pair in pairs for key in pair}
    shown = _fields(data, form, files, first, leave_out=paired)
    return Submission(row.id, row.element_id, row.name,
                      row.completed_by.display_name if row.completed_by else None, row.completed_at, shown,
                      [Pair(components[b].get("label") or b, components[a].get("label") or a,
                            _rows(data.get(b), files), _rows(data.get(a), files)) for b, a in pairs])


def _fields(data: dict, form: dict | None, files: dict[int, EvidenceFile], first: list[str],
            leave_out: set[str] = frozenset()) -> list[Shown]:
    """The form's fields with the values `data` gives them, in the form's order (those named in
    `first` before the others); a submission from a form no longer known shows its keys."""
    components = inputs(form or {}) or [{"key": key, "type": "textfield"} for key in data]
    shown = []
    for component in components:
        key, kind = component["key"], component.get("type")
        if key in leave_out:
            continue
        label = component.get("label") or key
        value = data.get(key)
        if kind == "filepicker":
            item = Shown(key, label, "files", files=_rows(value, files))
        elif kind == "checkbox":
            item = Shown(key, label, "yes_no", value if isinstance(value, bool) else None)
        else:
            item = Shown(key, label, "text", _text(component, value))
        item.first = key in first
        shown.append(item)
    return sorted(shown, key=lambda f: (not f.first, first.index(f.key) if f.first else 0))


def _rows(ids, files: dict[int, EvidenceFile]) -> list[EvidenceFile]:
    return [files[i] for i in ids or [] if isinstance(i, int) and i in files]


def _text(component: dict, value) -> str | None:
    if value is None or value == "" or value == []:
        return None
    if component.get("type") in CHOICE_TYPES:
        labels = {v.get("value"): v.get("label") or v.get("value")
                  for v in component.get("values") or [] if isinstance(v, dict)}
        chosen = value if isinstance(value, list) else [value]
        return "、".join(str(labels.get(v, v) if isinstance(v, (str, int, float)) else v) for v in chosen)
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)
