"""The performance benchmark: `make bench`, or

    .venv/bin/python -m bench [--sizes 1000,10000,100000] [--repeat 5] [--import-rows 10000] [--no-http]
                              [--cluster with|only|no]

For each size it builds a city of that many open problems (bench/city.py) on SQLite in a
temporary folder, or on DUBAN_BENCH_DATABASE_URL (which it empties), measures raw
SpiffWorkflow in the same run (bench/raw.py), then Duban in-process and through HTTP
(bench/measures.py, bench/http_load.py); on PostgreSQL, then, the cluster's timing
(bench/cluster.py: two hosts and two schedulers through their faults). Prints a table, writes bench/out/results.json and exits
1 naming every figure that missed its target.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bench import measures
from bench.city import build
from bench.raw import RawEngine
from bench.results import Result, write

OUT = Path(__file__).parent / "out" / "results.json"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES") or "1000,10000,100000",
                        help="city sizes, comma-separated (default: 1000,10000,100000; env BENCH_SIZES)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per page and per plan (median)")
    parser.add_argument("--samples", type=int, default=20, help="problems registered and completed per size")
    parser.add_argument("--import-rows", type=int, default=10_000,
                        help="rows of the Excel ledger imported at the first size (0: none)")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP load and the scheduler's timers")
    parser.add_argument("--cluster", choices=("with", "only", "no"), default="with",
                        help="the cluster's timing (bench/cluster.py), when DUBAN_BENCH_DATABASE_URL is PostgreSQL: "
                             "after the cities (with, the default), alone (only) or not (no)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()] if args.cluster != "only" else []
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as folder:
        for index, size in enumerate(sizes):
            here = Path(folder) / str(size)
            here.mkdir()
            url = os.environ.get("DUBAN_BENCH_DATABASE_URL") or f"sqlite:///{here}/bench.db"
            print(f"city of {size} problems ({url.split('://')[0]})", flush=True)
            city = build(url, here, size)
            found = [Result("city built", city.database, size, city.built_in, "s")]
            raw_start, raw_complete = RawEngine(city.duban.db.engine).measure(max(args.samples, 10))
            found += [Result("raw SpiffWorkflow start+save", city.database, size, raw_start, "ms"),
                      Result("raw SpiffWorkflow load+complete+save", city.database, size, raw_complete, "ms")]
            steps = [lambda: measures.register_and_complete(city, args.samples, raw_start, raw_complete),
                     lambda: measures.pages(city, args.repeat),
                     lambda: measures.replan(city, args.repeat),
                     lambda: measures.sweep(city)]
            if not args.no_http:
                from bench import http_load
                steps.append(lambda: http_load.run(city, here, raw_start, raw_complete))
            if index == 0 and args.import_rows:
                steps.append(lambda: measures.import_ledger(city, args.import_rows, raw_start))
            for step in steps:
                figures = step()
                for figure in figures:
                    print("  " + figure.line(), flush=True)
                found += figures
            results += found
            city.duban.db.dispose()
        bench_url = os.environ.get("DUBAN_BENCH_DATABASE_URL") or ""
        if args.cluster != "no" and bench_url.startswith("postgresql"):
            from bench import cluster

            print("the cluster: two hosts, two schedulers, faults, a burst (about 5 minutes)", flush=True)
            here = Path(folder) / "cluster"
            here.mkdir()
            for figure in cluster.run(bench_url, here):
                print("  " + figure.line(), flush=True)
                results.append(figure)
    results += measures.scaling(results)
    print(f"\n{'figure':<48} {'database':<10} {'problems':>7} {'value':>10} {'unit':<6} {'target':<10} "
          f"{'ratio':<10} verdict")
    for result in results:
        print(result.line())
    write(results, args.out)
    missed = [r for r in results if r.missed]
    print(f"\nwritten: {args.out}")
    if missed:
        print("MISSED targets:")
        for result in missed:
            print(f"  {result.name} ({result.database}, {result.problems} problems): {result.value:.1f} {result.unit}, "
                  f"target {'≥' if result.higher_is_better else '≤'} {result.target:g}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
