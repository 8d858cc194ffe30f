"""How late BPMN timers fire under the running scheduler.

A small problem process (start → a 15-second timer → 签收 → end) is deployed; 200 problems are
registered on it through the API of a running `duban serve` (its embedded scheduler hears of
each new timer when the registration commits), spread over the time the registrations take.
Each timer's lateness is the moment its `instance.timer_fired` ledger entry was written less
the moment it fell due (its instance's next_wakeup_at, read right after registration)."""
from __future__ import annotations

import statistics
import time

from sqlalchemy import select

from bench.city import City
from bench.http_load import Client, _problem_body, percentile
from bench.results import Result
from engine.models import LedgerEntry, ProcessInstance, User

KEY = "bench_timer"
TIMERS = 200
SECONDS = 15
P99_MS = 1000
DIAGRAM = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
  id="Definitions_{KEY}" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:collaboration id="Collaboration_{KEY}">
    <bpmn:participant id="Participant_{KEY}" name="计时器基准" processRef="{KEY}" />
  </bpmn:collaboration>
  <bpmn:process id="{KEY}" name="计时器基准" isExecutable="true">
    <bpmn:extensionElements>
      <spiffworkflow:properties><spiffworkflow:property name="purpose" value="problem" /></spiffworkflow:properties>
    </bpmn:extensionElements>
    <bpmn:laneSet id="LaneSet_{KEY}">
      <bpmn:lane id="Lane_unit" name="责任单位">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>wait</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>sign</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>to_wait</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait" name="等待">
      <bpmn:incoming>to_wait</bpmn:incoming>
      <bpmn:outgoing>to_sign</bpmn:outgoing>
      <bpmn:timerEventDefinition id="wait_timer">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT{SECONDS}S</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="sign" name="签收">
      <bpmn:extensionElements>
        <spiffworkflow:properties><spiffworkflow:property name="problemStatus" value="registered" /></spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>to_sign</bpmn:incoming>
      <bpmn:outgoing>to_end</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>to_end</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="to_wait" sourceRef="start" targetRef="wait" />
    <bpmn:sequenceFlow id="to_sign" sourceRef="wait" targetRef="sign" />
    <bpmn:sequenceFlow id="to_end" sourceRef="sign" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def run(city: City, port: int, token: str, label: str) -> list[Result]:
    duban = city.duban
    with duban.db.reading() as session:
        admin = session.scalar(select(User.id).where(User.username == "admin"))
    duban.deploy(admin, DIAGRAM.encode(), f"{KEY}.bpmn", accepted="benchmark process", comment="benchmark")
    body = {**_problem_body(city, ""), "process_key": KEY}
    client = Client(port)
    stamp = time.time_ns() % 10**9
    problem_ids, due = [], {}
    for n in range(TIMERS):
        status, answer = client.call("POST", "/api/problems", {**body, "code": f"T{stamp}-{n}"}, token)
        assert status == 201, (status, answer)
        problem_ids.append(answer["id"])
        with duban.db.reading() as session:  # read at once: the first timers fire before the last are set
            due.update(session.execute(select(ProcessInstance.id, ProcessInstance.next_wakeup_at)
                                       .where(ProcessInstance.problem_id == answer["id"])).all())
    unset = [i for i, moment in due.items() if moment is None]
    assert not unset, f"instances {unset[:5]} have no timer set right after registration"
    waited_until = time.monotonic() + SECONDS + 60
    fired: dict[int, object] = {}
    while time.monotonic() < waited_until and len(fired) < len(due):
        time.sleep(1)
        with duban.db.reading() as session:
            fired = {int(subject): at for subject, at in session.execute(
                select(LedgerEntry.subject_id, LedgerEntry.at).where(
                    LedgerEntry.action == "instance.timer_fired", LedgerEntry.problem_id.in_(problem_ids)))}
    late = [(fired[i] - moment).total_seconds() * 1000 for i, moment in due.items() if i in fired]
    missing = len(due) - len(late)
    db, size = city.database, city.problems
    if not late:
        return [Result(f"BPMN timer lateness p99 ({label})", db, size, float("inf"), "ms", target=P99_MS,
                       note=f"none of {len(due)} timers fired within {SECONDS + 60} s")]
    note = f"{len(late)} timers of {SECONDS} s" + (f"; {missing} did not fire within a minute" if missing else "")
    return [Result(f"BPMN timer lateness p50 ({label})", db, size, statistics.median(late), "ms", note=note),
            Result(f"BPMN timer lateness p99 ({label})", db, size,
                   percentile(late, 99) if not missing else float("inf"), "ms", target=P99_MS, note=note),
            Result(f"BPMN timer lateness max ({label})", db, size, max(late), "ms", note=note)]
