"""The script engine SpiffWorkflow runs Duban's diagrams with.

Conditions and timer expressions (`evaluate`, also reached directly through
`environment.evaluate` by subprocess completion conditions and message correlation) go to the
whitelisted evaluator in this process; script tasks (`execute`) go to a worker process of the
shared pool. Every failure reaches SpiffWorkflow as an ordinary exception: ExpressionError (a
WorkflowException) from the environment, WorkflowTaskException naming the task from the engine.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import WorkflowException

from ...settings import ScriptLimits
from . import bounded
from .evaluator import ExpressionFailed, evaluate
from .pool import ScriptFailed, shared_pool
from .whitelist import ExpressionRefused, parse


class ExpressionError(WorkflowException):
    """A condition or timer expression that was refused or failed; `error_type` names the
    error for an incident."""

    def __init__(self, message: str, error_type: str = "ExpressionError"):
        super().__init__(message)
        self.error_type = error_type


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    def __init__(self, functions: dict | None = None, limits: ScriptLimits | None = None):
        super().__init__({**bounded.FUNCTIONS, **(functions or {})})
        self.limits = limits or ScriptLimits.from_env()

    def evaluate(self, expression, context, external_context=None):
        names = {**(external_context or {}), **context}
        try:
            return evaluate(expression, names, self.globals)
        except (ExpressionRefused, ExpressionFailed) as error:
            raise ExpressionError(f"the expression {_short(expression)!r} failed: {error}",
                                  getattr(error, "kind", "ExpressionRefused")) from None

    def execute(self, script, context, external_context=None):
        data = shared_pool().run(script, context, self.limits)
        context.clear()
        context.update(data)
        return True

    def call_service(self, context, **kwargs):
        raise ScriptFailed("service tasks are not supported")


class SandboxScriptEngine(PythonScriptEngine):
    def __init__(self, functions: dict | None = None, limits: ScriptLimits | None = None):
        super().__init__(environment=SandboxEnvironment(functions, limits))

    def validate(self, expression):
        parse(expression, frozenset(self.environment.globals))

    def evaluate(self, task, expression, external_context=None):
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except ExpressionError as error:
            failure = WorkflowTaskException(str(error), task=task)
            failure.error_type = error.error_type
            raise failure from None

    def create_task_exec_exception(self, task, script, err):
        line = getattr(err, "line", 0) or 0
        lines = script.splitlines()
        error_line = lines[line - 1] if 0 < line <= len(lines) else ""
        message = f"script error on line {line}: {err}" if line else f"script error: {err}"
        failure = WorkflowTaskException(message, task=task, line_number=line, error_line=error_line)
        failure.error_type = getattr(err, "kind", None) or type(err).__name__  # what an incident names
        return failure


def _short(expression: str) -> str:
    text = " ".join(str(expression).split())
    return text if len(text) <= 80 else text[:77] + "..."
