"""Gateway conditions, timer expressions and script tasks, run in RestrictedPython's sandbox.

SpiffWorkflow's default engine runs scripts with plain `exec`, where `os.system` is one
attribute chain away. Here every expression and script is compiled by RestrictedPython (no
names starting with `_`, guarded attribute, item and write access), sees only a short list of
builtins, and is stopped after a time limit.
"""
from __future__ import annotations

import functools
import operator
import sys
import time

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (full_write_guard, guarded_iter_unpack_sequence, guarded_unpack_sequence,
                                     safe_builtins, safer_getattr)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

TIME_LIMIT_SECONDS = 2.0

_BUILTINS = dict(safe_builtins)
for _name in ("all", "any", "dict", "enumerate", "filter", "list", "map", "max", "min", "reversed",
              "sorted", "sum", "set", "frozenset", "range", "zip"):
    _BUILTINS[_name] = __builtins__[_name] if isinstance(__builtins__, dict) else getattr(__builtins__, _name)

_INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
            "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow}


def _inplacevar(op, x, y):
    return _INPLACE[op](x, y)


class ScriptError(Exception):
    """A script or expression that does not compile in the sandbox."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


@functools.lru_cache(maxsize=2048)
def compile_expression(expression: str):
    result = compile_restricted_eval(expression.strip(), "<expression>")
    if result.errors:
        raise ScriptError("; ".join(result.errors))
    return result.code


@functools.lru_cache(maxsize=512)
def compile_script(script: str):
    result = compile_restricted_exec(script, "<script>")
    if result.errors:
        raise ScriptError("; ".join(result.errors))
    return result.code


def _restricted_globals(extra: dict) -> dict:
    return {
        "__builtins__": _BUILTINS,
        "_getattr_": safer_getattr,
        "_getitem_": operator.getitem,
        "_getiter_": iter,
        "_write_": full_write_guard,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_inplacevar_": _inplacevar,
        **extra,
    }


class _Deadline:
    """Stops runaway code: a trace function that raises once the time limit has passed."""

    def __init__(self, seconds: float):
        self.until = time.monotonic() + seconds

    def __enter__(self):
        self.previous = sys.gettrace()
        sys.settrace(self._trace)
        return self

    def __exit__(self, *exc):
        sys.settrace(self.previous)
        return False

    def _trace(self, frame, event, arg):
        # per-opcode events: a one-line `while True: pass` emits no line events
        frame.f_trace_opcodes = True
        if time.monotonic() > self.until:
            raise TimeoutError(f"script ran longer than {TIME_LIMIT_SECONDS:g} s")
        return self._trace


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    def evaluate(self, expression, context, external_context=None):
        code = compile_expression(expression)
        scope = _restricted_globals({**self.globals, **(external_context or {}), **context})
        with _Deadline(TIME_LIMIT_SECONDS):
            return eval(code, scope)

    def execute(self, script, context, external_context=None):
        code = compile_script(script)
        scope = _restricted_globals({**self.globals, **(external_context or {})})
        local = dict(context)
        with _Deadline(TIME_LIMIT_SECONDS):
            exec(code, scope, local)
        context.clear()
        context.update({k: v for k, v in local.items() if not callable(v) and not k.startswith("_")})
        return True


class RestrictedScriptEngine(PythonScriptEngine):
    def __init__(self, functions: dict | None = None):
        super().__init__(environment=RestrictedEnvironment(functions or {}))

    def validate(self, expression):
        compile_expression(expression)

    def get_error_line_number_and_content(self, script, err):
        # RestrictedPython's SyntaxError carries lineno=None; SpiffWorkflow expects a number
        line = getattr(err, "lineno", None) or 0
        if not line:
            tb = sys.exc_info()[2]
            while tb is not None:
                if tb.tb_frame.f_code.co_filename in ("<script>", "<expression>"):
                    line = tb.tb_lineno
                tb = tb.tb_next
        lines = script.splitlines()
        return line, lines[line - 1] if 0 < line <= len(lines) else ""
