"""Which answers of a form field a gateway's conditions cover, read from the conditions'
syntax (`decision == "return"`, `decision in ("a", "b")`, `decision != "x"`, `approved`,
`not approved`, joined by `or`), and which answers the form offers."""
from __future__ import annotations

import ast

from ..workflow import forms as task_forms

_UNKNOWN = object()


def covered_answers(conditions: list[str]) -> tuple[str | None, "Covered"]:
    """(the one field every condition tests, the answers they cover together), or (None, ∅)
    when a condition is anything else (then nothing is claimed)."""
    field, covered = None, Covered()
    for text in conditions:
        try:
            tree = ast.parse(text.strip(), mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None, Covered()
        tested = _answers(tree)
        if tested is None or field not in (None, tested[0]):
            return None, Covered()
        field, answers, negated = tested
        if negated:
            covered.excluded.append(answers)
        else:
            covered.listed |= answers
    return field, covered


class Covered:
    """The answers covered: the listed ones, and with `!=` every answer but the excluded."""

    def __init__(self):
        self.listed: set = set()
        self.excluded: list[set] = []

    def __contains__(self, value) -> bool:
        return value in self.listed or any(value not in excluded for excluded in self.excluded)


def _answers(node) -> tuple[str, set, bool] | None:
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        parts = [_answers(value) for value in node.values]
        if any(p is None or p[2] for p in parts) or len({p[0] for p in parts}) != 1:
            return None
        return parts[0][0], set().union(*(p[1] for p in parts)), False
    if isinstance(node, ast.Name):
        return node.id, {True}, False
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) and isinstance(node.operand, ast.Name):
        return node.operand.id, {False}, False
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
        return None
    left, op, right = node.left, node.ops[0], node.comparators[0]
    if isinstance(right, ast.Name) and isinstance(op, (ast.Eq, ast.NotEq)):
        left, right = right, left
    if not isinstance(left, ast.Name):
        return None
    if isinstance(op, (ast.Eq, ast.NotEq, ast.Is, ast.IsNot)):
        values = {_constant(right)}
    elif isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, (ast.Tuple, ast.List, ast.Set)):
        values = {_constant(e) for e in right.elts}
    else:
        return None
    if _UNKNOWN in values:
        return None
    return left.id, values, isinstance(op, (ast.NotEq, ast.IsNot, ast.NotIn))


def _constant(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, bool)) and node.value is not None:
        return node.value
    return _UNKNOWN


def options_of(field: str, forms: dict[str, dict], setters: list[str]) -> tuple[list, list[str]]:
    """The answers the forms that set `field` offer (a radio's or select's listed values, a
    checkbox's True and False), and those tasks; nothing when any of them lets the answer be
    free (a text field, values from the data)."""
    options, where = [], []
    for task_id in setters:
        component = next((c for c in task_forms.inputs(forms.get(task_id, {})) if c.get("key") == field), None)
        if component is None:
            return [], []
        kind = component.get("type")
        if kind in ("radio", "select") and not component.get("valuesKey") and component.get("values"):
            offered = [v.get("value") for v in component["values"] if isinstance(v, dict)]
        elif kind == "checkbox":
            offered = [True, False]
        else:
            return [], []
        options += [v for v in offered if v not in options]
        where.append(task_id)
    return options, where
