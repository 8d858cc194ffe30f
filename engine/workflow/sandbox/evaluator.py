"""Evaluating a checked expression (whitelist.parse) by walking its tree.

Names are read from the process data; calls go only to the functions the engine was given
(bounded.FUNCTIONS and Duban's timer helpers), never to anything the data holds; methods only
to the read-only ones of whitelist.SAFE_METHODS on the object's exact type. Every failure,
whatever Python raised, comes out as ExpressionFailed (an ordinary Exception).
"""
from __future__ import annotations

import ast

from . import bounded
from .whitelist import KEYWORDS, SAFE_METHODS, parse

_SUBSCRIPTABLE = (dict, list, tuple, str)


class ExpressionFailed(Exception):
    """An allowed expression that failed on this data (a missing name, a bound passed...);
    `kind` names the error for an incident."""

    def __init__(self, message: str, kind: str = "ExpressionError"):
        super().__init__(message)
        self.kind = kind


def evaluate(expression: str, names: dict, functions: dict):
    """The value of `expression` with `names` (the process data) and callable `functions`."""
    tree = parse(expression, frozenset(functions))
    try:
        return _Walker(names, functions).value(tree.body)
    except ExpressionFailed:
        raise
    except bounded.LimitExceeded as error:
        raise ExpressionFailed(str(error), "ExpressionLimitExceeded") from None
    except NameError as error:
        raise ExpressionFailed(str(error), "NameError") from None
    except RecursionError:
        raise ExpressionFailed("the expression is nested too deeply", "ExpressionLimitExceeded") from None
    except MemoryError:
        raise ExpressionFailed("the expression ran out of memory", "MemoryError") from None
    except BaseException as error:  # nothing but an ordinary Exception leaves the sandbox
        raise ExpressionFailed(f"{type(error).__name__}: {error}", type(error).__name__) from None


class _Walker:
    def __init__(self, names: dict, functions: dict):
        self.names, self.functions = names, functions

    def value(self, node):
        return getattr(self, type(node).__name__)(node)

    def Constant(self, node):
        return node.value

    def Name(self, node):
        if node.id in self.names:
            return self.names[node.id]
        if node.id in self.functions:
            raise ExpressionFailed(f"{node.id} is a function: call it, {node.id}(...)")
        raise NameError(f"name {node.id!r} is not defined")

    def BoolOp(self, node):
        result = None
        for operand in node.values:
            result = self.value(operand)
            if (not result) if isinstance(node.op, ast.And) else result:
                return result
        return result

    def UnaryOp(self, node):
        return bounded.UNARY[type(node.op).__name__](self.value(node.operand))

    def BinOp(self, node):
        return bounded.BINARY[type(node.op).__name__](self.value(node.left), self.value(node.right))

    def Compare(self, node):
        left = self.value(node.left)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.value(comparator)
            if not bounded.COMPARE[type(op).__name__](left, right):
                return False
            left = right
        return True

    def IfExp(self, node):
        return self.value(node.body) if self.value(node.test) else self.value(node.orelse)

    def Subscript(self, node):
        container = self.value(node.value)
        if not isinstance(container, _SUBSCRIPTABLE):
            raise ExpressionFailed(f"a {type(container).__name__} cannot be subscripted in an expression")
        return container[self.value(node.slice)]

    def Slice(self, node):
        return slice(*(self.value(part) if part is not None else None for part in (node.lower, node.upper, node.step)))

    def Call(self, node):
        args = [self.value(arg) for arg in node.args]
        kwargs = {k.arg: self.value(k.value) for k in node.keywords}
        if isinstance(node.func, ast.Name):
            return self.functions[node.func.id](*args, **kwargs)
        target, name = self.value(node.func.value), node.func.attr
        if name not in SAFE_METHODS.get(type(target), ()):
            raise ExpressionFailed(f"a {type(target).__name__} has no method {name}() an expression may call")
        if set(kwargs) - KEYWORDS.get(name, set()):
            raise ExpressionFailed(f"{name}() takes no keyword arguments here")
        return getattr(target, name)(*args, **kwargs)

    def List(self, node):
        return [self.value(item) for item in node.elts]

    def Tuple(self, node):
        return tuple(self.value(item) for item in node.elts)

    def Set(self, node):
        return {self.value(item) for item in node.elts}

    def Dict(self, node):
        return {self.value(k): self.value(v) for k, v in zip(node.keys, node.values)}

    def JoinedStr(self, node):
        text = "".join(str(self.value(part)) for part in node.values)
        if len(text) > bounded.MAX_LENGTH:
            raise bounded.LimitExceeded(f"the f-string would hold {len(text)} characters")
        return text

    def FormattedValue(self, node):
        value = self.value(node.value)
        value = {-1: lambda v: v, 115: bounded.FUNCTIONS["str"], 114: repr, 97: ascii}[node.conversion](value)
        spec = node.format_spec.values[0].value if node.format_spec is not None else ""
        if not spec and isinstance(value, (list, tuple, dict, set)):
            value = bounded.FUNCTIONS["str"](value)
        return format(value, spec)
