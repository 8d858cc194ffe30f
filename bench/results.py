"""One measured figure of the benchmark, as `bench/out/results.json` lists it.

`target` is the bound the figure must stay within (None: reported, not judged); `higher_is_better`
turns the bound into a floor (completions per second); `ratio_to_raw` is the figure divided by
raw SpiffWorkflow doing the same step in-process in the same run, where one applies."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Result:
    name: str
    database: str  # "sqlite" or "postgresql"
    problems: int
    value: float
    unit: str  # "ms", "per_s", "MB", "s", "ratio", ...
    target: float | None = None
    higher_is_better: bool = False
    ratio_to_raw: float | None = None
    note: str | None = None

    @property
    def missed(self) -> bool:
        if self.target is None:
            return False
        return self.value < self.target if self.higher_is_better else self.value > self.target

    def line(self) -> str:
        bound = "" if self.target is None else f"{'≥' if self.higher_is_better else '≤'} {self.target:g}"
        ratio = "" if self.ratio_to_raw is None else f"{self.ratio_to_raw:.1f}× raw"
        verdict = "" if self.target is None else ("MISSED" if self.missed else "ok")
        return (f"{self.name:<48} {self.database:<10} {self.problems:>7} {self.value:>10.1f} {self.unit:<6} "
                f"{bound:<10} {ratio:<10} {verdict}")


def write(results: list[Result], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
