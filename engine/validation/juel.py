"""Conditions written for Camunda (JUEL: `${decision == 'return'}`, `#{amount gt 100}`) said as
the expressions Duban evaluates (`decision == "return"`, `amount > 100`).

A small tokenizer and a precedence parser rewrite the text; nothing is evaluated. What it
knows: == != < > <= >= eq ne lt gt le ge, && || ! and or not, empty, + - * / % div mod,
true false null, numbers, quoted text, names with dots (`order.amount` → `order["amount"]`)
and parentheses. Anything else (method calls, functions, the ?: operator, brackets) is
refused: the condition must be rewritten by hand.

Camunda 8 writes FEEL (`=decision = "return"`, `=not(approved)`, `=amount > 100 and kind = "a"`):
the same parser reads its simple conditions, with `=` for equality and `not(…)`."""
from __future__ import annotations

import json
import keyword
import re

from ..workflow.sandbox import ExpressionRefused, check_expression
from .findings import Finding

_WRAPPED = re.compile(r"^\s*[$#]\{(?P<body>.*)\}\s*$", re.DOTALL)
_TOKEN = re.compile(r"""\s*(?:
    (?P<number>\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[^\W\d]\w*(?:\s*\.\s*[^\W\d]\w*)*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()+\-*/%=])
)""", re.VERBOSE | re.DOTALL)
_FEEL_WORDS = {"and": "&&", "or": "||", "not": "!"}
_FEEL_REFUSED = {"&&", "||", "!", "==", "%"}
_WORDS = {"and": "&&", "or": "||", "not": "!", "eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=",
          "ge": ">=", "div": "/", "mod": "%"}
_LITERALS = {"true": "True", "false": "False", "null": "None"}
_REFUSED_WORDS = {"instanceof", "empty"}  # empty is handled as an operator, not a name
# Python precedence of what is written: or < and < not < comparison < + - < * / % < unary -
_OR, _AND, _NOT, _CMP, _ADD, _MUL, _NEG, _ATOM = range(1, 9)
_LEVELS = [(_OR, ("||",)), (_AND, ("&&",)), (_CMP, ("==", "!=")), (_CMP, ("<", ">", "<=", ">=")),
           (_ADD, ("+", "-")), (_MUL, ("*", "/", "%"))]
_PY_OP = {"||": "or", "&&": "and"}


MAX_LENGTH, MAX_DEPTH = 2000, 40


class NotTranslatable(ValueError):
    """The JUEL text uses something the translation does not know; the message says what."""


def is_juel(text: str) -> bool:
    return bool(_WRAPPED.match(text or ""))


def is_feel(text: str) -> bool:
    """A Camunda 8 expression starts with `=` (which no Duban expression can)."""
    return (text or "").strip().startswith("=")


def translate(text: str) -> str:
    """The Duban expression for a JUEL condition `${…}` or `#{…}`, or a FEEL one `=…`;
    NotTranslatable otherwise."""
    feel = is_feel(text)
    found = _WRAPPED.match(text or "")
    if not found and not feel:
        raise NotTranslatable("not a single ${…} expression")
    body = text.strip()[1:] if feel else found.group("body")
    if len(body) > MAX_LENGTH:
        raise NotTranslatable(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tokens = _tokens(body, feel)
        if not tokens:
            raise NotTranslatable("the expression is empty")
        parser = _Parser(tokens)
        python, _ = parser.expression(0)
    except (LookupError, RecursionError, ValueError) as error:
        if isinstance(error, NotTranslatable):
            raise
        raise NotTranslatable("the expression is not understood") from None
    if parser.position != len(tokens):
        raise NotTranslatable(f"unexpected {tokens[parser.position][1]!r}")
    return python


def finding(owner, element) -> Finding:
    """A Camunda (JUEL) condition, with its translation when there is a safe one."""
    full = element.text.strip()
    text = full if len(full) <= 200 else full[:200] + "…"
    if is_feel(full):
        return _feel_finding(owner, element, full, text)
    try:
        fix = translate(full)
        check_expression(fix)
    except (NotTranslatable, ExpressionRefused) as error:
        return Finding(owner.get("id") or "document", element.sourceline,
                       f"{text} is a Camunda (JUEL) expression and cannot be translated ({error}): rewrite it by hand "
                       "as a Duban expression (decision == \"return\")", code="juel-condition",
                       message_zh=f"{text} 是 Camunda（JUEL）表达式，其中有无法自动转换的写法（方法或函数调用、?: 运算符、下标等）：请手工改写为督办表达式（如 decision == \"return\"）")
    return Finding(owner.get("id") or "document", element.sourceline,
                   f"{text} is a Camunda (JUEL) expression; in Duban it reads {fix}", code="juel-condition", fix=fix,
                   message_zh=f"{text} 是 Camunda（JUEL）表达式；在督办中应写作 {fix}")


def _feel_finding(owner, element, full: str, text: str) -> Finding:
    try:
        fix = translate(full)
        check_expression(fix)
    except (NotTranslatable, ExpressionRefused) as error:
        return Finding(owner.get("id") or "document", element.sourceline,
                       f"{text} is a Camunda 8 (FEEL) expression and cannot be translated ({error}): rewrite it by hand "
                       "as a Duban expression (decision == \"return\")", code="feel-condition",
                       message_zh=f"{text} 是 Camunda 8（FEEL）表达式，其中有无法自动转换的写法：请手工改写为督办表达式（如 decision == \"return\"）")
    return Finding(owner.get("id") or "document", element.sourceline,
                   f"{text} is a Camunda 8 (FEEL) expression; in Duban it reads {fix}", code="feel-condition", fix=fix,
                   message_zh=f"{text} 是 Camunda 8（FEEL）表达式；在督办中应写作 {fix}")


def _tokens(body: str, feel: bool = False) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(body):
        if not body[position:].strip():
            break
        found = _TOKEN.match(body, position)
        if not found or found.end() == position:
            rest = body[position:].strip()
            raise NotTranslatable(f"{rest[:20]!r} is not understood")
        position = found.end()
        kind = found.lastgroup
        value = found.group(kind)
        if kind == "op" and (feel and value in _FEEL_REFUSED or not feel and value == "="):
            raise NotTranslatable(f"{value!r} is not understood")
        if kind == "op" and value == "=":
            value = "=="
        if kind == "name":
            parts = [p.strip() for p in value.split(".")]
            words = _FEEL_WORDS if feel else _WORDS
            if len(parts) == 1 and parts[0] in words:
                kind, value = "op", words[parts[0]]
            elif feel and len(parts) == 1 and parts[0] in {*_WORDS, "empty"}:
                value = parts[0]                 # eq, lt, div … are plain names in FEEL
            elif len(parts) == 1 and parts[0] in _LITERALS:
                kind, value = "literal", _LITERALS[parts[0]]
            elif len(parts) == 1 and parts[0] == "empty":
                kind, value = "op", "empty"
            elif any(p in _WORDS or p in _LITERALS or p in _REFUSED_WORDS or keyword.iskeyword(p)
                     or p.startswith("_") for p in parts):
                raise NotTranslatable(f"{value!r} cannot be a name in Duban's expressions")
            else:
                value = parts[0] + "".join(f"[{json.dumps(p, ensure_ascii=False)}]" for p in parts[1:])
        elif kind == "string":
            value = json.dumps(_unquote(value[1:-1]), ensure_ascii=False)
        tokens.append((kind, value))
    return tokens


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


class _Parser:
    def __init__(self, tokens):
        self.tokens, self.position, self.depth = tokens, 0, 0

    def peek(self):
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def take(self):
        token = self.peek()
        self.position += 1
        return token

    def expression(self, level: int) -> tuple[str, int]:
        """(Python text, its precedence) of the binary level `level` and above."""
        if level == len(_LEVELS):
            return self.unary()
        precedence, operators = _LEVELS[level]
        left, left_prec = self.expression(level + 1)
        while self.peek()[0] == "op" and self.peek()[1] in operators:
            operator = self.take()[1]
            right, right_prec = self.expression(level + 1)
            left = (f"{_wrap(left, left_prec, precedence, chained=precedence == _CMP)} {_PY_OP.get(operator, operator)} "
                    f"{_wrap(right, right_prec, precedence, chained=True)}")
            left_prec = precedence
        return left, left_prec

    def unary(self) -> tuple[str, int]:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise NotTranslatable(f"nested more than {MAX_DEPTH} deep")
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> tuple[str, int]:
        kind, value = self.peek()
        if kind == "op" and value == "!":
            self.take()
            operand, prec = self.unary()
            return f"not {_wrap(operand, prec, _NOT)}", _NOT
        if kind == "op" and value == "-":
            self.take()
            operand, prec = self.unary()
            return f"-{_wrap(operand, prec, _NEG, chained=True)}", _NEG
        if kind == "op" and value == "empty":
            self.take()
            operand, prec = self.unary()
            return f'{_wrap(operand, prec, _CMP, chained=True)} in (None, "", [], {{}})', _CMP
        return self.primary()

    def primary(self) -> tuple[str, int]:
        kind, value = self.take()
        if kind in ("number", "string", "literal"):
            return value, _ATOM
        if kind == "name":
            if self.peek() == ("op", "("):
                raise NotTranslatable("a method or function call has no counterpart")
            return value, _ATOM
        if (kind, value) == ("op", "("):
            inner, precedence = self.expression(0)
            if self.take() != ("op", ")"):
                raise NotTranslatable("a parenthesis is not closed")
            return inner, precedence
        if kind == "end":
            raise NotTranslatable("the expression ends too early")
        raise NotTranslatable(f"unexpected {value!r}")


def _wrap(text: str, precedence: int, parent: int, chained: bool = False) -> str:
    """Parentheses where Python would read it otherwise (comparisons chain in Python)."""
    if precedence < parent or (chained and precedence == parent and precedence != _ATOM):
        return f"({text})"
    return text
