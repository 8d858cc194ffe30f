"""Another writer beside the action under test: a thread that writes every `pause` seconds while
a block runs and records how long each write waited. The benchmark and the tests that check
how long SQLite's write lock is held use it (tests/test_sandbox_write_lock.py,
tests/test_import_batches.py, bench/import_lock.py)."""
from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def another_writer(write: Callable[[int], None], pause: float = 0.05) -> Iterator[list[float]]:
    """Call `write(n)` (n = 1, 2, …) every `pause` seconds in a thread while the block runs;
    yields the list of seconds each call took, complete once the block has left."""
    waits: list[float] = []
    stop = threading.Event()

    def loop() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            asked = time.perf_counter()
            write(n)
            waits.append(time.perf_counter() - asked)
            stop.wait(pause)

    thread = threading.Thread(target=loop, name="another-writer")
    thread.start()
    try:
        yield waits
    finally:
        stop.set()
        thread.join()


@contextmanager
def sqlite_writer(path: str | object, pause: float = 0.05, timeout: float = 600) -> Iterator[list[float]]:
    """A second connection to the SQLite file at `path` taking the write lock (BEGIN IMMEDIATE;
    ROLLBACK) every `pause` seconds while the block runs; yields its waits."""
    connection = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)

    def write(_n: int) -> None:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")

    try:
        with another_writer(write, pause) as waits:
            yield waits
    finally:
        connection.close()
