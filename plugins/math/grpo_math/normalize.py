"""Text repairs applied before extraction and before parsing.

Model outputs and dataset references often reach us mangled: ``\\frac`` written in a non-raw
Python string arrives as a form feed followed by ``rac``; JSON double-escaping turns ``\\boxed``
into ``\\\\boxed``. These repairs are linear-time string and regex passes with no backtracking.
"""
from __future__ import annotations

import re

from .vocab import KNOWN_COMMANDS

# Control characters that only ever appear as the remains of an escaped LaTeX command.
_ESCAPE_REMAINS = str.maketrans({"\x0c": "\\f", "\x08": "\\b", "\x07": "\\a", "\x0b": "\\v"})

# Tab, newline and carriage return are real characters too, so they are only restored when the
# letters after them spell a whole command (tab + "imes" -> \times, but not newline + "equal").
_WHITESPACE_REMAINS = re.compile(r"([\t\r\n])([A-Za-z]++)")
_WHITESPACE_LETTER = {"\t": "t", "\r": "r", "\n": "n"}

_DOUBLED_BACKSLASH = re.compile(r"(?<!\\)\\\\([A-Za-z]++)")
_CHAT_TOKENS = re.compile(r"<\|[a-z_]{1,20}\|>|</s>|<eos>|<end_of_turn>")
_OTHER_CONTROLS = re.compile(r"[\x00-\x06\x0e-\x1f\x7f]")


def known_prefix(word: str) -> str | None:
    """The longest known command that ``word`` starts with (``quadx`` -> ``quad``)."""
    if word in KNOWN_COMMANDS:
        return word
    for end in range(len(word) - 1, 1, -1):
        if word[:end] in KNOWN_COMMANDS:
            return word[:end]
    return None


def _restore_whitespace_escape(match: re.Match) -> str:
    char, word = match.group(1), match.group(2)
    name = _WHITESPACE_LETTER[char] + word
    return "\\" + name if name in KNOWN_COMMANDS else match.group(0)


def _undouble(match: re.Match) -> str:
    word = match.group(1)
    # "\\x" between matrix rows is a row break followed by a letter: leave unknown words alone.
    return "\\" + word if known_prefix(word) else match.group(0)


def repair(text: str) -> str:
    """Undo escaping accidents and drop chat-template tokens and stray control characters."""
    text = text.translate(_ESCAPE_REMAINS)
    text = _OTHER_CONTROLS.sub("", text)
    text = _CHAT_TOKENS.sub(" ", text)
    text = _WHITESPACE_REMAINS.sub(_restore_whitespace_escape, text)
    return _DOUBLED_BACKSLASH.sub(_undouble, text)


_UNICODE = {
    "\u2212": "-", "\u2013": "-", "\u2014": "-", "\u00d7": r" \times ", "\u00f7": "/",
    "\u00b7": r" \cdot ", "\u22c5": r" \cdot ", "\u2264": r" \le ", "\u2265": r" \ge ",
    "\u2260": r" \ne ", "\u2248": r" \approx ", "\u2243": r" \simeq ", "\u2252": r" \approx ",
    "\u224a": r" \approx ", "\u223c": r" \sim ", "\u2033": "''", "\u2034": "'''", "\u03c0": r" \pi ",
    "\u221e": r" \infty ",
    "\u00b0": r"^\circ ", "\u00b2": "^2", "\u00b3": "^3", "\u221a": r"\sqrt", "\u222a": r" \cup ",
    "\u2229": r" \cap ", "\u2208": r" \in ", "\u00b1": r" \pm ", "\u2213": r" \mp ",
    "\u2205": r" \emptyset ", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2007": " ",
    "\u20ac": " ", "\u00a3": " ", "\u00a5": " ", "\u2032": "'", "\u2019": "'",
    "\u03b1": r" \alpha ", "\u03b2": r" \beta ", "\u03b3": r" \gamma ", "\u03b8": r" \theta ",
    "\u03bb": r" \lambda ", "\u03bc": r" \mu ", "\u03c3": r" \sigma ", "\u03c6": r" \phi ",
    "\u03c9": r" \omega ", "\u0394": r" \Delta ",
}
_UNICODE_TABLE = str.maketrans(_UNICODE)

# Digit groupings that are unambiguous thousands separators in LaTeX: 14{,}916, 11,\!111 and
# 1\,000 (thin space).
_BRACED_COMMA = re.compile(r"(\d)\s*+\{\s*+,\s*+\}\s*+(?=\d)")
_COMMA_NEGSPACE = re.compile(r"(\d),\s*+\\!\s*+(?=\d)")
_THIN_SPACE = re.compile(r"(\d)\\[,;: ](?=\d{3}(?!\d))")


def prepare_answer(answer: str) -> str:
    """Normalise one extracted answer string (short) before lexing."""
    answer = answer.translate(_UNICODE_TABLE)
    answer = _BRACED_COMMA.sub(r"\1", answer)
    answer = _COMMA_NEGSPACE.sub(r"\1", answer)
    answer = _THIN_SPACE.sub(r"\1", answer)
    return answer.strip().rstrip(".,;:? \t\n").strip()
