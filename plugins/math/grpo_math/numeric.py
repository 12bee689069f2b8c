"""Numeric evaluation used by the comparisons: complex values at fixed precision via mpmath.

sympy's own ``evalf`` raises its working precision until it reaches the accuracy asked for,
which on hostile expressions (cancellations, floor of e^{10^{20}}) runs without bound. This
evaluator walks the expression once at a fixed precision instead, refuses arguments too large
to mean anything (e^{10^{20}}, sin of 10^{16}), and gives up (None) on anything it does not know.

Probabilistic identity testing: two expressions that agree at several generic points are taken
to be equal. The points are fixed (results are reproducible); three are positive, where
``\\sqrt{x^2}``-style identities hold, and one is negative, which tells ``|x|`` from ``x``.
"""
from __future__ import annotations

import random

import mpmath
import sympy

DIGITS = 30               # precision of comparisons
WORK_DIGITS = 50          # precision of evaluation
POINTS = 4
NEGATIVE_POINT = 3        # the last point has negative coordinates
MAX_NODES = 5_000
MAX_EXPANDED_TERMS = 500
_LIMIT = mpmath.mpf(10) ** 15  # largest argument of exp, trig, gamma; largest power exponent

_UNARY = {
    sympy.exp: mpmath.exp, sympy.log: mpmath.log, sympy.sin: mpmath.sin, sympy.cos: mpmath.cos,
    sympy.tan: mpmath.tan, sympy.cot: mpmath.cot, sympy.sec: mpmath.sec, sympy.csc: mpmath.csc,
    sympy.asin: mpmath.asin, sympy.acos: mpmath.acos, sympy.atan: mpmath.atan,
    sympy.acot: mpmath.acot, sympy.asec: mpmath.asec, sympy.acsc: mpmath.acsc,
    sympy.sinh: mpmath.sinh, sympy.cosh: mpmath.cosh, sympy.tanh: mpmath.tanh,
    sympy.coth: mpmath.coth, sympy.sech: mpmath.sech, sympy.csch: mpmath.csch,
    sympy.asinh: mpmath.asinh, sympy.acosh: mpmath.acosh, sympy.atanh: mpmath.atanh,
}
_BOUNDED_ARGUMENT = {sympy.exp, sympy.sin, sympy.cos, sympy.tan, sympy.cot, sympy.sec, sympy.csc,
                     sympy.sinh, sympy.cosh, sympy.tanh, sympy.coth, sympy.sech, sympy.csch}


class _GiveUp(Exception):
    pass


def value(expr: sympy.Expr, subs: dict | None = None):
    """``expr`` as an mpmath complex number, or None when it does not evaluate to a finite one.

    ``subs`` maps symbols to mpmath numbers.
    """
    try:
        with mpmath.workdps(WORK_DIGITS):
            result = _evaluate(expr, subs or {}, [MAX_NODES])
            result = mpmath.mpc(result)
            if not (mpmath.isfinite(result.real) and mpmath.isfinite(result.imag)):
                return None
            return result
    except (_GiveUp, ValueError, ZeroDivisionError, OverflowError, TypeError, ArithmeticError,
            RecursionError, AttributeError):
        return None


def _evaluate(expr, subs: dict, budget: list):
    budget[0] -= 1
    if budget[0] < 0:
        raise _GiveUp
    if expr.is_Rational:
        return mpmath.mpf(int(expr.p)) / int(expr.q)
    if expr.is_Float:
        return mpmath.mpf(expr)
    if expr is sympy.pi:
        return +mpmath.pi
    if expr is sympy.E:
        return +mpmath.e
    if expr is sympy.I:
        return mpmath.mpc(0, 1)
    if isinstance(expr, sympy.Symbol):
        if expr not in subs:
            raise _GiveUp
        return subs[expr]
    args = [_evaluate(arg, subs, budget) for arg in expr.args]
    kind = type(expr)
    if kind is sympy.Add:
        return mpmath.fsum(args)
    if kind is sympy.Mul:
        return mpmath.fprod(args)
    if kind is sympy.Pow:
        return _power(*args)
    if kind in _UNARY and len(args) == 1:
        if kind in _BOUNDED_ARGUMENT and abs(args[0]) > _LIMIT:
            raise _GiveUp
        return _UNARY[kind](args[0])
    if kind is sympy.Abs:
        return abs(args[0])
    if kind in (sympy.floor, sympy.ceiling):
        x = _real(args[0])
        if abs(x) > _LIMIT:
            raise _GiveUp  # the integer part of a huge number is beyond the working precision
        return mpmath.floor(x) if kind is sympy.floor else mpmath.ceil(x)
    if kind is sympy.factorial:
        if abs(args[0]) > _LIMIT:
            raise _GiveUp
        return mpmath.gamma(args[0] + 1)
    if kind is sympy.binomial:
        if abs(args[0]) > _LIMIT or abs(args[1]) > _LIMIT:
            raise _GiveUp
        return mpmath.binomial(*args)
    if kind in (sympy.Max, sympy.Min):
        reals = [_real(a) for a in args]
        return max(reals) if kind is sympy.Max else min(reals)
    raise _GiveUp  # undefined functions, sums, anything unknown: no number


def _power(base, exponent):
    if base == 0:
        if mpmath.im(exponent) == 0 and mpmath.re(exponent) > 0:
            return mpmath.mpf(0)
        raise _GiveUp
    if abs(exponent) * (abs(mpmath.log(abs(base))) + 1) > _LIMIT:
        raise _GiveUp
    return mpmath.power(base, exponent)


def _real(x):
    if mpmath.im(x) != 0:
        raise _GiveUp
    return mpmath.re(x)


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
        result.append({s: mpmath.mpf(sign * generator.uniform(0.3, 2.9)) for s in ordered})
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
