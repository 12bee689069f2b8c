"""Arithmetic on parsed values, with the size checks that keep hostile answers cheap.

sympy evaluates ``Pow``, ``factorial`` and ``binomial`` of numbers eagerly, so ``9^{9^{9^9}}`` or
``1000000!`` would run for minutes and exhaust memory. Every operation the parser performs goes
through here, where the size of the result is estimated *before* sympy is asked to build it and
anything too large is refused with ``ParseError``.
"""
from __future__ import annotations

import functools
import itertools
import math

import mpmath
import sympy

from . import numeric
from .values import Multi, ParseError, Word

MAX_BITS = 100_000        # largest exact number an answer may evaluate to (~30,000 digits)
MAX_LITERAL_DIGITS = 4_000
MAX_FACTORIAL = 5_000
MAX_BINOMIAL = 100_000
MAX_SYMBOLIC_EXPONENT = 1_000
MAX_ALTERNATIVES = 16     # values a chain of \pm may produce
MAX_MATRIX_CELLS = 100


def is_expr(value) -> bool:
    return isinstance(value, sympy.Expr) and not isinstance(value, sympy.MatrixBase)


def is_matrix(value) -> bool:
    return isinstance(value, sympy.MatrixBase)


def number_from_literal(text: str) -> tuple[sympy.Expr, int | None]:
    """An exact sympy number from a digit string the lexer matched, and its number of decimal
    places when it is not an integer ("2.50" may be a rounded value; "1000.0" is exactly 1000)."""
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    if len(whole) + len(fraction) > MAX_LITERAL_DIGITS or len(exponent) > 6:
        raise ParseError("number literal too long")
    digits = (whole + fraction).lstrip("0") or "0"
    shift = int(exponent or "0") - len(fraction)
    if abs(shift) > MAX_LITERAL_DIGITS:
        raise ParseError("number literal too large")
    value = sympy.Integer(digits)
    value = value * sympy.Integer(10) ** shift if shift >= 0 else sympy.Rational(value, 10 ** -shift)
    return value, (None if value.is_Integer else -shift)


def _bits(value: sympy.Expr) -> float:
    """log2 of the size of a constant, estimated without building anything big."""
    if value.is_Rational:
        return float(max(abs(value.p).bit_length(), value.q.bit_length()))
    magnitude = _magnitude(value)
    if magnitude is None:
        return math.inf
    if magnitude == 0:
        return 0.0
    return abs(float(mpmath.log(magnitude, 2)))


def _magnitude(value: sympy.Expr):
    """|value| at fixed precision (never sympy's open-ended evalf), or None."""
    number = numeric.value(value)
    return None if number is None else abs(number)


def _lift(operation, *args):
    """Apply ``operation`` to every combination of \\pm alternatives."""
    if not any(isinstance(a, Multi) for a in args):
        return operation(*args)
    choices = [a.options if isinstance(a, Multi) else (a,) for a in args]
    if math.prod(len(c) for c in choices) > MAX_ALTERNATIVES:
        raise ParseError("too many \\pm alternatives")
    results = []
    for combo in itertools.product(*choices):
        result = operation(*combo)
        if result not in results:
            results.append(result)
    return results[0] if len(results) == 1 else Multi(tuple(results))


def need_scalars(*values) -> None:
    for value in values:
        if not is_expr(value):
            raise ParseError(f"cannot do arithmetic on {type(value).__name__}")


def _add(a, b):
    if is_matrix(a) and is_matrix(b):
        if a.shape != b.shape:
            raise ParseError("matrix shapes differ")
        return a + b
    need_scalars(a, b)
    return sympy.Add(a, b)


def _mul(a, b):
    if is_matrix(a) or is_matrix(b):
        if is_matrix(a) and is_matrix(b) and a.shape[1] != b.shape[0]:
            raise ParseError("matrix shapes do not match")
        if not is_matrix(a):
            need_scalars(a)
        if not is_matrix(b):
            need_scalars(b)
        return sympy.ImmutableMatrix(a * b)
    need_scalars(a, b)
    if a.is_Integer and b.is_Integer and _bits(a) + _bits(b) > 4 * MAX_BITS:
        raise ParseError("product too large")
    return sympy.Mul(a, b)


def _power(base, exponent):
    if is_matrix(base):
        if not (is_expr(exponent) and exponent.is_Integer and abs(exponent) <= 8):
            raise ParseError("unsupported matrix power")
        if base.shape[0] != base.shape[1]:
            raise ParseError("power of a non-square matrix")
        return sympy.ImmutableMatrix(base ** int(exponent))
    need_scalars(base, exponent)
    check_power(base, exponent)
    return sympy.Pow(base, exponent, evaluate=_evaluates(base, exponent))


def check_power(base: sympy.Expr, exponent: sympy.Expr) -> None:
    """Refuse a power whose evaluated value would be huge (``2^{2^{2^{100}}}``)."""
    if exponent.free_symbols:
        return
    exponent_log2 = _log2_abs(exponent)
    if exponent_log2 <= 0:  # |exponent| <= 1 (roughly): no bigger than the base itself
        return
    if base.free_symbols:
        if exponent_log2 > math.log2(MAX_SYMBOLIC_EXPONENT) and not isinstance(base, sympy.Symbol):
            raise ParseError("power too large")
        return
    if base in (sympy.S.Zero, sympy.S.One, sympy.S.NegativeOne):
        return
    if exponent_log2 + math.log2(max(_bits(base), 1.0)) > math.log2(MAX_BITS):
        raise ParseError("power too large")


def _log2_abs(value: sympy.Expr) -> float:
    if value.is_Rational:
        if value.p == 0:
            return -math.inf
        return float(abs(value.p).bit_length() - value.q.bit_length())
    magnitude = _magnitude(value)
    if magnitude is None:
        return math.inf
    if magnitude == 0:
        return -math.inf
    return float(mpmath.log(magnitude, 2))


def add(a, b):
    return _lift(_add, a, b)


def sub(a, b):
    return _lift(lambda x, y: _add(x, _mul(sympy.S.NegativeOne, y)), a, b)


def mul(a, b):
    return _lift(_mul, a, b)


def div(a, b):
    def divide(x, y):
        need_scalars(y)
        if y == 0:
            raise ParseError("division by zero")
        return _mul(x, _power(y, sympy.S.NegativeOne))
    return _lift(divide, a, b)


def neg(a):
    return _lift(lambda x: _mul(sympy.S.NegativeOne, x), a)


def power(base, exponent):
    return _lift(_power, base, exponent)


def plus_minus(a, b=None):
    """``a \\pm b`` (or ``\\pm a`` when ``b`` is None) as two alternatives."""
    if b is None:
        return _lift(lambda x: Multi((x, _mul(sympy.S.NegativeOne, x))), a)
    return _lift(lambda x, y: Multi((_add(x, y), _add(x, _mul(sympy.S.NegativeOne, y)))), a, b)


def factorial(n):
    def fact(x):
        need_scalars(x)
        if x.is_number:
            if not x.is_Integer or x < 0 or x > MAX_FACTORIAL:
                raise ParseError("factorial out of range")
        return sympy.factorial(x)
    return _lift(fact, n)


def binomial(n, k):
    def choose(x, y):
        need_scalars(x, y)
        if x.is_number or y.is_number:
            for v in (x, y):
                if v.is_number and not (v.is_Integer and abs(v) <= MAX_BINOMIAL):
                    raise ParseError("binomial out of range")
        return sympy.binomial(x, y)
    return _lift(choose, n, k)


def apply(function, *args):
    """A sympy function of scalars (sin, log, ...), refusing non-scalars."""
    def call(*xs):
        need_scalars(*xs)
        for x in xs:
            if x.is_number and _bits(x) > 64 and function in _PERIODIC:
                raise ParseError("argument too large")
        lazy = function in _LAZY and not all(x.is_Rational for x in xs)
        return function(*xs, evaluate=not lazy and _evaluates(*xs))
    return _lift(call, *args)


_PERIODIC = {sympy.sin, sympy.cos, sympy.tan, sympy.cot, sympy.sec, sympy.csc}
_LAZY = {sympy.Abs, sympy.floor, sympy.ceiling, sympy.Max, sympy.Min, sympy.log}


def _evaluates(*args) -> bool:
    """Whether sympy may simplify a power or function of ``args`` as it builds it.

    sympy simplifies |z|, floor, exp, powers... of constants eagerly, asking its assumption
    system questions that it answers by numeric evaluation of open-ended precision:
    ``|(|70 - \\sqrt{i}|)|`` or ``e^{\\lfloor ... \\rfloor}`` run for seconds to minutes. So
    constants are simplified only when all are rational (exact, cheap); other constants stay as
    written and are compared numerically at fixed precision (numeric.py). Expressions with
    unknowns are simplified: assumptions about plain symbols are answered without evaluation.
    """
    if all(arg.is_Rational for arg in args):
        return True
    return any(arg.free_symbols for arg in args) and all(_tame(arg) for arg in args)


@functools.lru_cache(maxsize=4096)
def _tame(expr: sympy.Expr) -> bool:
    """No constant inside ``expr`` that sympy would have to evaluate numerically to simplify:
    a function of a constant (floor(\\sqrt 2), e^2) or a power of an irrational constant."""
    if expr.is_Atom:
        return True
    if expr.is_number:
        if isinstance(expr, sympy.Function):
            return False
        if isinstance(expr, sympy.Pow) and not (expr.base.is_Rational and expr.exp.is_Rational):
            return False
    return all(_tame(arg) for arg in expr.args)


def juxtapose(a, b):
    """Implicit multiplication; a word next to a quantity is a unit and is dropped."""
    if isinstance(b, Word):
        return a
    if isinstance(a, Word):
        return b
    return mul(a, b)


def matrix(rows: list[list]) -> sympy.ImmutableMatrix:
    if not rows or any(len(r) != len(rows[0]) for r in rows):
        raise ParseError("ragged matrix")
    if len(rows) * len(rows[0]) > MAX_MATRIX_CELLS:
        raise ParseError("matrix too large")
    need_scalars(*(cell for row in rows for cell in row))
    return sympy.ImmutableMatrix(rows)


MAX_SYMBOLIC_DETERMINANT = 4  # rows; exact rationals may fill the whole matrix cap


def determinant(m) -> sympy.Expr:
    """``\\begin{vmatrix}...\\end{vmatrix}``, ``\\det``, ``|A|``: refused before the work when
    its result could be huge. Rational entries use sympy's fraction-free elimination; others
    (at most 4 x 4) the cofactor expansion, through the guarded helpers above."""
    if m.rows != m.cols:
        raise ParseError("determinant of a matrix that is not square")
    cells = list(m)
    if all(cell.is_Rational for cell in cells):
        # |det| <= n^(n/2) * prod(row maxima): its size is known before it is computed
        size = sum(max(_bits(cell) for cell in m.row(i)) for i in range(m.rows))
        if size + m.rows * math.log2(max(m.rows, 2)) > MAX_BITS:
            raise ParseError("determinant too large")
        return m.det(method="bareiss")
    if m.rows > MAX_SYMBOLIC_DETERMINANT:
        raise ParseError("determinant too large")
    return _cofactors(m)


def _cofactors(m) -> sympy.Expr:
    if m.rows == 1:
        return m[0, 0]
    total = sympy.S.Zero
    for j in range(m.cols):
        minor = m.minor_submatrix(0, j)
        term = mul(m[0, j], _cofactors(minor))
        total = add(total, term) if j % 2 == 0 else sub(total, term)
    return total


def norm(m) -> sympy.Expr:
    """``\\|v\\|`` of a row or column vector: the Euclidean length."""
    if 1 not in m.shape:
        raise ParseError("the norm of a matrix is ambiguous")
    total = sympy.S.Zero
    for cell in m:
        total = add(total, power(cell, sympy.Integer(2)))
    return apply(sympy.sqrt, total)
