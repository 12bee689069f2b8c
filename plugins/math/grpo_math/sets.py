"""Canonical form of sets of reals: sorted, disjoint intervals and isolated points.

``[0, 1] \\cup [1, 2]`` and ``[0, 2]`` are the same set, so unions are merged before they are
compared. Merging needs the endpoints in order, so it only happens when every endpoint is a
real number (or an infinity); otherwise the parts are compared as written.
"""
from __future__ import annotations

import mpmath
import sympy

from . import numeric
from .algebra import is_expr
from .values import Interval, Seq, SetOp

MAX_PARTS = 50


def is_set_like(value) -> bool:
    return isinstance(value, (Interval, SetOp)) or (isinstance(value, Seq) and value.kind == "set")


def parts(value) -> list | None:
    """Intervals and points making up ``value``, merged when possible; None if not a set."""
    if isinstance(value, Interval):
        raw = [value]
    elif isinstance(value, Seq) and value.kind == "set":
        raw = list(value.items)
    elif isinstance(value, SetOp) and value.op == "union":
        raw = []
        for operand in value.parts:
            sub = parts(operand)
            if sub is None:
                return None
            raw.extend(sub)
    else:
        return None
    if len(raw) > MAX_PARTS:
        return None
    return _merged(raw)


def _key(endpoint):
    if endpoint == sympy.oo:
        return mpmath.inf
    if endpoint == -sympy.oo:
        return -mpmath.inf
    if not is_expr(endpoint) or endpoint.free_symbols:
        return None
    v = numeric.value(endpoint)
    return v.real if v is not None and numeric.is_real(v) else None


def _merged(raw: list) -> list:
    intervals, points = [], []
    for part in raw:
        if isinstance(part, Interval):
            lo, hi = _key(part.lo), _key(part.hi)
            if lo is None or hi is None:
                return raw
            if lo > hi or (lo == hi and (part.left_open or part.right_open)):
                return raw  # a reversed or empty interval is compared as written, not as {}
            if lo == hi:
                points.append(part.lo)
                continue
            intervals.append([lo, hi, part])
        else:
            if _key(part) is None:
                return raw
            points.append(part)
    intervals.sort(key=lambda item: (item[0], item[2].left_open))
    merged: list[list] = []
    for lo, hi, part in intervals:
        if merged:
            last = merged[-1]
            touching = lo < last[1] or (lo == last[1] and not (last[2].right_open and part.left_open))
            if touching:
                if hi > last[1] or (hi == last[1] and not part.right_open):
                    last[1] = hi
                    last[2] = Interval(last[2].lo, part.hi, last[2].left_open, part.right_open)
                continue
        merged.append([lo, hi, part])
    kept_points = []
    for point in points:
        where = _key(point)
        absorbed = False
        for item in merged:
            lo, hi, part = item
            if lo < where < hi or (where == lo and not part.left_open) or (
                    where == hi and not part.right_open):
                absorbed = True
            elif where == lo:
                item[2] = Interval(part.lo, part.hi, False, part.right_open)
                absorbed = True
            elif where == hi:
                item[2] = Interval(part.lo, part.hi, part.left_open, False)
                absorbed = True
            if absorbed:
                break
        if not absorbed:
            kept_points.append(point)
    return [item[2] for item in merged] + kept_points
