"""Moving a running instance onto another version of its process, and moving its token.

Built on SpiffWorkflow's own diff (`SpiffWorkflow.bpmn.util.diff`): `SpecDiff` aligns the
elements of two versions (same id, else by structure), `diff_workflow` says which of an
instance's tasks have a counterpart, `migrate_workflow` swaps the spec and resets the waiting
branches so that they follow the new diagram.

What SpiffWorkflow leaves to its caller, done here:
- a waiting task (ready, waiting, or stopped in error) whose element has no counterpart needs
  a target element chosen by a person; the token is put there before the swap;
- a finished task whose element was removed stays in the history tree with a spec the new
  version lacks, and the saved state would no longer load: it is spliced out of the tree
  (what the instance did stays in the ledger and the task rows);
- a waiting timer whose element is unchanged keeps the moment it was started with;
- the migrated state is serialized and loaded once, so that a state that would not load is
  refused before anything is written.

`move` puts a token on another element of the same version: back to an element already
passed (redo: SpiffWorkflow's reset to that task), or forward or sideways (skip: the waiting
task takes the target's element and its branch is predicted again; the steps in between are
not run, and the caller records which were skipped).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from uuid import uuid4

from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent, StartEvent
from SpiffWorkflow.bpmn.util.diff import SpecDiff, diff_workflow, migrate_workflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from ..errors import Invalid
from .serializer import _serializer, state_from_dict

# where a token can stand: what a person sees waiting, or stopped in error
TOKEN_STATES = TaskState.READY | TaskState.WAITING | TaskState.ERROR
_STATE_NAMES = {TaskState.READY: "ready", TaskState.WAITING: "waiting", TaskState.ERROR: "error",
                TaskState.FUTURE: "future", TaskState.STARTED: "started"}


@dataclass(frozen=True)
class Element:
    id: str
    name: str | None
    type: str


@dataclass(frozen=True)
class Mapping:
    """One element of the old version and where it goes in the new one."""

    element_id: str
    element_name: str | None
    target_id: str | None
    target_name: str | None
    how: str  # same, renamed, changed, aligned (another id in the same place), none

    @property
    def needs_choice(self) -> bool:
        return self.target_id is None


@dataclass(frozen=True)
class Token:
    """A task an instance waits at, and where it would go."""

    task_id: str
    element_id: str
    element_name: str | None
    state: str
    mapping: Mapping


@dataclass
class Outcome:
    """What a migration or a move did to a workflow."""

    tokens: list[dict] = field(default_factory=list)   # {element, to, how, state}
    spliced: list[str] = field(default_factory=list)    # finished elements of the old version dropped
    skipped: list[str] = field(default_factory=list)    # elements passed over by a move forward
    direction: str = ""                                 # redo, skip, jump


def elements(spec) -> list[Element]:
    """The elements a token may be put on: BPMN flow nodes of the process itself (no start
    events, no boundary events, no engine-internal specs), in document order."""
    found = []
    for task_spec in spec.task_specs.values():
        bpmn_id = getattr(task_spec, "bpmn_id", None)
        if not bpmn_id or isinstance(task_spec, (StartEvent, BoundaryEvent)):
            continue
        found.append(Element(bpmn_id, task_spec.bpmn_name, type(task_spec).__name__))
    return found


def _spec_of(spec, element_id: str):
    task_spec = spec.task_specs.get(element_id)
    if task_spec is None or getattr(task_spec, "bpmn_id", None) != element_id:
        return None
    if isinstance(task_spec, (StartEvent, BoundaryEvent)):
        return None
    return task_spec


def spec_mappings(from_spec, to_spec) -> dict[str, Mapping]:
    """Every BPMN element of `from_spec` with its counterpart in `to_spec` (SpecDiff)."""
    diff = SpecDiff(_serializer().registry, from_spec, to_spec)
    changed = diff.changed
    found = {}
    for old, new in diff.alignment.items():
        bpmn_id = getattr(old, "bpmn_id", None)
        if not bpmn_id or old.name != bpmn_id:
            continue
        found[bpmn_id] = _mapping(old, new, changed.get(old, []))
    return found


def _mapping(old, new, changes: list[str]) -> Mapping:
    if new is None or not getattr(new, "bpmn_id", None):
        return Mapping(old.bpmn_id, old.bpmn_name, None, None, "none")
    if new.bpmn_id != old.bpmn_id:
        how = "aligned"
    elif "bpmn_name" in changes:
        how = "renamed"
    elif set(changes) - {"inputs", "outputs"}:
        how = "changed"
    else:
        how = "same"
    return Mapping(old.bpmn_id, old.bpmn_name, new.bpmn_id, new.bpmn_name, how)


def tokens(workflow, extra_task_id: str | None = None) -> list:
    """SpiffWorkflow's tasks an instance waits at (top level), and `extra_task_id` (the task
    of an incident that never started, e.g. a timer whose expression failed)."""
    found = [t for t in workflow.get_tasks(state=TOKEN_STATES, skip_subprocesses=True)
             if getattr(t.task_spec, "bpmn_id", None) and not isinstance(t.task_spec, BoundaryEvent)]
    if extra_task_id:
        extra = next((t for t in workflow.get_tasks(skip_subprocesses=True) if str(t.id) == extra_task_id), None)
        if extra is not None and extra not in found and not extra.has_state(TaskState.FINISHED_MASK):
            found.append(extra)
    return found


def plan(workflow, to_spec, mappings: dict[str, Mapping] | None = None, extra_task_id: str | None = None) -> list[Token]:
    """Each task the instance waits at, and its counterpart in `to_spec` (or none)."""
    mappings = mappings if mappings is not None else spec_mappings(workflow.spec, to_spec)
    planned = []
    for task in tokens(workflow, extra_task_id):
        spec = task.task_spec
        mapping = mappings.get(spec.bpmn_id) or Mapping(spec.bpmn_id, spec.bpmn_name, None, None, "none")
        planned.append(Token(str(task.id), spec.bpmn_id, spec.bpmn_name,
                             _STATE_NAMES.get(task.state, TaskState.get_name(task.state).lower()), mapping))
    return planned


def migrate(workflow, to_spec, to_subprocess_specs: dict, choices: dict[str, str],
            extra_task_id: str | None = None) -> Outcome:
    """Put `workflow` on `to_spec` in place. `choices` maps an element without counterpart
    (where a token waits) to the target element chosen for it; a missing or unknown choice
    raises Invalid naming the element."""
    outcome = Outcome()
    planned = plan(workflow, to_spec, extra_task_id=extra_task_id)
    targets: dict[str, object] = {}
    errors: dict[str, list[str]] = {}
    for token in planned:
        if not token.mapping.needs_choice:
            continue
        chosen = (choices or {}).get(token.element_id)
        if not chosen:
            errors[f"choices.{token.element_id}"] = [
                f"{token.element_id} has no counterpart in the target version: choose a target element"]
        elif _spec_of(to_spec, chosen) is None:
            errors[f"choices.{token.element_id}"] = [f"no element {chosen} in the target version"]
        else:
            targets[token.task_id] = _token_spec(to_spec.task_specs[chosen])
    if errors:
        raise Invalid("the migration needs a target element for each waiting task without counterpart", errors)
    for name, sub in workflow.subprocesses.items():
        if sub.spec.name not in to_subprocess_specs:
            raise Invalid("the target version lacks a subprocess a running instance uses",
                          {"to_version": [f"subprocess {sub.spec.name} is not in the target version"]})
    kept_timers = _timers(workflow, to_spec)
    registry = _serializer().registry
    top, sub_diffs = diff_workflow(registry, workflow, to_spec, to_subprocess_specs)
    by_id = {str(t.id): t for t in workflow.get_tasks(skip_subprocesses=True)}
    moved = []
    for token in planned:
        task = by_id[token.task_id]
        if token.task_id in targets:
            moving = task.parent if isinstance(task.parent.task_spec, BoundaryEventSplit) else task
            moving.task_spec = targets[token.task_id]   # the token put on the chosen element first
            moved.append((moving, dict(task.data)))
        outcome.tokens.append({"element": token.element_id, "name": token.element_name, "state": token.state,
                               "to": token.mapping.target_id or (choices or {}).get(token.element_id),
                               "how": token.mapping.how if token.task_id not in targets else "chosen"})
    mask = TaskState.READY | TaskState.WAITING | TaskState.ERROR
    migrate_workflow(top, workflow, to_spec, reset_mask=mask)
    for moving, data in moved:
        if moving.id in workflow.tasks:
            moving.reset_branch(data)
            renew(workflow, moving)
    if extra_task_id and extra_task_id in by_id:
        extra = by_id[extra_task_id]
        if extra.id in workflow.tasks and not extra.has_state(TaskState.FINISHED_MASK):
            if extra.task_spec not in set(to_spec.task_specs.values()):
                extra.task_spec = to_spec.task_specs.get(extra.task_spec.name) or extra.task_spec
            extra.reset_branch(extra.data)
    for sp_id, diff in sub_diffs.items():
        sub = workflow.subprocesses.get(sp_id)
        if sub is not None and diff is not None:
            migrate_workflow(diff, sub, to_subprocess_specs[sub.spec.name], reset_mask=mask)
    outcome.spliced = _splice_removed(workflow, to_spec)
    for task_id, internal in kept_timers.items():
        task = workflow.tasks.get(task_id)
        if task is not None and task.state == TaskState.WAITING:
            task.internal_data.update(internal)
    forget_dropped_events(workflow)
    return outcome


def _token_spec(task_spec):
    """The spec a token is put on for `task_spec`: its boundary-event split when it has
    boundary events (so that they are armed too)."""
    for parent in task_spec.inputs:
        if isinstance(parent, BoundaryEventSplit):
            return parent
    return task_spec


def _timers(workflow, to_spec) -> dict:
    """The internal data (the moment it was started with) of each waiting timer whose element
    is the same in `to_spec`."""
    registry = _serializer().registry
    kept = {}
    for task in workflow.get_tasks(state=TaskState.WAITING, skip_subprocesses=True):
        definition = getattr(task.task_spec, "event_definition", None)
        if not isinstance(definition, TimerEventDefinition):
            continue
        new = to_spec.task_specs.get(task.task_spec.name)
        if new is not None and getattr(new, "event_definition", None) is not None and \
                registry.convert(new.event_definition) == registry.convert(definition):
            kept[task.id] = dict(task.internal_data)
    return kept


def _splice_removed(workflow, to_spec) -> list[str]:
    """Tasks still on a spec the new version lacks: finished ones are taken out of the tree
    (their children hung on their parent), predicted ones dropped."""
    known = set(to_spec.task_specs.values())
    spliced = []
    for task in list(workflow.get_tasks(skip_subprocesses=True)):
        if task.id not in workflow.tasks or task.task_spec in known:
            continue
        if task.has_state(TaskState.PREDICTED_MASK) or task.parent is None:
            if task.parent is not None:
                workflow._remove_task(task.id)
            continue
        parent = task.parent
        index = parent._children.index(task.id)
        parent._children[index:index + 1] = list(task._children)
        for child in task.children:
            child._parent = parent.id
        del workflow.tasks[task.id]
        if workflow.last_task is task:
            workflow.last_task = parent
        spliced.append(getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name)
    return spliced


def move(workflow, to_element: str, from_element: str | None = None, extra_task_id: str | None = None) -> Outcome:
    """Put the token waiting at `from_element` (the only one, when not named) on `to_element`
    of the same version. Back to an element this token already passed: reset to it (redo).
    Anywhere else: the waiting task takes the target's element (skip, or jump to another
    branch); the elements predicted between the two are reported as skipped."""
    spec = workflow.spec
    target_spec = _spec_of(spec, to_element)
    if target_spec is None:
        raise Invalid("no such element", {"to_element": [f"no element {to_element} in process {spec.name}"]})
    waiting = tokens(workflow, extra_task_id)
    if from_element:
        sources = [t for t in waiting if t.task_spec.bpmn_id == from_element]
        if not sources:
            at = ", ".join(sorted({t.task_spec.bpmn_id for t in waiting})) or "nothing"
            raise Invalid("no token there", {"from_element": [f"the instance does not wait at {from_element} (it waits at {at})"]})
    else:
        sources = waiting
        if len(sources) > 1:
            at = ", ".join(sorted({t.task_spec.bpmn_id for t in waiting}))
            raise Invalid("several tokens", {"from_element": [f"the instance waits at {at}: name the one to move"]})
        if not sources:
            raise Invalid("no token", {"from_element": ["the instance waits nowhere: there is no token to move"]})
    source = sources[0]
    if source.task_spec is target_spec:
        raise Invalid("same element", {"to_element": [f"the token already stands at {to_element}"]})
    outcome = Outcome(tokens=[{"element": source.task_spec.bpmn_id, "name": source.task_spec.bpmn_name,
                               "to": to_element, "state": _STATE_NAMES.get(source.state, "")}])
    passed = [t for t in _ancestors(source) if t.task_spec is target_spec and t.state == TaskState.COMPLETED]
    if passed:
        outcome.direction = "redo"
        workflow.reset_from_task_id(passed[0].id)
        renew(workflow, passed[0])
        forget_dropped_events(workflow)
        return outcome
    ahead = next((t for t in source if t.task_spec is target_spec and t is not source), None)
    if ahead is not None:
        outcome.direction = "skip"
        outcome.skipped = [t.task_spec.bpmn_id for t in _path(source, ahead)[1:-1]
                           if getattr(t.task_spec, "bpmn_id", None)]
    else:
        outcome.direction = "jump"
    moving = source.parent if isinstance(source.parent.task_spec, BoundaryEventSplit) else source
    data = dict(source.data)
    moving.task_spec = _token_spec(target_spec)
    moving.reset_branch(data)
    renew(workflow, moving)
    forget_dropped_events(workflow)
    return outcome


def forget_dropped_events(workflow) -> None:
    """SpiffWorkflow's event manager keeps the catching events it saw waiting; a branch reset
    drops tasks without telling it (a boundary timer of a task moved away would still fire on
    a task no longer in the tree). It keeps only the waiting events still in the tree, under
    their current ids."""
    manager = workflow.event_manager
    alive = {}
    for task in manager.tasks.values():
        owner = task.workflow
        if owner.tasks.get(task.id) is task and task.state == TaskState.WAITING:
            alive[task.id] = task
    manager.tasks = alive


def renew(workflow, task) -> None:
    """Give a task put on another element a new id: to the application it is a new task (its
    old task row is cancelled, a new one assigned), not the old one renamed."""
    old, new = task.id, uuid4()
    workflow.tasks[new] = workflow.tasks.pop(old)
    task.id = new
    parent = task.parent
    if parent is not None:
        parent._children[parent._children.index(old)] = new
    for other in workflow.tasks.values():
        if other._parent == old:
            other._parent = new


def _ancestors(task):
    found, parent = [], task.parent
    while parent is not None:
        found.append(parent)
        parent = parent.parent
    return found


def _path(source, target) -> list:
    """The tasks from `source` down to `target` (both included)."""
    path, task = [], target
    while task is not None and task is not source:
        path.append(task)
        task = task.parent
    return [source, *reversed(path)]


def proves_loadable_state(state: dict, definition, script_engine) -> None:
    """Load a migrated state once against `definition`; ValueError when it would not load."""
    try:
        state_from_dict(state, definition, script_engine)
    except Exception as error:  # noqa: BLE001 - anything the loader raises means "would not load"
        raise ValueError(f"the migrated state does not load: {type(error).__name__}: {error}") from error


def state_name(task) -> str:
    return _STATE_NAMES.get(task.state, TaskState.get_name(task.state).lower())
