"""The parser's handlers for ratios and clock times: ``3:4``, ``20:34``, ``8:34 P.M.``.

A mixin of ``Parser`` (parser.py). A colon between numbers is a ratio, except that ``H:MM`` or
``H:MM:SS`` (hours up to 24, minutes and seconds written with two digits, below 60) is also a
time of day, and with a meridiem (``a.m.``, ``PM``, ``\\text{ p.m.}``, ``noon``, ``midnight``) it
is only a time. Times are kept as seconds after midnight, so ``20:34``, ``20:34:00`` and
``8:34 P.M.`` are one value, and ``8:34 A.M.`` another. An hour alone with a meridiem
(``8 pm``, ``12 noon``) is a time too.
"""
from __future__ import annotations

import sympy

from .values import Clock, ParseError, Ratio, Word
from .vocab import STYLE_COMMANDS

DAY = 24 * 3600
_MERIDIEM_WORDS = {"am": "am", "pm": "pm", "noon": "noon", "midnight": "midnight"}
# Tokens that would make the last digits part of something bigger than a time (20:34^2, 8:3.5).
_CONTINUES = frozenset("^ _ / * . ( !".split())


class ClockMixin:
    def ratio(self, left):
        """``left : ... : ...`` (the cursor is on the first colon)."""
        clock = self.clock_after(left)
        if clock is not None:
            return clock
        parts = [left]
        while self.peek().is_op(":"):
            self.advance()
            parts.append(self.expression(15))
        if any(isinstance(p, Word) for p in parts):
            raise ParseError("a ratio of words")
        return Ratio(tuple(parts))

    def clock_after(self, hour):
        """The time ``H:MM[:SS]`` whose hour was just parsed as ``hour``, or None (nothing
        consumed) when the tokens are not shaped like one."""
        hour_token = self.peek(-1)
        if not (hour_token.kind == "num" and hour_token.text.isdigit() and len(hour_token.text) <= 2
                and hour == int(hour_token.text)):
            return None
        fields, offset = [int(hour_token.text)], 0
        while len(fields) < 3 and self.peek(offset).is_op(":"):
            digits = self.peek(offset + 1)
            if not (digits.kind == "num" and digits.text.isdigit() and len(digits.text) == 2
                    and not digits.space):
                return None
            fields.append(int(digits.text))
            offset += 2
        follow = self.peek(offset)
        if follow.is_op(":") or (follow.kind == "op" and follow.text in _CONTINUES) \
                or follow.kind == "num":
            return None
        if any(field >= 60 for field in fields[1:]):
            return None
        self.pos += offset
        within_hour = fields[1] * 60 + (fields[2] if len(fields) == 3 else 0)
        meridiem = self.meridiem(strict=False)
        if meridiem is not None:
            return Clock(self.twelve_hour(fields[0], meridiem) * 3600 + within_hour)
        if fields[0] > 24 or (fields[0] == 24 and within_hour):
            self.pos -= offset
            return None
        as_ratio = Ratio(tuple(sympy.Integer(field) for field in fields))
        return Clock((fields[0] * 3600 + within_hour) % DAY, as_ratio)

    def hour_with_meridiem(self, hour):
        """``8 P.M.``, ``12 noon``: an hour alone with a meridiem, or None (nothing consumed).
        Without the colon a lower-case ``pm`` may be a unit (``74 \\text{ pm}``, picometres), so
        only the dotted or capital spellings and noon/midnight count here."""
        if not (hour.is_Integer and 1 <= hour <= 12):
            return None
        start = self.pos
        meridiem = self.meridiem(strict=True)
        if meridiem is None:
            self.pos = start
            return None
        return Clock(self.twelve_hour(int(hour), meridiem) * 3600)

    @staticmethod
    def twelve_hour(hour: int, meridiem: str) -> int:
        if not 1 <= hour <= 12 or (meridiem in ("noon", "midnight") and hour != 12):
            raise ParseError("not a time on a 12-hour clock")
        if meridiem == "noon":
            return 12
        if meridiem == "midnight":
            return 0
        return hour % 12 + (12 if meridiem == "pm" else 0)

    def meridiem(self, strict: bool) -> str | None:
        """Consume ``a.m.``, ``P.M``, ``pm``, ``\\text{ p.m.}``, ``\\mathrm{PM}``, ``noon`` ...
        and return "am", "pm", "noon" or "midnight"; None (nothing consumed) otherwise.
        ``strict``: not the bare lower-case ``am``/``pm``."""
        token = self.peek()
        if token.kind == "text":
            text = token.text.replace(" ", "")
            found = _MERIDIEM_WORDS.get(text.lower().replace(".", ""))
            if found is not None and not (strict and text in ("am", "pm")):
                self.advance()
                return found
            return None
        if token.kind == "cmd" and token.text in STYLE_COMMANDS and self.peek(1).is_op("{"):
            start = self.pos
            self.pos += 2
            found = self.meridiem(strict)
            if found is not None and self.peek().is_op("}"):
                self.advance()
                return found
            self.pos = start
            return None
        if token.kind != "word":
            return None
        word = token.text.lower()
        if word in _MERIDIEM_WORDS and not (strict and token.text in ("am", "pm")):
            self.advance()
            self.skip_dot()
            return _MERIDIEM_WORDS[word]
        if word in ("a", "p") and self.peek(1).is_op(".") and self.peek(2).kind == "word" \
                and self.peek(2).text.lower() == "m":
            self.pos += 3
            self.skip_dot()
            return word + "m"
        return None

    def skip_dot(self) -> None:
        if self.peek().is_op("."):
            self.advance()
