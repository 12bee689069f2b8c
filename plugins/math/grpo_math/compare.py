"""Is one reading of an answer the same as a reading of another?

Cheap checks first: structural equality, exact rational arithmetic, 30-digit numeric values of
constants, then agreement at generic points for expressions with unknowns; ``expand`` is the
last resort and runs only on small expressions. ``simplify`` is never called: its running time
is unbounded on hostile input, and the checks above decide every case it would.
"""
from __future__ import annotations

from fractions import Fraction

import mpmath
import sympy
from sympy.core.function import AppliedUndef

from . import numeric, sets
from .algebra import is_expr, is_matrix
from .values import Clock, Interval, Ratio, Rel, Seq, SetOp, Text

EXACT_REL_TOL = mpmath.mpf("1e-12")
EXACT_ABS_FLOOR = mpmath.mpf("1e-20")
MAX_SEQ = 200
_OPAQUE = (sympy.Sum, sympy.Product)
_INFINITIES = (sympy.oo, -sympy.oo, sympy.zoo, sympy.nan)
_LETTER_CONSTANTS = {"e": sympy.E, "i": sympy.I}
_FLIP = {">": "<", ">=": "<="}
_NAMED_TIMES = {"noon": 12 * 3600, "midnight": 0}


def equivalent(refs: list, answers: list, rel_tol: float, ref_places: int | None = None,
               answer_places: int | None = None) -> bool:
    """True when some reading of the reference equals some reading of the answer.

    ``*_places``: decimal places of the coarsest decimal written on each side (None: none).
    Without decimals comparison is exact; with one, values may differ by ``rel_tol`` relatively.
    """
    places = [p for p in (ref_places, answer_places) if p is not None]
    checker = Checker(rel_tol, min(places) if places else None)
    return any(checker.equal(ref, ans) for ref in refs for ans in answers)


class Checker:
    def __init__(self, rel_tol: float, places: int | None = None):
        self.inexact = places is not None
        self.rel_tol = mpmath.mpf(rel_tol) if self.inexact else EXACT_REL_TOL
        self.abs_floor = mpmath.mpf(0) if self.inexact else EXACT_ABS_FLOOR
        tolerance = Fraction(repr(float(rel_tol)))  # 1e-4 as exactly 1/10000
        self.rational_tol = sympy.Rational(tolerance.numerator, tolerance.denominator)
        # Two numbers both written as decimals must also agree to the coarser one's last
        # place: 16386.20 and 16386.16 are different amounts, however close relatively.
        self.half_unit = sympy.Rational(1, 2 * 10 ** places) if self.inexact else sympy.S.Zero

    def equal(self, a, b) -> bool:
        if a == b:
            return True
        if is_expr(a) and is_expr(b):
            return self.expr_equal(a, b)
        if isinstance(a, Clock) or isinstance(b, Clock):
            return self.clock_equal(a, b) if isinstance(a, Clock) else self.clock_equal(b, a)
        if isinstance(a, Text) or isinstance(b, Text):
            return self.text_equal(a, b) if isinstance(a, Text) else self.text_equal(b, a)
        if isinstance(a, Rel) and isinstance(b, Rel):
            return self.rel_equal(a, b)
        if is_matrix(a) or is_matrix(b):
            return self.matrix_equal(a, b) if is_matrix(a) else self.matrix_equal(b, a)
        if isinstance(a, Ratio) or isinstance(b, Ratio):
            return self.ratio_equal(a, b) if isinstance(a, Ratio) else self.ratio_equal(b, a)
        if isinstance(a, Interval) and _is_pair(b):
            return self.equal(a, Interval(b.items[0], b.items[1], True, True))
        if isinstance(b, Interval) and _is_pair(a):
            return self.equal(Interval(a.items[0], a.items[1], True, True), b)
        if sets.is_set_like(a) and sets.is_set_like(b) and not (
                isinstance(a, Seq) and isinstance(b, Seq)):
            return self.set_equal(a, b)
        if isinstance(a, Seq) and isinstance(b, Seq):
            return self.seq_equal(a, b)
        if isinstance(a, Seq) and len(a.items) == 1 and a.kind != "tuple":
            return self.equal(a.items[0], b)
        if isinstance(b, Seq) and len(b.items) == 1 and b.kind != "tuple":
            return self.equal(a, b.items[0])
        return False

    # -- scalars -----------------------------------------------------------------------------
    def expr_equal(self, a: sympy.Expr, b: sympy.Expr) -> bool:
        if a == b:
            return True
        if a.is_Rational and b.is_Rational:
            if not self.inexact:
                return False
            difference = abs(a - b)
            if _finite_decimal(a) and _finite_decimal(b) and difference > self.half_unit:
                return False
            return difference <= self.rational_tol * max(abs(a), abs(b))
        if a.has(*_INFINITIES) or b.has(*_INFINITIES):
            return False
        if _undefined_functions(a) != _undefined_functions(b):
            return False  # f(x) cannot cancel out of one side only
        if a.has(*_OPAQUE) or b.has(*_OPAQUE):
            return self.symbolic_zero(a, b)
        symbols = a.free_symbols | b.free_symbols
        if not symbols:
            va, vb = numeric.value(a), numeric.value(b)
            if va is None or vb is None:
                return self.symbolic_zero(a, b)
            return numeric.close(va, vb, self.rel_tol, self.abs_floor)
        return self.agree_at_points(a, b, symbols)

    def agree_at_points(self, a, b, symbols) -> bool:
        agreed = 0
        for index, point in enumerate(numeric.points(symbols)):
            va, vb = numeric.value(a, point), numeric.value(b, point)
            if (va is None) != (vb is None):
                return False  # defined at a generic point on one side only
            if va is None:
                continue
            if index == numeric.NEGATIVE_POINT and not (numeric.is_real(va) and numeric.is_real(vb)):
                continue  # a logarithm or root of a negative: the identity may hold only for x > 0
            if not numeric.close(va, vb, self.rel_tol, self.abs_floor):
                return False
            agreed += 1
        return agreed >= 2 or self.symbolic_zero(a, b)

    def symbolic_zero(self, a, b) -> bool:
        if not (numeric.safe_to_expand(a) and numeric.safe_to_expand(b)):
            return False
        try:  # products and integer powers only: log and power rules can run for long
            return sympy.expand(a - b, power_base=False, power_exp=False, log=False) == 0
        except (TypeError, ValueError, ArithmeticError, RecursionError):
            return False

    def text_equal(self, text: Text, other) -> bool:
        if isinstance(other, Text):
            return text.text.lower() == other.text.lower() if len(text.text) > 1 \
                else text.text == other.text
        if not is_expr(other):
            return False
        if len(text.text) == 1:
            return other == sympy.Symbol(text.text) or other == _LETTER_CONSTANTS.get(text.text)
        if isinstance(other, sympy.Mul) and text.text.isalpha() and all(
                isinstance(f, sympy.Symbol) and len(f.name) == 1 for f in other.args):
            # "abc" read as a word and a b c as variables: the same letters, each once
            return sorted(f.name.lower() for f in other.args) == sorted(text.text)
        return isinstance(other, sympy.Symbol) and other.name.lower() == text.text

    # -- relations ---------------------------------------------------------------------------
    def rel_equal(self, a: Rel, b: Rel) -> bool:
        ops_a, segs_a = _oriented(a)
        ops_b, segs_b = _oriented(b)
        if ops_a != ops_b:
            return False
        if len(ops_a) > 1:
            return all(self.equal(x, y) for x, y in zip(segs_a, segs_b))
        op = ops_a[0]
        (l1, r1), (l2, r2) = segs_a, segs_b
        if self.equal(l1, l2) and self.equal(r1, r2):
            return True
        symmetric = op in ("=", "!=", "~")
        if symmetric and self.equal(l1, r2) and self.equal(r1, l2):
            return True
        if all(is_expr(s) for s in (l1, r1, l2, r2)) and op != "in":
            return self.proportional(l1 - r1, l2 - r2, positive=not symmetric)
        return False

    def proportional(self, d1, d2, positive: bool) -> bool:
        """``d1 = c * d2`` for a constant c (c > 0 when ``positive``): the same equation or
        inequality written another way (``2x+4y-3=0`` vs ``y = -x/2 + 3/4``)."""
        symbols = d1.free_symbols | d2.free_symbols
        if not symbols or d1.has(*_OPAQUE) or d2.has(*_OPAQUE):
            return False
        ratios = []
        for point in numeric.points(symbols)[:numeric.NEGATIVE_POINT]:
            v1, v2 = numeric.value(d1, point), numeric.value(d2, point)
            if v1 is None or v2 is None:
                continue
            if abs(v2) < mpmath.mpf("1e-15"):
                if abs(v1) >= mpmath.mpf("1e-15"):
                    return False
                continue
            ratios.append(v1 / v2)
        if len(ratios) < 2:
            return False
        first = ratios[0]
        if abs(first) < mpmath.mpf("1e-15"):
            return False
        if positive and (not numeric.is_real(first) or first.real <= 0):
            return False  # an inequality multiplied by a negative number flips
        return all(numeric.close(r, first, self.rel_tol, self.abs_floor) for r in ratios[1:])

    # -- compound values ---------------------------------------------------------------------
    def seq_equal(self, a: Seq, b: Seq) -> bool:
        if len(a.items) > MAX_SEQ or len(b.items) > MAX_SEQ:
            return False
        if "tuple" in (a.kind, b.kind):
            if "set" in (a.kind, b.kind) or len(a.items) != len(b.items):
                return False
            return all(self.equal(x, y) for x, y in zip(a.items, b.items))
        return self.unordered_equal(a.items, b.items)

    def unordered_equal(self, xs, ys) -> bool:
        """Same elements, ignoring order and repetition."""
        exact = set(xs) & set(ys)
        rest_x = [x for x in xs if x not in exact]
        rest_y = [y for y in ys if y not in exact]
        return all(any(self.equal(x, y) for y in ys) for x in rest_x) and \
            all(any(self.equal(x, y) for x in xs) for y in rest_y)

    def set_equal(self, a, b) -> bool:
        parts_a, parts_b = sets.parts(a), sets.parts(b)
        if parts_a is None or parts_b is None:
            return isinstance(a, SetOp) and isinstance(b, SetOp) and a.op == b.op and \
                len(a.parts) == len(b.parts) and all(self.equal(x, y) for x, y in zip(a.parts, b.parts))
        intervals_a = [p for p in parts_a if isinstance(p, Interval)]
        intervals_b = [p for p in parts_b if isinstance(p, Interval)]
        if len(intervals_a) != len(intervals_b) or len(parts_a) != len(parts_b):
            return False
        for x, y in zip(intervals_a, intervals_b):
            if (x.left_open, x.right_open) != (y.left_open, y.right_open) or not (
                    self.equal(x.lo, y.lo) and self.equal(x.hi, y.hi)):
                return False
        points_a = [p for p in parts_a if not isinstance(p, Interval)]
        points_b = [p for p in parts_b if not isinstance(p, Interval)]
        return self.unordered_equal(points_a, points_b)

    def matrix_equal(self, m, other) -> bool:
        if is_matrix(other):
            if m.shape != other.shape:
                return False
            return all(self.equal(x, y) for x, y in zip(m, other))
        if isinstance(other, Seq) and other.kind == "tuple" and 1 in m.shape \
                and len(other.items) == len(m):
            return all(self.equal(x, y) for x, y in zip(m, other.items))
        return False

    def clock_equal(self, clock: Clock, other) -> bool:
        """Two times are equal as times of day (``20:34`` = ``8:34 P.M.``), never as ratios;
        against anything else a time written without a meridiem is still a ratio."""
        if isinstance(other, Clock):
            return clock.seconds == other.seconds
        if isinstance(other, Text) and other.text in _NAMED_TIMES:
            return clock.seconds == _NAMED_TIMES[other.text]
        return clock.ratio is not None and self.equal(clock.ratio, other)

    def ratio_equal(self, ratio: Ratio, other) -> bool:
        if isinstance(other, Ratio):
            if len(ratio.parts) != len(other.parts):
                return False
            if all(self.equal(x, y) for x, y in zip(ratio.parts, other.parts)):
                return True
            pair = ratio.parts + other.parts
            if len(ratio.parts) == 2 and all(is_expr(p) and p != 0 for p in pair):
                return self.equal(ratio.parts[0] * other.parts[1], ratio.parts[1] * other.parts[0])
            return False
        if is_expr(other) and len(ratio.parts) == 2 and all(is_expr(p) for p in ratio.parts) \
                and ratio.parts[1] != 0:
            return self.equal(ratio.parts[0] / ratio.parts[1], other)
        return False


def _undefined_functions(expr) -> set:
    return {applied.func for applied in expr.atoms(AppliedUndef)}


def _finite_decimal(number: sympy.Rational) -> bool:
    """Whether ``number`` can be written with finitely many decimals (1/4 yes, 1/3 no)."""
    q = number.q
    for prime in (2, 5):
        while q % prime == 0:
            q //= prime
    return q == 1


def _is_pair(value) -> bool:
    return isinstance(value, Seq) and value.kind == "tuple" and len(value.items) == 2


def _oriented(rel: Rel):
    """Write ``a > b`` as ``b < a`` so that the two spellings compare equal."""
    if rel.ops and all(op in _FLIP for op in rel.ops):
        return tuple(_FLIP[op] for op in reversed(rel.ops)), tuple(reversed(rel.segs))
    return rel.ops, rel.segs
