"""The cluster's timing (tests/cluster/scenario.py played on DUBAN_BENCH_DATABASE_URL, a
PostgreSQL database): how late BPMN timers and escalation rungs fire under load and through
the faults, judged against the targets the cluster test leaves to the benchmark."""
from __future__ import annotations

from pathlib import Path

from bench.results import Result

TARGETS = {  # figure -> (name, unit, target)
    "takeover_s": ("cluster: a standby leads after the leader died/froze", "s", 15.0),
    "timer_late_p99_s": ("cluster: timer lateness p99 outside take-overs", "s", 1.0),
    "timer_late_max_s": ("cluster: timer lateness max outside take-overs", "s", None),
    "timer_late_during_takeover_max_s": ("cluster: timer lateness max during take-overs", "s", None),
    "rung_late_p99_s": ("cluster: rung lateness p99 outside take-overs", "s", 1.0),
    "burst_s": ("cluster: 1,000 timers due at one instant fired within", "s", 10.0),
    "start_rungs_s": ("cluster: 1,000 rungs due at the start fired within", "s", 10.0),
    "timers_due_per_s": ("cluster: timers falling due", "per_s", None),
    "writes_per_s": ("cluster: writes answered", "per_s", None),
}


def run(url: str, folder: Path) -> list[Result]:
    from tests.cluster import scenario

    played = scenario.run(url, folder)
    results = []
    for key, (name, unit, target) in TARGETS.items():
        value = played.figures[key]
        if key == "timer_late_during_takeover_max_s":
            target = played.figures["takeover_s"] + 1.0
        results.append(Result(name, "postgresql", 0, value, unit, target=target))
    if played.wrong:
        results.append(Result("cluster: faults of correctness (see the log)", "postgresql", 0, len(played.wrong),
                               "count", target=0, note="; ".join(played.wrong)[:2000]))
    return results
