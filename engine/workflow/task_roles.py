"""Who does each user task: the name of its lane (a role of config/roles.toml), or, for a task
in no lane, the role its camunda:candidateGroups names (engine/workflow/camunda.py)."""
from __future__ import annotations

from ..validation.findings import Finding
from . import camunda


def check(tasks, lanes, lane_roles, findings, roles) -> None:
    """Each task's role: its lane's name, or (in no lane) its camunda:candidateGroups; a lane
    whose name is no role is offered the role all its tasks' candidateGroups name."""
    offered = set()
    for task in tasks:
        task_id = task.get("id")
        lane = lanes.get(task_id)
        if lane is None:
            role = camunda.task_role(task, lane_roles, findings)
            if role is not None:
                roles[task_id] = role
            continue
        if (lane.get("name") or "").strip() in lane_roles:
            continue
        mine = [t for t in tasks if lanes.get(t.get("id")) is lane]
        offer = camunda.lane_offer(lane, mine, lane_roles)
        if offer is None:
            findings.append(Finding(task_id, lane.sourceline, f"lane {lane.get('name')!r} is not a known role; "
                                    f"known lanes: {', '.join(sorted(lane_roles))}", code="lane-unknown-role", message_zh=f"泳道“{lane.get('name')}”不是已知角色；已知泳道：{'、'.join(sorted(lane_roles))}"))
        elif lane.get("id") not in offered:
            offered.add(lane.get("id"))
            findings.append(Finding(lane.get("id") or task_id, lane.sourceline, f"lane {lane.get('name')!r} is not a "
                                    f"known role; its tasks' camunda:candidateGroups name {offer}: name the lane {offer}",
                                    code="lane-unknown-role", fix=offer,
                                    message_zh=f"泳道“{lane.get('name')}”不是已知角色；其任务的 camunda:candidateGroups "
                                    f"指定了{offer}：请将泳道命名为“{offer}”"))
