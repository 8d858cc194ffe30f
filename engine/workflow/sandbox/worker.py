"""A script worker: one process that runs script tasks, one at a time, under rlimits.

Started by pool.py as `python -I worker.py MEMORY_BYTES MAX_DATA_BYTES`; it imports nothing
of Duban (no database, no configuration), reads jobs from stdin and writes answers to stdout,
each a 4-byte length and a body. A job (pickled by the parent, which trusts itself) holds the
script, the task data and the CPU budget; the answer is JSON, so that the parent never
unpickles anything a script could have shaped.

Limits, from the kernel: RLIMIT_AS (memory), RLIMIT_CPU (soft limit raised before each job to
the CPU used so far plus the budget; SIGXCPU ends the process), an ITIMER_PROF timer of the
budget (SIGPROF's default action ends the process, even inside one C call), no files, no core
dumps. Inside, the script still runs under RestrictedPython.
"""
from __future__ import annotations

import functools
import json
import math
import os
import pickle
import resource
import signal
import struct
import sys

from RestrictedPython import compile_restricted_exec
from RestrictedPython.Guards import (full_write_guard, guarded_iter_unpack_sequence, guarded_unpack_sequence,
                                     safe_builtins, safer_getattr)
import builtins
import operator

_BUILTINS = dict(safe_builtins)
for _name in ("all", "any", "dict", "enumerate", "filter", "list", "map", "max", "min", "reversed", "sorted",
              "sum", "set", "frozenset", "range", "zip"):
    _BUILTINS[_name] = getattr(builtins, _name)
_INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
            "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow}
_JSON_SCALARS = (str, int, float, bool, type(None))
_HEADER = struct.Struct(">I")


def _globals() -> dict:
    return {"__builtins__": _BUILTINS, "_getattr_": safer_getattr, "_getitem_": operator.getitem,
            "_getiter_": iter, "_write_": full_write_guard, "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_inplacevar_": lambda op, x, y: _INPLACE[op](x, y)}


def _not_json(value, where: str) -> str | None:
    """Where in `value` something JSON cannot hold sits, and what it is; None if nothing."""
    stack = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > 64:
            return f"{path} is nested more than 64 levels deep"
        if isinstance(item, float) and not math.isfinite(item):
            return f"{path} is {item!r}, which JSON cannot hold"
        if isinstance(item, int) and item.bit_length() > 14_000:
            return f"{path} is an integer of {item.bit_length()} bits, too big for the data"
        if isinstance(item, _JSON_SCALARS):
            continue
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    return f"{path} has a key of type {type(key).__name__} (keys must be text)"
                stack.append((inner, f"{path}[{key!r}]", depth + 1))
        elif isinstance(item, (list, tuple)):
            stack.extend((inner, f"{path}[{i}]", depth + 1) for i, inner in enumerate(item))
        else:
            return f"{path} is a {type(item).__name__}, which JSON cannot hold"
    return None


def _line(error: BaseException) -> int:
    line = getattr(error, "lineno", None) if isinstance(error, SyntaxError) else None
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<script>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line or 0


def _failure(message: str, line: int = 0, retire: bool = False, kind: str = "ScriptError") -> dict:
    """A failed job; `kind` names the error for the incident (the script's exception class, or
    what stopped it)."""
    return {"ok": False, "error": message, "line": line, "retire": retire, "type": kind}


@functools.lru_cache(maxsize=256)
def _compile(script: str):
    return compile_restricted_exec(script, "<script>")


def compile_errors(script: str) -> list[str]:
    """What RestrictedPython refuses in `script` (the deploy check runs this in the server)."""
    return list(_compile(script).errors)


def run(job: dict, max_bytes: int) -> dict:
    compiled = _compile(job["script"])
    if compiled.errors:
        return _failure("; ".join(compiled.errors), kind="ScriptRefused")
    local = dict(job["data"])
    used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(used + job["cpu"])
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    signal.setitimer(signal.ITIMER_PROF, job["cpu"])  # the checks of the result count too
    try:
        return _execute(compiled.code, local, job, max_bytes)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


def _execute(code, local: dict, job: dict, max_bytes: int) -> dict:
    try:
        exec(code, _globals(), local)
    except MemoryError:
        return _failure(f"the script needed more than {job['memory_mb']} MB of memory", retire=True,
                        kind="MemoryError")
    except (SystemExit, KeyboardInterrupt, GeneratorExit) as error:
        detail = f" ({error})" if str(error) else ""
        return _failure(f"the script raised {type(error).__name__}{detail}, which a script may not raise",
                        _line(error), kind=type(error).__name__)
    except BaseException as error:
        return _failure(f"{type(error).__name__}: {error}", _line(error), kind=type(error).__name__)
    data = {k: v for k, v in local.items() if not k.startswith("_") and not callable(v)}
    for key, value in data.items():
        problem = _not_json(value, key)
        if problem:
            return _failure(f"the script left data that is not JSON: {problem}", kind="ScriptDataError")
    text = json.dumps({"ok": True, "data": data}, ensure_ascii=False)
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        sizes = {k: len(json.dumps(v, ensure_ascii=False).encode("utf-8")) for k, v in data.items()}
        biggest = max(sizes, key=sizes.get)
        return _failure(f"the script left {size} bytes of data, more than the limit of {max_bytes} "
                        f"(the largest is {biggest!r}, {sizes[biggest]} bytes)", kind="ScriptDataError")
    return {"text": text}


def _read(fd: int, size: int) -> bytes:
    chunks, missing = [], size
    while missing:
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            return b""
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def _write(fd: int, body: bytes) -> None:
    view = memoryview(_HEADER.pack(len(body)) + body)
    while view:
        view = view[os.write(fd, view):]


def main() -> None:
    memory, max_bytes = int(sys.argv[1]), int(sys.argv[2])
    sys.stdout = sys.stderr = open(os.devnull, "w")
    for limit, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, 0)):
        resource.setrlimit(limit, (value, value))
    _write(1, b"")  # ready: the parent's wall clock for a job starts after this, not at the interpreter's start
    while True:
        header = _read(0, _HEADER.size)
        if not header:
            return  # the parent is gone or shut the pool down
        job = pickle.loads(_read(0, _HEADER.unpack(header)[0]))
        try:
            answer = run(job, max_bytes)
        except MemoryError:
            answer = _failure(f"the script needed more than {job['memory_mb']} MB of memory", retire=True,
                              kind="MemoryError")
        except BaseException as error:
            answer = _failure(f"{type(error).__name__}: {error}", retire=True, kind=type(error).__name__)
        _write(1, answer["text"].encode("utf-8") if "text" in answer else json.dumps(answer).encode("utf-8"))
        if answer.get("retire"):
            return


if __name__ == "__main__":
    main()
