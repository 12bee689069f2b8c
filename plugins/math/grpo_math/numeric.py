"""Numeric evaluation used by the comparisons: 30-digit complex values via mpmath.

Probabilistic identity testing: two expressions that agree at several generic points are taken
to be equal. The points are fixed (results are reproducible); three are positive, where
``\\sqrt{x^2}``-style identities hold, and one is negative, which tells ``|x|`` from ``x``.
"""
from __future__ import annotations

import random

import mpmath
import sympy

DIGITS = 30
_BAD = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)
POINTS = 4
NEGATIVE_POINT = 3        # the last point has negative coordinates


def value(expr: sympy.Expr, subs: dict | None = None):
    """``expr`` as an mpmath complex number, or None when it does not evaluate to one."""
    try:
        result = expr.evalf(DIGITS, subs=subs) if subs else expr.evalf(DIGITS)
        if not result.is_number or result.has(*_BAD):
            return None
        real, imag = result.as_real_imag()
        with mpmath.workdps(DIGITS):
            return mpmath.mpc(mpmath.mpf(real), mpmath.mpf(imag))
    except (TypeError, ValueError, ArithmeticError, AttributeError, RecursionError):
        return None


def points(symbols) -> list[dict]:
    """Substitutions giving each symbol its own generic value, one dict per point.

    Values are drawn independently per symbol and per point (from a fixed seed), so that no
    linear relation between symbols holds at every point by construction.
    """
    ordered = sorted(symbols, key=lambda s: s.name)
    result = []
    for index in range(POINTS):
        generator = random.Random(7919 * (index + 1))
        sign = -1 if index == NEGATIVE_POINT else 1
        result.append({s: sympy.Float(sign * generator.uniform(0.3, 2.9), DIGITS) for s in ordered})
    return result


def close(a, b, rel_tol, abs_floor) -> bool:
    with mpmath.workdps(DIGITS):
        scale = max(abs(a), abs(b))
        return abs(a - b) <= rel_tol * scale + abs_floor


def is_real(v) -> bool:
    with mpmath.workdps(DIGITS):
        return abs(v.imag) <= mpmath.mpf("1e-20") * max(abs(v), 1)


def size(expr: sympy.Expr, limit: int = 400) -> int:
    """Number of nodes of ``expr``, counting stops at ``limit``."""
    count = 0
    for _ in sympy.preorder_traversal(expr):
        count += 1
        if count >= limit:
            break
    return count


def safe_to_expand(expr: sympy.Expr) -> bool:
    """Expanding ``(x+1)(x+2)...(x+99)`` or ``(a+b+c)^{30}`` would take a long time: only
    expressions that expand into a few hundred terms are expanded."""
    return size(expr) < 400 and _expanded_terms(expr) <= MAX_EXPANDED_TERMS


MAX_EXPANDED_TERMS = 500


def _expanded_terms(expr) -> float:
    """An upper estimate of the number of terms ``expand`` would produce."""
    if isinstance(expr, sympy.Add):
        return sum(_expanded_terms(arg) for arg in expr.args)
    if isinstance(expr, sympy.Mul):
        total = 1.0
        for arg in expr.args:
            total *= _expanded_terms(arg)
            if total > MAX_EXPANDED_TERMS:
                return total
        return total
    if isinstance(expr, sympy.Pow) and expr.exp.is_Integer and expr.exp > 0:
        base = _expanded_terms(expr.base)
        return base ** min(int(expr.exp), 64) if base > 1 else 1.0
    return 1.0
