"""Workflow state without its spec, and parsed specs cached per deployed version.

SpiffWorkflow's serializer embeds the whole spec in every workflow (about half the bytes).
Duban stores the spec once per deployed version (`ProcessDefinition.spec`) and each
instance's state without it, restoring instances against a cached, already-parsed spec.
The serializer flips internal state while it works, so there is one per thread.
"""
from __future__ import annotations

import threading
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

STATE_FORMAT = "duban-1"  # bump with a migration when SpiffWorkflow's task format changes


class _SpecFreeWorkflowConverter(BpmnWorkflowConverter):
    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_local = threading.local()


def _serializer() -> BpmnWorkflowSerializer:
    if not hasattr(_local, "serializer"):
        config = dict(SPIFF_CONFIG)
        config[BpmnWorkflow] = _SpecFreeWorkflowConverter
        _local.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))
    return _local.serializer


def spec_to_dict(spec, subprocess_specs: dict) -> dict:
    registry = _serializer().registry
    return {"spec": registry.convert(spec),
            "subprocess_specs": {name: registry.convert(s) for name, s in subprocess_specs.items()}}


_specs: dict[tuple[int, str], tuple] = {}
_specs_lock = threading.Lock()


def has_scripts(definition) -> bool:
    """Whether a deployed version runs any script (a script task, a pre- or post-script)."""
    spec, subprocess_specs = specs_for(definition)
    return any(getattr(task, name, None) for process in (spec, *subprocess_specs.values())
               for task in process.task_specs.values() for name in ("script", "prescript", "postscript"))


def specs_for(definition) -> tuple:
    """(spec, subprocess_specs) of a deployed version, restored once per process."""
    key = (definition.id, definition.checksum)  # ids are reused when a test database is emptied
    cached = _specs.get(key)
    if cached is None:
        registry = _serializer().registry
        stored = definition.spec
        cached = (registry.restore(stored["spec"]),
                  {name: registry.restore(s) for name, s in stored["subprocess_specs"].items()})
        with _specs_lock:
            _specs[key] = cached
    return cached


def state_to_dict(workflow: BpmnWorkflow) -> dict:
    serializer = _serializer()
    serializer.registry._encoder_mode = True
    try:
        dct = serializer.to_dict(workflow)
    finally:
        serializer.registry._encoder_mode = False
    dct["format"] = STATE_FORMAT
    return dct


def state_from_dict(state: dict, definition, script_engine) -> BpmnWorkflow:
    spec, subprocess_specs = specs_for(definition)
    dct = dict(state)
    fmt = dct.pop("format", None)
    if fmt != STATE_FORMAT:
        raise ValueError(f"stored workflow state has format {fmt!r}, this engine reads {STATE_FORMAT!r}")
    workflow = _serializer().registry.restore(
        {**dct, "typename": "BpmnWorkflow"}, spec=spec, subprocess_specs=subprocess_specs)
    workflow.script_engine = script_engine
    for sub in workflow.subprocesses.values():
        sub.script_engine = script_engine
    return workflow
