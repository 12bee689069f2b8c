"""The kinds of answer the parser produces besides plain sympy expressions and matrices.

Scalars are sympy expressions and matrices are ``sympy.ImmutableMatrix``; everything else that
answers are made of (lists, tuples, sets, intervals, relations, words) gets a small frozen
dataclass here, so that comparison code can dispatch on type without guessing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ParseError(ValueError):
    """The text cannot be read as an answer (too long, malformed, or unsafe to evaluate)."""


@dataclass(frozen=True)
class Word:
    """A word inside maths: a unit after a quantity ("cm", \\text{meters}) or a word answer."""
    text: str


@dataclass(frozen=True)
class Text:
    """A final answer that is prose ("Evelyn", "odd"), compared case-insensitively."""
    text: str


@dataclass(frozen=True)
class Seq:
    """Several answers. ``kind``: "tuple" (ordered, written in brackets), "set" (written
    ``\\{...\\}``, unordered) or "list" (bare commas, "and", several boxes: unordered against a
    set or a list, ordered against a tuple)."""
    kind: str
    items: tuple


@dataclass(frozen=True)
class Interval:
    lo: Any
    hi: Any
    left_open: bool
    right_open: bool


@dataclass(frozen=True)
class SetOp:
    """A union, intersection or difference of intervals and sets."""
    op: str
    parts: tuple


@dataclass(frozen=True)
class Rel:
    """A relation or a chain of them: ``segs[0] ops[0] segs[1] ops[1] ...``.

    Operators: "=", "~" (approximately), "!=", "<", "<=", ">", ">=", "in".
    """
    ops: tuple
    segs: tuple


@dataclass(frozen=True)
class Multi:
    """The alternatives a ``\\pm`` produces: ``1 \\pm \\sqrt 2`` is two values."""
    options: tuple


@dataclass(frozen=True)
class Ratio:
    """``a : b`` (a ratio, a time such as 12:00)."""
    parts: tuple


@dataclass(frozen=True)
class Clock:
    """A time of day in seconds after midnight (``20:34``, ``8:34 P.M.``, ``20:34:00``).
    ``ratio``: the same digits read as a ratio, when no meridiem says they are a time."""
    seconds: int
    ratio: Ratio | None = None


@dataclass(frozen=True)
class Parsed:
    """One reading of an answer string, with what the text said about it. An answer with a
    decimal (``places`` set) may be a rounded value and is compared with a tolerance."""
    value: Any
    percent: bool = False   # a % sign or the word "percent" was seen
    degrees: bool = False   # ^\circ or "degrees" was seen
    places: int | None = None  # decimal places of its coarsest non-integer decimal, if any
    choice: str | None = None  # "(D) 17": a multiple-choice letter written before the value
    words: str | None = None   # the whole answer was plain words ("No solution")
