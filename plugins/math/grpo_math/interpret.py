"""The readings of a parsed answer: the values it may fairly be taken to mean.

``x = 3`` means the relation and also the value 3; ``-793 < a < 10`` also means the interval
(-793, 10); ``20\\%`` also means 0.2; ``90^\\circ`` also means pi/2. Two answers are equivalent
when some reading of one equals some reading of the other, so each rule here must be a reading
a grader would accept, never a loose guess: ``2x + z = 1`` does not read as ``1`` because its
left side is not a name.
"""
from __future__ import annotations

import re

import sympy
from sympy.core.function import AppliedUndef

from . import numeric
from .algebra import is_expr
from .values import Clock, Interval, Multi, Parsed, Ratio, Rel, Seq, SetOp, Text, Word

MAX_READINGS = 8
_INEQUALITIES = frozenset(("<", "<=", ">", ">="))
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
_BASED_NUMERAL = re.compile(r"(\d+)_(\d+)")


def readings(parsed: Parsed) -> list:
    value = finish(parsed.value)
    found = [settle(reading) for reading in _readings(value)]
    extra = []
    for reading in found:
        if not is_expr(reading):
            continue
        if parsed.percent:
            extra.append(reading / 100)
        if parsed.degrees:
            extra.append(reading * sympy.pi / 180)
        if isinstance(reading, sympy.Symbol):
            numeral = _BASED_NUMERAL.fullmatch(reading.name)
            if numeral:  # 204_5 also reads as the digits a student might write alone
                extra.append(sympy.Integer(numeral.group(1)))
    if parsed.choice is not None:
        extra.append(Text(parsed.choice))
    if parsed.words is not None:
        extra.append(Text(normalize_text(parsed.words)))
    unique = []
    for reading in found + extra:
        if reading not in unique:
            unique.append(reading)
    return unique[:MAX_READINGS]


def finish(value):
    """Turn words into text, recursively (\\pm alternatives stay until ``settle``)."""
    if isinstance(value, Word):
        return Text(normalize_text(value.text))
    if isinstance(value, Multi):
        return Multi(tuple(finish(v) for v in value.options))
    if isinstance(value, Seq):
        return Seq(value.kind, tuple(finish(item) for item in value.items))
    if isinstance(value, Rel):
        return Rel(value.ops, tuple(finish(s) for s in value.segs))
    if isinstance(value, Ratio):
        return Ratio(tuple(finish(p) for p in value.parts))
    return value


def settle(value):
    """\\pm alternatives become elements: of the enclosing list, or of a set of their own."""
    if isinstance(value, Multi):
        return Seq("set", tuple(settle(v) for v in value.options))
    if isinstance(value, Seq):
        items = []
        for item in value.items:
            if isinstance(item, Multi) and value.kind != "tuple":
                items.extend(settle(v) for v in item.options)
            else:
                items.append(settle(item))
        return Seq(value.kind, tuple(items))
    if isinstance(value, Rel):
        return Rel(value.ops, tuple(settle(s) for s in value.segs))
    return value


def normalize_text(text: str) -> str:
    text = " ".join(text.split()).strip(" .,:;")
    letter = re.fullmatch(r"\(?([A-Za-z])\)?", text)
    if letter:  # a choice letter keeps its case: (B), \text{B} and B agree; b is a variable
        return letter.group(1)
    return text.lower()


def _readings(value) -> list:
    if isinstance(value, Rel):
        return relation_readings(value)
    if isinstance(value, Seq) and value.kind in ("list", "set"):
        mapped = _assigned_values(value)
        found = [mapped, value] if mapped != value else [value]
        union = _union_of_conditions(value)
        return found + [union] if union is not None else found
    return [value]


def _union_of_conditions(seq: Seq):
    """``x < 2 or x > 3``: alternatives on one unknown describe the union of their sets."""
    if len(seq.items) < 2 or not all(isinstance(item, Rel) for item in seq.items):
        return None
    parts = []
    for item in seq.items:
        if item.ops == ("=",) and is_name(item.segs[0]) and is_constant(item.segs[1]):
            parts.append(Seq("set", (item.segs[1],)))
            continue
        described = relation_to_set(item)
        if described is None:
            return None
        parts.append(described)
    return SetOp("union", tuple(parts))


def relation_readings(rel: Rel) -> list:
    ops, segs = rel.ops, rel.segs
    if all(op in ("=", "~") for op in ops):
        if ops == ("=",):
            left, right = segs
            if isinstance(left, Ratio) and isinstance(right, Clock) and right.ratio is not None:
                right = right.ratio  # V_1 : V_2 = 11:21 is a ratio, not a time of day
                rel = Rel(ops, (left, right))
            found = [rel]
            if is_name(left):
                found.append(right)
            elif is_name(right):
                found.append(left)
            elif is_constant(left) and is_constant(right):
                found.append(right)  # "1/2 = 10/9" is a computation ending in its answer
            return found
        # x = 5+5+1 = 11, x = 1/3 \approx 0.33: the value after the last "=" is the answer;
        # \frac{\sqrt3}{3} \approx 0.577: the exact value, then the rounding it was given with
        equals = [i for i, op in enumerate(ops) if op == "="]
        if equals:
            value = segs[equals[-1] + 1]
        else:
            value = segs[1] if is_name(segs[0]) else segs[0]  # x \approx 11 names its value
        found = [value]
        if is_name(segs[0]) and value is not segs[0]:
            found.append(Rel(("=",), (segs[0], value)))
        if ops[-1] == "~" and segs[-1] is not value and rounds_to(value, segs[-1]):
            found.append(segs[-1])
        return found
    if ops == ("in",):
        return [segs[1]] if is_name(segs[0]) else [rel]
    if all(op in _INEQUALITIES for op in ops) or ops == ("!=",):
        as_set = relation_to_set(rel)
        return [rel, as_set] if as_set is not None else [rel]
    return [rel]


def rounds_to(exact, approximation) -> bool:
    """Whether ``approximation`` is ``exact`` rounded (or cut) at its last written digit:
    ``\\frac{\\sqrt3}{3} \\approx 0.577`` is, so 0.577 is also an answer; in
    ``1/3 \\approx 11`` the exact part alone is. The unit of an integer is its last non-zero
    digit (``\\approx 120000`` is rounded to ten thousands)."""
    if not (is_constant(exact) and is_expr(approximation) and approximation.is_Rational):
        return False
    p, q = int(approximation.p), int(approximation.q)
    if q == 1:
        unit = sympy.Integer(1)
        while p % (unit * 10) == 0 and unit * 10 <= abs(p):
            unit *= 10
    else:
        places = next((k for k in range(1, 60) if 10 ** k % q == 0), None)
        if places is None:
            return False  # 1/3 written as an approximation: not a decimal rounding
        unit = sympy.Rational(1, 10 ** places)
    value = numeric.value(exact - approximation)
    return value is not None and numeric.is_real(value) and abs(value.real) <= unit


def _assigned_values(seq: Seq) -> Seq:
    """``a=4, -8, -10`` -> 4, -8, -10; ``p=5,q=2; p=7,q=2`` -> (5, 2), (7, 2)."""
    items = []
    for item in seq.items:
        if isinstance(item, Rel):
            found = relation_readings(item)
            items.append(found[1] if len(found) > 1 and isinstance(found[0], Rel)
                         and item.ops == ("=",) else found[0])
        elif isinstance(item, Seq) and item.kind == "list":
            items.append(_assigned_values(item))
        else:
            items.append(item)
    return Seq(seq.kind, tuple(items))


def is_constant(value) -> bool:
    return is_expr(value) and value.is_number


def is_name(value) -> bool:
    """A name a value is given to: ``x``, ``a_3``, ``f(x)``, ``|AB|``, ``NO/BO``, ``(p, q)``,
    ``V_1 : V_2``, a word. Sums and numeric coefficients are not names (``2x + z`` is not)."""
    if isinstance(value, (Word, Text)):
        return True
    if isinstance(value, (Seq, Ratio)):
        items = value.items if isinstance(value, Seq) else value.parts
        return bool(items) and all(is_name(item) for item in items)
    if not is_expr(value):
        return False
    if isinstance(value, (sympy.Symbol, AppliedUndef)):
        return True
    if isinstance(value, sympy.Abs):
        return is_name(value.args[0])
    if isinstance(value, sympy.Pow):
        return value.exp == -1 and is_name(value.base)
    if isinstance(value, sympy.Mul):
        return all(is_name(factor) for factor in value.args)
    return False


def relation_to_set(rel: Rel):
    """The set an inequality in one unknown describes, or None."""
    ops, segs = list(rel.ops), list(rel.segs)
    if not all(is_expr(s) for s in segs):
        return None
    if ops == ["!="]:
        solved = _solve_linear(segs[0] - segs[1])
        if solved is None:
            return None
        point = solved[1]
        return SetOp("union", (Interval(-sympy.oo, point, True, True),
                               Interval(point, sympy.oo, True, True)))
    if len(segs) == 2:
        left, right = segs
        if is_constant(left) and not is_constant(right):
            left, right, ops = right, left, [_FLIP[ops[0]]]
        op = ops[0]
        if op in (">", ">="):
            return _between(left, right, sympy.oo, op == ">", True)
        return _between(left, -sympy.oo, right, True, op == "<")
    if len(segs) == 3 and is_constant(segs[0]) and is_constant(segs[2]):
        if all(op in ("<", "<=") for op in ops):
            return _between(segs[1], segs[0], segs[2], ops[0] == "<", ops[1] == "<")
        if all(op in (">", ">=") for op in ops):
            return _between(segs[1], segs[2], segs[0], ops[1] == ">", ops[0] == ">")
    return None


def _between(expr, lo, hi, left_open: bool, right_open: bool):
    """The set of the unknown in ``lo < expr < hi`` for a name, a linear expression or |...|."""
    if not (is_constant(lo) and is_constant(hi)) or lo.is_extended_real is False \
            or hi.is_extended_real is False:
        return None
    if isinstance(expr, sympy.Abs):
        inner = expr.args[0]
        if lo == -sympy.oo or (lo.is_number and lo < 0):
            return _between(inner, -hi, hi, right_open, right_open)
        if hi == sympy.oo:  # |u| > lo: two rays
            negative = _between(inner, -sympy.oo, -lo, True, left_open)
            positive = _between(inner, lo, sympy.oo, left_open, True)
            return SetOp("union", (negative, positive)) if negative and positive else None
        negative = _between(inner, -hi, -lo, right_open, left_open)
        positive = _between(inner, lo, hi, left_open, right_open)
        return SetOp("union", (negative, positive)) if negative and positive else None
    if is_name(expr):
        return Interval(lo, hi, left_open, right_open)
    solved = _solve_linear(expr)
    if solved is None:
        return None
    slope, root = solved  # expr = slope * (x - root)
    low, high = lo / slope + root, hi / slope + root
    if slope.is_negative:
        return Interval(high, low, right_open, left_open)
    return Interval(low, high, left_open, right_open)


def _solve_linear(expr):
    """(slope, root) when ``expr`` is ``slope*(x - root)`` in its only unknown ``x``."""
    symbols = expr.free_symbols
    if len(symbols) != 1:
        return None
    (x,) = symbols
    slope = sympy.expand(expr.diff(x))
    if slope.free_symbols or slope == 0 or not slope.is_real:
        return None
    intercept = sympy.expand(expr - slope * x)
    if intercept.free_symbols:
        return None
    return slope, -intercept / slope
