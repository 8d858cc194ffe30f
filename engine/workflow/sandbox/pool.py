"""Script workers, started lazily and shared by every thread of a process.

Each worker is a separate Python process (worker.py, started with `python -I`, so it inherits
no database connection, no open file and no state of the server). A caller takes an idle
worker (or starts one, up to `ScriptLimits.workers`), hands it one job and waits on the pipe
with `select`, holding neither a lock nor the GIL. A worker that overruns the wall-clock limit
(counted from the job's hand-over: a new worker first says it is ready) is killed; one that the kernel ended (CPU, memory) is replaced on the next call. The pool
belongs to the process that made it (a forked child makes its own) and is shut down at exit.
"""
from __future__ import annotations

import atexit
import json
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from ...settings import ScriptLimits
from . import rehearsal

WORKER = Path(__file__).with_name("worker.py")
_HEADER = struct.Struct(">I")
_CPU_SIGNALS = {signal.SIGXCPU, signal.SIGPROF}
START_SECONDS = 30.0  # how long a new worker may take to start (not counted in a script's time)


class ScriptFailed(Exception):
    """A script task that failed, was refused or was stopped; `line` is its line (0 unknown),
    `kind` what went wrong (the script's exception class, or ScriptLimitExceeded …)."""

    def __init__(self, message: str, line: int = 0, kind: str = "ScriptError"):
        super().__init__(message)
        self.line, self.kind = line, kind


class _Worker:
    def __init__(self, limits: ScriptLimits):
        self.limits = limits
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(WORKER), str(limits.memory_mb * 1024 * 1024), str(limits.data_bytes)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
            start_new_session=True, env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"})
        self.ready = False

    def call(self, job: bytes) -> dict:
        try:
            if not self.ready:
                self._await_start()
            deadline = time.monotonic() + self.limits.wall_seconds
            self.process.stdin.write(_HEADER.pack(len(job)) + job)
            self.process.stdin.flush()
            header = self._read(_HEADER.size, deadline)
            size = _HEADER.unpack(header)[0]
            if size > self.limits.data_bytes + 65536:
                raise ScriptFailed(f"the script's answer of {size} bytes is over the limit")
            return json.loads(self._read(size, deadline))
        except (BrokenPipeError, EOFError):
            raise ScriptFailed(self._why_ended(), kind="ScriptLimitExceeded") from None

    def _await_start(self) -> None:
        """Wait for the worker's empty ready message: starting an interpreter takes 0.1 s on an
        idle machine and seconds on a loaded one, and none of it is the script's time."""
        try:
            header = self._read(_HEADER.size, time.monotonic() + START_SECONDS)
        except ScriptFailed:
            raise ScriptFailed(f"the script worker did not start within {START_SECONDS:g} s",
                               kind="ScriptWorkerFailed") from None
        if _HEADER.unpack(header)[0] != 0:
            self.kill()
            raise ScriptFailed("the script worker started with nonsense", kind="ScriptWorkerFailed")
        self.ready = True

    def _read(self, size: int, deadline: float) -> bytes:
        fd, chunks, missing = self.process.stdout.fileno(), [], size
        while missing:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.kill()
                raise ScriptFailed(f"the script ran longer than {self.limits.wall_seconds:g} s and was stopped",
                                   kind="ScriptLimitExceeded")
            chunk = os.read(fd, min(missing, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    def _why_ended(self) -> str:
        try:
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.returncode
        if code is not None and -code in _CPU_SIGNALS:
            return f"the script used more than its {self.limits.cpu_seconds:g} s of CPU and was stopped"
        if code == -signal.SIGKILL:
            return "the script was stopped by the operating system (over its CPU or memory limit)"
        return f"the script's worker process ended unexpectedly (exit code {code})"

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


class ScriptPool:
    def __init__(self):
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._free = threading.Condition(self._lock)

    def run(self, script: str, data: dict, limits: ScriptLimits) -> dict:
        """The task data the script leaves, as JSON values; ScriptFailed says why not."""
        try:
            job = pickle.dumps({"script": script, "data": dict(data), "cpu": limits.cpu_seconds,
                                "memory_mb": limits.memory_mb}, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:
            raise ScriptFailed(f"the task data cannot be handed to the script: {error}") from None
        return rehearsal.run(job + repr(limits).encode(), lambda: self._run(job, limits), ScriptFailed)

    def _run(self, job: bytes, limits: ScriptLimits) -> dict:
        worker = self._take(limits)
        keep = False
        try:
            answer = worker.call(job)
            keep = not answer.get("retire")
        finally:
            self._give_back(worker, keep)
        if not answer.get("ok"):
            raise ScriptFailed(str(answer.get("error")), int(answer.get("line") or 0),
                               str(answer.get("type") or "ScriptError"))
        data = answer.get("data")
        if not isinstance(data, dict):
            raise ScriptFailed("the script's worker answered nonsense")
        return data

    def _take(self, limits: ScriptLimits) -> _Worker:
        with self._free:
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.limits == limits and worker.alive():
                        self._busy.add(worker)
                        return worker
                    worker.kill()
                if len(self._busy) < max(1, limits.workers):
                    break
                self._free.wait()
            placeholder = object()
            self._busy.add(placeholder)
        try:
            worker = _Worker(limits)
        except BaseException:
            with self._free:
                self._busy.discard(placeholder)
                self._free.notify()
            raise
        with self._free:
            self._busy.discard(placeholder)
            self._busy.add(worker)
        return worker

    def _give_back(self, worker: _Worker, keep: bool) -> None:
        if not (keep and worker.alive()):
            worker.kill()
        with self._free:
            self._busy.discard(worker)
            if keep and worker.alive():
                self._idle.append(worker)
            self._free.notify()

    def shutdown(self) -> None:
        with self._free:
            workers, self._idle = self._idle + [w for w in self._busy if isinstance(w, _Worker)], []
        for worker in workers:
            worker.kill()

    def processes(self) -> list[int]:
        """The ids of the worker processes alive (tests look for strays)."""
        with self._free:
            return [w.process.pid for w in self._idle + [w for w in self._busy if isinstance(w, _Worker)] if w.alive()]


_pools: dict[int, ScriptPool] = {}
_pools_lock = threading.Lock()


def shared_pool() -> ScriptPool:
    """This process's pool (a forked child never uses its parent's workers)."""
    pid = os.getpid()
    with _pools_lock:
        pool = _pools.get(pid)
        if pool is None:
            pool = _pools[pid] = ScriptPool()
            atexit.register(pool.shutdown)
        return pool
