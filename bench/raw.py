"""Raw SpiffWorkflow doing the steps Duban does, in the same process and against the same
database: the yardstick every speed of the benchmark is divided by.

The rectification diagram (bpmn/rectification.bpmn) is parsed once with SpiffWorkflow's own
parser (SpiffBpmnParser); then
  start  = a workflow started and run to its first user task (签收), serialized with
           SpiffWorkflow's BpmnWorkflowSerializer and inserted into a table, committed;
  complete = that row read back, deserialized, 签收 completed with the same data Duban's form
           takes, the engine run to the next user task, serialized and updated, committed.
No ledger, no task rows, no lights, no permissions: what is left is the engine and the save."""
from __future__ import annotations

import statistics
import time

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Column, Integer, MetaData, Table, Text, insert, select, update

from engine.settings import BPMN_DIR

PROCESS = "rectification"
FIRST_TASK = "Task_sign"
FIRST_DATA = {"acknowledged": True}

_metadata = MetaData()
RAW = Table("bench_raw_workflow", _metadata, Column("id", Integer, primary_key=True), Column("state", Text))


class RawEngine:
    def __init__(self, engine):
        self.engine = engine
        parser = SpiffBpmnParser()
        parser.add_bpmn_file(str(BPMN_DIR / f"{PROCESS}.bpmn"))
        self.spec = parser.get_spec(PROCESS)
        self.subprocess_specs = parser.get_subprocess_specs(PROCESS)
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
        RAW.create(engine, checkfirst=True)

    def start(self) -> int:
        workflow = BpmnWorkflow(self.spec, self.subprocess_specs)
        workflow.do_engine_steps()
        state = self.serializer.serialize_json(workflow)
        with self.engine.begin() as connection:
            return connection.execute(insert(RAW).values(state=state)).inserted_primary_key[0]

    def complete(self, row_id: int) -> None:
        with self.engine.begin() as connection:
            state = connection.scalar(select(RAW.c.state).where(RAW.c.id == row_id))
            workflow = self.serializer.deserialize_json(state)
            task = next(t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                        if t.task_spec.bpmn_id == FIRST_TASK)
            task.data.update(FIRST_DATA)
            task.run()
            workflow.do_engine_steps()
            connection.execute(update(RAW).where(RAW.c.id == row_id)
                               .values(state=self.serializer.serialize_json(workflow)))

    def measure(self, repeat: int) -> tuple[float, float]:
        """Median milliseconds of (start and save, load and complete and save)."""
        starts, completes = [], []
        self.complete(self.start())  # warm
        for _ in range(repeat):
            began = time.perf_counter()
            row_id = self.start()
            starts.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            self.complete(row_id)
            completes.append((time.perf_counter() - began) * 1000)
        return statistics.median(starts), statistics.median(completes)
