"""Operators and functions whose cost is bounded before they run.

An expression cannot loop, but one C call can still take minutes or gigabytes: `10**10**8`,
`'x' * 10**10`, a product of two huge integers, `'%999999999d' % 1`. Each operator here checks
the size of its result from the size of its operands *before* computing it: integers stay
under MAX_INT_BITS, strings and lists under MAX_LENGTH items, and only flat lists may be
repeated (so that no expression builds a structure that shares one list a million times).
"""
from __future__ import annotations

import operator

MAX_INT_BITS = 14_300           # about 4,300 decimal digits, Python's own limit for int <-> str
MAX_LENGTH = 1_000_000          # characters of a string, items of a list built by an expression
MAX_SORTED = 100_000            # items sorted() may be given

_SEQUENCES = (str, bytes, list, tuple)
_SCALARS = (str, bytes, int, float, bool, type(None))


class LimitExceeded(ValueError):
    """An operation whose result would pass one of the bounds above."""


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(value):
    if _int(value) and value.bit_length() > MAX_INT_BITS:
        raise LimitExceeded(f"an integer of more than {MAX_INT_BITS} bits is not allowed in an expression")
    return value


def _check_length(length: int, what: str) -> None:
    if length > MAX_LENGTH:
        raise LimitExceeded(f"{what} would hold {length} items; at most {MAX_LENGTH}")


def _add(a, b):
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        _check_length(len(a) + len(b), "the joined sequence")
    return _check_int(a + b)


def _repeat(sequence, times):
    if isinstance(sequence, (list, tuple)) and not all(isinstance(item, _SCALARS) for item in sequence):
        raise LimitExceeded("only a list of plain values (text, numbers) may be repeated with *")
    _check_length(len(sequence) * max(int(times), 0), "the repeated sequence")
    return sequence * times


def _mul(a, b):
    if isinstance(a, _SEQUENCES) and isinstance(b, int):
        return _repeat(a, b)
    if isinstance(b, _SEQUENCES) and isinstance(a, int):
        return _repeat(b, a)
    if _int(a) and _int(b) and a.bit_length() + b.bit_length() > MAX_INT_BITS:
        raise LimitExceeded(f"the product would pass {MAX_INT_BITS} bits")
    return a * b


def _pow(a, b):
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        if (abs(a).bit_length() - 1) * b > MAX_INT_BITS:
            raise LimitExceeded(f"the power would pass {MAX_INT_BITS} bits")
    return _check_int(a ** b)


def _lshift(a, b):
    if _int(a) and _int(b) and b > 0 and a.bit_length() + b > MAX_INT_BITS:
        raise LimitExceeded(f"the shifted integer would pass {MAX_INT_BITS} bits")
    return a << b


def _mod(a, b):
    if isinstance(a, (str, bytes)):
        raise LimitExceeded("%-formatting a string is not allowed in an expression")
    return a % b


BINARY = {"Add": _add, "Sub": operator.sub, "Mult": _mul, "Div": operator.truediv, "FloorDiv": operator.floordiv,
          "Mod": _mod, "Pow": _pow, "LShift": _lshift, "RShift": operator.rshift, "BitAnd": operator.and_,
          "BitOr": operator.or_, "BitXor": operator.xor}
UNARY = {"Not": operator.not_, "USub": operator.neg, "UAdd": operator.pos, "Invert": operator.invert}
COMPARE = {"Eq": operator.eq, "NotEq": operator.ne, "Lt": operator.lt, "LtE": operator.le, "Gt": operator.gt,
           "GtE": operator.ge, "In": lambda a, b: a in b, "NotIn": lambda a, b: a not in b,
           "Is": operator.is_, "IsNot": operator.is_not}


def _sorted(iterable, reverse=False):
    items = list(iterable)
    if len(items) > MAX_SORTED:
        raise LimitExceeded(f"sorted() was given {len(items)} items; at most {MAX_SORTED}")
    return sorted(items, reverse=bool(reverse))


def _sum(iterable, start=0):
    if not isinstance(start, (int, float)):
        raise LimitExceeded("sum() adds numbers only")
    total = start
    for item in iterable:
        if not isinstance(item, (int, float)):
            raise LimitExceeded(f"sum() adds numbers only, not {type(item).__name__}")
        total = _check_int(total + item)
    return total


def _int_of(value, base=None):
    return _check_int(int(value) if base is None else int(value, base))


def _round(number, ndigits=None):
    if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > 100):
        raise LimitExceeded("round() takes at most 100 digits")
    return round(number) if ndigits is None else round(number, ndigits)


def _str(value=""):
    if isinstance(value, (list, tuple, dict, set)) and _flat_size(value) > MAX_LENGTH:
        raise LimitExceeded(f"str() of a structure of more than {MAX_LENGTH} items")
    return str(value)


def _flat_size(value, budget: int = MAX_LENGTH + 1) -> int:
    """Items and characters in `value`, counted up to `budget`."""
    seen, stack = 0, [value]
    while stack and seen <= budget:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set)):
            stack.extend(item)
        seen += len(item) if isinstance(item, (str, bytes)) else 1
    return seen


def _sequence(kind):
    def build(value=()):
        if isinstance(value, (str, list, tuple, dict)):
            _check_length(len(value), f"{kind.__name__}()")
        return kind(value)
    return build


FUNCTIONS = {"abs": abs, "all": all, "any": any, "bool": bool, "float": float, "int": _int_of, "len": len,
             "list": _sequence(list), "max": max, "min": min, "round": _round, "sorted": _sorted, "str": _str,
             "sum": _sum, "tuple": _sequence(tuple)}
