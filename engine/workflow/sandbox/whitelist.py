"""What a condition or timer expression may be written with, checked on its syntax tree.

An expression is parsed once (cached) and every node is held against a short list: literals,
names of the process data, comparisons, boolean and arithmetic operators, `in`, the
conditional expression, subscripts, f-strings, calls of a few pure functions and of a few
read-only methods. Nothing in that list loops, defines code, imports or climbs to an object's
class: comprehensions, lambdas, `:=`, `**` unpacking and every name or attribute starting
with `_` are refused, naming the construct and where it stands.
"""
from __future__ import annotations

import ast
import functools
import re

MAX_EXPRESSION_LENGTH = 2000

# pure functions an expression may call (see bounded.FUNCTIONS), and Duban's timer helpers
SAFE_FUNCTIONS = frozenset({"abs", "all", "any", "bool", "float", "int", "len", "list", "max", "min", "round",
                            "sorted", "str", "sum", "tuple"})
TIMER_FUNCTIONS = frozenset({"working_duration", "end_of_day"})
# read-only methods of the data's own types (checked again on the object's type when called)
SAFE_METHODS = {
    str: frozenset({"lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "count",
                    "find", "isdigit", "isnumeric", "isalpha", "isalnum", "isspace", "casefold", "title"}),
    dict: frozenset({"get", "keys", "values", "items"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
}
METHOD_NAMES = frozenset().union(*SAFE_METHODS.values())
KEYWORDS = {"sorted": {"reverse"}, "round": {"ndigits"}, "int": {"base"}, "split": {"sep", "maxsplit"}}

_NAMES = {
    ast.ListComp: "a list comprehension", ast.SetComp: "a set comprehension", ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression", ast.Lambda: "a lambda", ast.NamedExpr: "an assignment (:=)",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield from", ast.Starred: "unpacking with *",
    ast.MatMult: "the @ operator",
}
_ALLOWED = (ast.Expression, ast.Constant, ast.Name, ast.Load, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not,
            ast.USub, ast.UAdd, ast.Invert, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod,
            ast.Pow, ast.LShift, ast.RShift, ast.BitAnd, ast.BitOr, ast.BitXor, ast.Compare, ast.Eq, ast.NotEq,
            ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot, ast.IfExp, ast.Subscript,
            ast.Slice, ast.Attribute, ast.Call, ast.keyword, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.JoinedStr,
            ast.FormattedValue)
_FORMAT_SPEC = re.compile(r"^[<>^=]?[+\- ]?#?0?\d{0,3}[,_]?(\.\d{1,3})?[bcdeEfFgGnosxX%]?$")


class ExpressionRefused(ValueError):
    """An expression written with something outside the list; the message names it."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        where = f" (line {line}, column {column})" if line else ""
        super().__init__(message + where)
        self.line, self.column = line, column


@functools.lru_cache(maxsize=4096)
def parse(expression: str, functions: frozenset = SAFE_FUNCTIONS | TIMER_FUNCTIONS) -> ast.Expression:
    """The checked syntax tree of `expression`; ExpressionRefused names what is not allowed."""
    if not isinstance(expression, str):
        raise ExpressionRefused(f"an expression is text, not {type(expression).__name__}")
    text = expression.strip()
    if not text:
        raise ExpressionRefused("the expression is empty")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionRefused(f"the expression is {len(text)} characters long; at most {MAX_EXPRESSION_LENGTH}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise ExpressionRefused(f"not a valid expression: {error.msg}", error.lineno, error.offset) from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise ExpressionRefused(f"not a valid expression: {error}") from None
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):  # code-making constructs first, by their own name
        if type(node) in _NAMES:
            _refuse(node, f"{_NAMES[type(node)]} is not allowed in an expression")
    for node in _innermost_first(tree):
        _check(node, functions)
        if isinstance(node, ast.Attribute) and id(node) not in called:
            _refuse(node, f"the attribute .{node.attr} may only be called as a method")
    return tree


def _innermost_first(tree):
    """The nodes, children before their parent: a refusal names the innermost construct
    (`__import__` in `__import__('os').system(...)`), where the trouble starts."""
    stack, done = [(tree, False)], []
    while stack:
        node, expanded = stack.pop()
        if expanded:
            done.append(node)
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(list(ast.iter_child_nodes(node))))
    return done


def _refuse(node, message: str):
    raise ExpressionRefused(message, getattr(node, "lineno", None), getattr(node, "col_offset", -1) + 1)


def _check(node, functions: frozenset) -> None:
    if type(node) in _NAMES:
        _refuse(node, f"{_NAMES[type(node)]} is not allowed in an expression")
    if not isinstance(node, _ALLOWED):
        _refuse(node, f"{type(node).__name__} is not allowed in an expression")
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            _refuse(node, f"the name {node.id!r} is not allowed (names may not start with _)")
    elif isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            _refuse(node, f"the attribute .{node.attr} is not allowed")
        if node.attr not in METHOD_NAMES:
            _refuse(node, f"the attribute .{node.attr} is not allowed; methods an expression may call: "
                          f"{', '.join(sorted(METHOD_NAMES))}")
    elif isinstance(node, ast.Call):
        _check_call(node, functions)
    elif isinstance(node, ast.Dict) and any(key is None for key in node.keys):
        _refuse(node, "unpacking with ** is not allowed in an expression")
    elif isinstance(node, ast.Constant) and not isinstance(node.value, (str, int, float, bool, type(None))):
        _refuse(node, f"a {type(node.value).__name__} literal is not allowed in an expression")
    elif isinstance(node, ast.FormattedValue) and node.format_spec is not None:
        spec = node.format_spec
        text = spec.values[0].value if (len(spec.values) == 1 and isinstance(spec.values[0], ast.Constant)) else None
        if not isinstance(text, str) or not _FORMAT_SPEC.match(text):
            _refuse(node, "an f-string format may only be a plain width (at most 999) and precision")


def _check_call(node: ast.Call, functions: frozenset) -> None:
    func = node.func
    if isinstance(func, ast.Name):
        name = func.id
        if name not in functions:
            _refuse(node, f"calling {name}() is not allowed; functions an expression may call: "
                          f"{', '.join(sorted(functions))}")
    elif isinstance(func, ast.Attribute):
        name = func.attr  # the attribute itself is checked on its own node
    else:
        _refuse(node, "only a named function or a method of the data may be called")
    allowed = KEYWORDS.get(name, set())
    for keyword in node.keywords:
        if keyword.arg is None or keyword.arg not in allowed:
            _refuse(node, f"the keyword argument {keyword.arg or '**'} is not allowed in {name}()")

