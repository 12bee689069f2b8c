"""The parser's handlers for numbers, letters, words and subscripts.

A mixin of ``Parser`` (parser.py), split out only to keep each file small.
"""
from __future__ import annotations

import sympy

from . import algebra
from .values import ParseError, Word
from .vocab import DEGREE_WORDS, FUNCTIONS, PERCENT_WORDS, RELATION_COMMANDS, UNIT_WORDS

_APPLIED_FUNCTION_LETTERS = frozenset("fgh")
_MERIDIEM_STARTS = frozenset("a p am pm noon midnight".split())
_TERM_BOUNDARY_OPS = frozenset("( [ { \\{ , ; = < > <= >= != + - \\\\ &".split())
_TERM_END_OPS = frozenset(") ] } \\} , ; = < > <= >= != + - % \\\\ &".split())
_LETTER_CONSTANTS = {"e": sympy.E, "i": sympy.I}


class AtomsMixin:
    # -- numbers -----------------------------------------------------------------------------
    def number(self):
        token = self.advance()
        value, places = algebra.number_from_literal(token.text)
        follow = self.peek()
        if follow.kind == "cmd" and follow.text == "overline" and "." in token.text:
            return self.repeating_decimal(token.text)  # exact: 0.1\overline{6} is 1/6
        if follow.is_op(".") and self.peek(1).kind == "cmd" and self.peek(1).text == "overline":
            self.advance()
            return self.repeating_decimal(token.text + ".")
        self.note_places(places)
        if places is not None:
            return value
        if follow.is_op("_"):
            return self.based_numeral(token.text)
        if follow.kind == "cmd" and follow.text in ("frac", "dfrac", "tfrac", "cfrac") \
                and value.is_Integer:
            return self.maybe_mixed_number(value)
        if follow.kind in ("word", "text", "cmd") and token.text.isdigit() and (
                follow.kind != "word" or follow.text.lower() in _MERIDIEM_STARTS):
            clock = self.hour_with_meridiem(value)  # 8 P.M.
            if clock is not None:
                return clock
        if follow.kind == "num" and follow.space and token.text.isdigit() \
                and self.spaced_fraction_ahead():
            numerator, denominator = int(follow.text), int(self.peek(2).text)
            if value >= 1 and 0 < numerator < denominator:
                self.pos += 3
                return value + sympy.Rational(numerator, denominator)
        return value

    def spaced_fraction_ahead(self) -> bool:
        """``1 1/2``: a whole number, a space and a proper fraction of digits is a mixed number
        only where nothing else can be meant: the whole number starts a term (after the start,
        a bracket, a separator, a relation or a sign, never after ``x``, ``^`` or ``/``) and the
        fraction ends it (before the end, a separator, a relation, a sign, ``%`` or a unit word,
        never before a letter, ``^`` or a bracket). ``x 1/2`` stays x/2 and ``2^6 3/4`` stays
        48."""
        before, whole_next, slash, denominator, after = (self.peek(-2), self.peek(), self.peek(1),
                                                          self.peek(2), self.peek(3))
        if not (whole_next.kind == "num" and whole_next.space and whole_next.text.isdigit()
                and slash.is_op("/") and denominator.kind == "num" and denominator.text.isdigit()):
            return False
        return _opens_term(before) and _closes_term(after)

    def numbers_side_by_side(self) -> bool:
        """Two numbers in a row (``1 000``, ``12 34``) do not multiply: the space is a digit
        group or a typo. After a one-token exponent they do: ``2^6 3^5`` is ``2^6 \\cdot 3^5``,
        as TeX typesets it."""
        return self.peek().kind == "num" and self.peek(-1).kind == "num" \
            and not self.peek(-2).is_op("^")

    def note_places(self, places: int | None) -> None:
        if places is not None:
            self.places = places if self.places is None else min(self.places, places)

    def repeating_decimal(self, literal: str):
        """``0.1\\overline{6}`` = 1/6."""
        self.advance()  # \overline
        token = self.peek()
        if token.is_op("{") and self.peek(1).kind == "num" and self.peek(2).is_op("}"):
            digits = self.peek(1).text
            self.pos += 3
        elif token.kind == "num":
            digits = self.advance().text
        else:
            raise ParseError("bad repeating decimal")
        if not digits.isdigit() or len(digits) > 50:
            raise ParseError("bad repeating decimal")
        fraction = literal.partition(".")[2]
        base, _ = algebra.number_from_literal(literal.rstrip(".") or "0")
        scale = sympy.Integer(10) ** len(fraction)
        return base + sympy.Rational(int(digits), scale * (10 ** len(digits) - 1))

    def based_numeral(self, digits: str):
        """``204_5``: a numeral in base 5, kept as the name it is written as."""
        self.advance()  # _
        token = self.peek()
        if token.is_op("{") and self.peek(1).kind == "num" and self.peek(2).is_op("}"):
            base_text = self.peek(1).text
            self.pos += 3
        elif token.kind == "num":
            base_text = self.advance().text
        else:
            raise ParseError("bad numeral base")
        if not base_text.isdigit() or not 2 <= int(base_text) <= 36:
            raise ParseError("bad numeral base")
        base = int(base_text)
        try:
            int(digits, base)
        except ValueError:
            raise ParseError("digit out of range for its base") from None
        digits = digits.lstrip("0") or "0"
        return sympy.Integer(digits) if base == 10 else sympy.Symbol(f"{digits}_{base}")

    def maybe_mixed_number(self, whole):
        """``2\\frac{1}{2}`` is two and a half, as in school answers."""
        self.advance()
        numerator = self.argument()
        denominator = self.argument()
        fraction = algebra.div(numerator, denominator)
        if algebra.is_expr(numerator) and algebra.is_expr(denominator) and numerator.is_Integer \
                and denominator.is_Integer and whole >= 0 and 0 <= numerator < denominator:
            return whole + fraction
        return algebra.mul(whole, fraction)

    # -- letters and words -------------------------------------------------------------------
    def word(self):
        token = self.peek()
        text = token.text
        lower = text.lower()
        if lower in FUNCTIONS and len(text) > 1:
            follow = self.peek(1)
            if follow.is_op("(", "^", "_") or (self.starts_atom(follow) and follow.kind != "word"):
                self.advance()
                return self.function(lower)
        if len(text) == 1:
            self.advance()
            return self.letter(text)
        return self.word_run()

    def letter(self, text: str):
        if text in self.bound:
            return self.bound[text]
        if self.peek().is_op("_"):
            return self.named_symbol(text)
        if text in _APPLIED_FUNCTION_LETTERS and self.peek().is_op("(") and not self.peek().space:
            self.advance()
            args, _ = self.bracket_items(frozenset({")"}))
            if not args:
                raise ParseError("empty function call")
            algebra.need_scalars(*args)
            return sympy.Function(text)(*args)
        if text in _LETTER_CONSTANTS:
            return _LETTER_CONSTANTS[text]
        return sympy.Symbol(text)

    def word_run(self):
        token = self.peek()
        text, lower = token.text, token.text.lower()
        if lower in ("infinity", "inf"):
            self.advance()
            return sympy.oo
        whole = self.pos != self.split_at  # not the rest of a run already split
        if whole and (lower in UNIT_WORDS or (len(text) >= 3 and self.reads_as_word(token))):
            self.advance()
            self.percent = self.percent or lower in PERCENT_WORDS
            self.degrees = self.degrees or lower in DEGREE_WORDS
            return Word(text)
        # Letters side by side are a product of variables, one factor each, so that a power
        # takes only the last: mv^2 is m v^2, and 3abc is 3 a b c.
        return self.letter(self.split_first_char().text)

    def reads_as_word(self, token) -> bool:
        """Whether a run of three or more letters is a word (a unit, a name, prose: dropped
        beside a quantity) rather than variables side by side. Variables are runs without a
        lower-case vowel (``mgh``, ``GMm``, ``nRT``) unless a number stands apart before them
        (``5 lbs``), runs glued to a number or a bracket before them (``2mgh``, ``3abc``), and
        runs carrying a script (``abc^2``)."""
        before, after = self.peek(-1), self.peek(1)
        if not token.space and (before.kind == "num" or before.is_op(")", "}")):
            return False
        if after.is_op("^", "_"):
            return False
        has_vowel = any(vowel in token.text for vowel in "aeiou")
        return has_vowel or (token.space and before.kind == "num")


def _opens_term(token) -> bool:
    return token.kind in ("start", "sep", "implies", "text") or (
        token.kind == "op" and token.text in _TERM_BOUNDARY_OPS) or (
        token.kind == "cmd" and (token.text in RELATION_COMMANDS or token.text in ("pm", "mp")))


def _closes_term(token) -> bool:
    if token.kind in ("eof", "sep", "implies", "end", "text"):
        return True
    if token.kind == "word":  # 1 1/2 cups, but not 1 1/2 x
        return len(token.text) >= 2 and token.text.lower() not in FUNCTIONS
    return (token.kind == "op" and token.text in _TERM_END_OPS) or (
        token.kind == "cmd" and (token.text in RELATION_COMMANDS or token.text in ("pm", "mp")))
