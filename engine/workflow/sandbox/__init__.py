"""Diagram code, contained: conditions and timer expressions through a whitelisted evaluator
that cannot loop (whitelist.py, evaluator.py, bounded.py); script tasks in worker processes
under CPU and memory rlimits (pool.py, worker.py); form patterns on RE2 (patterns.py)."""
from .engine import ExpressionError, SandboxScriptEngine
from .evaluator import ExpressionFailed
from .pool import ScriptFailed, shared_pool
from .worker import compile_errors as script_errors
from .whitelist import ExpressionRefused, parse as check_expression

__all__ = ["ExpressionError", "ExpressionFailed", "ExpressionRefused", "SandboxScriptEngine", "ScriptFailed",
           "check_expression", "script_errors", "shared_pool"]
