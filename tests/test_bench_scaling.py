"""The benchmark's judgement: scaling ratios between sizes and the missed targets they name."""
from __future__ import annotations

from bench.measures import scaling
from bench.results import Result


def figure(name, problems, value):
    return Result(name, "sqlite", problems, value, "ms")


def test_register_and_complete_are_judged_only_between_sizes_100_times_apart():
    results = [figure("in-process register (median)", 1000, 30), figure("in-process register (median)", 100000, 40),
               figure("in-process complete (median)", 1000, 30), figure("in-process complete (median)", 100000, 33)]
    found = {r.name: r for r in scaling(results)}
    register = found["in-process register at 100000 ÷ at 1000"]
    assert round(register.value, 2) == 1.33 and register.target == 1.2 and register.missed
    assert not found["in-process complete at 100000 ÷ at 1000"].missed
    near = scaling([figure("in-process register (median)", 1000, 30),
                    figure("in-process register (median)", 10000, 60)])
    assert near[0].target is None and not near[0].missed


def test_the_sweep_per_firing_is_compared_ten_times_more_problems_apart():
    results = [figure("sweep per firing", 1000, 10), figure("sweep per firing", 10000, 12),
               figure("sweep per firing", 100000, 20)]
    found = {r.name: r for r in scaling(results)}
    assert not found["sweep per firing at 10000 ÷ at 1000"].missed
    assert found["sweep per firing at 100000 ÷ at 10000"].missed
    assert "sweep per firing at 100000 ÷ at 1000" not in found


def test_a_floor_is_missed_below_it():
    assert Result("completions", "postgresql", 1000, 150, "per_s", target=200, higher_is_better=True).missed
    assert not Result("completions", "postgresql", 1000, 250, "per_s", target=200, higher_is_better=True).missed
