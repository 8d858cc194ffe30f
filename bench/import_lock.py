"""How long a confirmed ledger import keeps SQLite's write lock from every other writer.

Builds a fresh SQLite database with the demo city, writes a ledger sheet of --rows good rows,
and imports it confirmed (in batches of DUBAN_IMPORT_BATCH_SECONDS, each one BEGIN IMMEDIATE
transaction) while another connection tries a write (BEGIN IMMEDIATE; ROLLBACK) every 50 ms;
prints the dry run's time, the confirmed import's time and batches, and the longest the
other writer waited (under 1 s is the target).

    .venv/bin/python -m bench.import_lock [--rows 1000]
"""
from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

from openpyxl import Workbook

from bench.contention import sqlite_writer
from engine import migrate
from engine.demo import load_demo
from engine.models import Role, User
from engine.service import Duban
from engine.settings import Settings

HEADER = ["序号", "问题编号", "问题来源/批次", "反馈问题", "问题类型", "所属区县/乡镇", "牵头单位", "具体责任人",
          "整改目标", "整改措施", "整改时限"]


def sheet(rows: int) -> bytes:
    book = Workbook()
    ws = book.active
    ws.append(HEADER)
    for n in range(1, rows + 1):
        ws.append([n, f"BENCH-{n:05d}", "省级生态环境保护督察/2025年省级督察", f"第{n}号问题：河道沿岸垃圾堆放", "水",
                   "南岭县", "南岭县生态环境分局", f"责任人{n % 50}", "清理完毕", "清理并常态巡查", "2027年6月底前"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        migrate.upgrade(f"sqlite:///{path}")
        duban = Duban(Settings.from_env(database_url=f"sqlite:///{path}", instance_path=Path(folder) / "instance"))
        duban.deploy_shipped()
        load_demo(duban)
        with duban.db.reading() as session:
            admin = next(u.id for u in session.query(User) if Role.ADMIN in u.roles)
        content = sheet(args.rows)
        started = time.perf_counter()
        report = duban.import_ledger(admin, content)
        print(f"dry run of {args.rows} rows: {time.perf_counter() - started:.2f} s, {report['counts']}")

        batches: list[dict] = []
        with sqlite_writer(path, pause=0.05) as waits:
            started = time.perf_counter()
            report = duban.import_ledger(admin, content, confirm=True, committed=batches.append)
            took = time.perf_counter() - started
        duban.db.dispose()
    print(f"confirmed import: {len(report['imported'])} problems in {took:.2f} s, {len(batches) + 1} batches; "
          f"another writer waited up to {max(waits):.2f} s ({len(waits)} tries)")
    return 0 if max(waits) < 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
