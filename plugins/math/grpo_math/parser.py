"""A Pratt parser from answer tokens straight to sympy objects (and the types in values.py).

Binding powers, loosest first: list separators (``,`` ``;`` "and"), relations (10, chained),
ratios ``:`` (15), set operations (20), ``+ - \\pm`` (30), unary minus (35), ``* / \\cdot``
and juxtaposition (40), ``^`` (60), postfix ``!`` ``%`` ``^\\circ`` (70).

Nothing is evaluated from text: numbers come from digit strings the lexer matched, names become
``sympy.Symbol``, and every operation goes through the guarded helpers in algebra.py. Nesting is
capped before parsing and again while recursing.
"""
from __future__ import annotations

import dataclasses
import re

import sympy

from . import algebra
from .atoms import AtomsMixin
from .clock import ClockMixin
from .commands import CommandsMixin
from .groups import GroupsMixin, as_set
from .lexer import Token, tokenize
from .scripts import ScriptsMixin
from .values import ParseError, Parsed, Rel, Seq, SetOp, Word
from .vocab import OPERATOR_COMMANDS, RELATION_COMMANDS, SET_COMMANDS

MAX_NESTING = 30      # brackets inside brackets, counted before parsing
MAX_DEPTH = 120       # recursive calls of the parser
MAX_ITEMS = 200       # elements of one list, tuple or set

_RELATION_OPS = {"=": "=", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "!=": "!="}
_POSTFIX_COMMANDS = frozenset("circ degree pmod prime".split())
_CLOSING_COMMANDS = frozenset("rangle rfloor rceil rvert choose over mid".split())
_WORDS = re.compile(r"[A-Za-z][A-Za-z'-]*+(?:\s++[A-Za-z'-]++)++")
_START = Token("start", "")  # what lies before the first token
_OPENERS = frozenset("( [ { \\{".split())
_CLOSERS = frozenset(") ] } \\}".split())


def nesting_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def parse(text: str) -> Parsed:
    """Parse one answer string; raises ParseError when it is not a readable answer."""
    if nesting_depth(text) > MAX_NESTING:
        raise ParseError("nested too deeply")
    parsed = Parser(tokenize(text)).parse()
    if _WORDS.fullmatch(text):
        parsed = dataclasses.replace(parsed, words=text)
    return parsed


class Parser(AtomsMixin, ScriptsMixin, ClockMixin, CommandsMixin, GroupsMixin):
    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.last = len(tokens) - 1
        self.pos = 0
        self.depth = 0
        self.abs_depth = 0
        self.bound: dict[str, sympy.Symbol] = {}
        self.percent = self.degrees = False
        self.in_argument = 0  # depth of function arguments being parsed
        self.places: int | None = None  # decimal places of the coarsest decimal literal
        self.split_at = -1  # position of the token split_first_char last shortened

    # -- token stream ------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> Token:
        index = self.pos + offset
        if index >= self.last:
            return self.tokens[self.last]  # eof
        return self.tokens[index] if index >= 0 else _START

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind != "eof":
            self.pos += 1
        return token

    def expect(self, *texts: str) -> Token:
        token = self.peek()
        if token.kind != "op" or token.text not in texts:
            raise ParseError(f"expected {' or '.join(texts)}, found {token.text or 'end'!r}")
        return self.advance()

    def split_first_char(self) -> Token:
        """Consume one character of the current num/word token (TeX reads ``\\frac12`` so)."""
        token = self.peek()
        if len(token.text) > 1 and token.kind in ("num", "word") and not (
                token.kind == "num" and not token.text[0].isdigit()):
            self.tokens[self.pos] = Token(token.kind, token.text[1:], False)
            self.split_at = self.pos  # the rest of a letter run is letters too (GMm: not "Mm")
            return Token(token.kind, token.text[0], token.space)
        return self.advance()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("nested too deeply")

    # -- entry points ------------------------------------------------------------------------
    def parse(self) -> Parsed:
        self.skip_to_conclusion()
        choice = self.leading_choice()
        value = self.statement_list(frozenset())
        if self.peek().kind != "eof":
            raise ParseError(f"unexpected {self.peek().text!r}")
        return Parsed(value, self.percent, self.degrees, self.places, choice)

    def leading_choice(self) -> str | None:
        """``(D) 17`` / ``\\textbf{(D) } 17``: the letter of a multiple-choice option."""
        if not self.peek().is_op("("):
            return None
        letter, close = self.peek(1), self.peek(2)
        if letter.kind == "word" and len(letter.text) == 1 \
                and letter.text in "ABCDE" and close.is_op(")") and self.peek(3).kind != "eof":
            self.pos += 3
            return letter.text
        return None

    def skip_to_conclusion(self) -> None:
        """``... = 0 \\Rightarrow x = 2``: only the statement after the last arrow counts."""
        depth, last = 0, None
        for index, token in enumerate(self.tokens):
            if token.kind == "op" and token.text in _OPENERS or token.kind == "begin":
                depth += 1
            elif token.kind == "op" and token.text in _CLOSERS or token.kind == "end":
                depth -= 1
            elif token.kind == "implies" and depth == 0:
                last = index
        if last is not None:
            self.pos = last + 1

    def at_stop(self, closers: frozenset) -> bool:
        token = self.peek()
        return token.kind == "eof" or (token.kind == "op" and token.text in closers) or (
            token.kind == "end" and "end" in closers)

    def statement_list(self, closers: frozenset):
        """Items separated by commas / "and", grouped by semicolons; one item stands alone."""
        groups, items = [], []
        while not self.at_stop(closers):
            token = self.peek()
            if token.kind == "sep" or token.is_op(",", "\\\\"):
                self.advance()
                continue
            if token.is_op(";"):
                self.advance()
                groups.append(items)
                items = []
                continue
            if token.is_op("&"):
                self.advance()
                continue
            items.append(self.expression(0))
            if len(items) > MAX_ITEMS:
                raise ParseError("too many items")
            follow = self.peek()
            if not (self.at_stop(closers) or follow.kind == "sep"
                    or follow.is_op(",", ";", "\\\\", "&")):
                raise ParseError(f"unexpected {follow.text!r}")
        groups.append(items)
        groups = [g for g in groups if g]
        if not groups:
            raise ParseError("empty answer")
        packed = [g[0] if len(g) == 1 else Seq("list", tuple(g)) for g in groups]
        return packed[0] if len(packed) == 1 else Seq("list", tuple(packed))

    def bracket_items(self, closers: frozenset) -> tuple[list, Token]:
        """Comma- or semicolon-separated items up to one of ``closers``; returns the closer."""
        items = []
        while True:
            if self.peek().kind == "eof":
                raise ParseError("unclosed bracket")
            if self.at_stop(closers):
                return items, self.advance()
            token = self.peek()
            if token.is_op(",", ";") or token.kind == "sep":
                self.advance()
                continue
            items.append(self.expression(0))
            if len(items) > MAX_ITEMS:
                raise ParseError("too many items")

    # -- Pratt loop --------------------------------------------------------------------------
    def expression(self, min_bp: int):
        self.enter()
        left = self.prefix()
        while True:
            token = self.peek()
            bp = self.infix_power(token)
            if bp is None or bp <= min_bp:
                break
            left = self.infix(left, token, bp)
        self.depth -= 1
        return left

    def infix_power(self, token: Token) -> int | None:
        kind, text = token.kind, token.text
        if kind == "op":
            if text in _RELATION_OPS or text == "not":
                return 10
            if text == ":":
                return 15
            if text in ("+", "-"):
                return 30
            if text in ("*", "/"):
                return 40
            if text == "^":
                return 60
            if text in ("!", "%", "'"):
                return 70
        if kind == "op" and text == "(" and self.approximation_ahead():
            return 10
        if kind == "cmd":
            if text in RELATION_COMMANDS or text == "notin":
                return 10
            if text in SET_COMMANDS:
                return 20
            if text in OPERATOR_COMMANDS:
                return 30 if text in ("pm", "mp") else 40
            if text in _POSTFIX_COMMANDS:
                return 70
        if self.starts_atom(token) and not (kind == "num" and self.numbers_side_by_side()):
            return 40
        return None

    def starts_atom(self, token: Token) -> bool:
        if token.kind in ("num", "word", "text", "begin"):
            return True
        if token.kind == "cmd":
            return token.text not in _CLOSING_COMMANDS and token.text not in _POSTFIX_COMMANDS \
                and token.text not in RELATION_COMMANDS and token.text not in SET_COMMANDS \
                and token.text not in OPERATOR_COMMANDS and token.text != "notin"
        if token.kind == "op":
            return token.text in ("(", "\\{", "{") or (token.text == "|" and self.abs_depth == 0)
        return False

    def infix(self, left, token: Token, bp: int):
        kind, text = token.kind, token.text
        if bp == 10:
            return self.relation_chain(left)
        if bp == 15:
            return self.ratio(left)
        if bp == 20:
            self.advance()
            return SetOp(SET_COMMANDS[text], (as_set(left), as_set(self.expression(20))))
        if kind == "op" and text in ("+", "-") or kind == "cmd" and text in ("pm", "mp"):
            self.advance()
            right = self.expression(30)
            if text == "+":
                return algebra.add(left, right)
            if text == "-":
                return algebra.sub(left, right)
            return algebra.plus_minus(left, right)
        if text == "^" and kind == "op":
            self.advance()
            return self.superscript(left)
        if bp == 70:
            return self.postfix(left)
        if kind in ("op", "cmd") and (text in ("*", "/") or text in OPERATOR_COMMANDS):
            self.advance()
            right = self.expression(40)
            op = OPERATOR_COMMANDS.get(text, text) if kind == "cmd" else text
            if op == "/":
                return algebra.div(left, right)
            if op == "mod":
                algebra.need_scalars(left, right)
                return sympy.Mod(left, right)
            return algebra.mul(left, right)
        return self.juxtaposition(left)

    def juxtaposition(self, left):
        right = self.expression(40)
        if isinstance(left, Word) and isinstance(right, Word):
            return Word(left.text + " " + right.text)
        return algebra.juxtapose(left, right)

    def relation_chain(self, first):
        ops, segs = [], [first]
        while True:
            token = self.peek()
            if token.kind == "op" and token.text in _RELATION_OPS:
                op = _RELATION_OPS[token.text]
            elif token.is_op("not") and self.peek(1).is_op("="):
                self.advance()
                op = "!="
            elif token.kind == "cmd" and (token.text in RELATION_COMMANDS or token.text == "notin"):
                op = RELATION_COMMANDS.get(token.text, "notin")
            elif token.is_op("(") and self.approximation_ahead():  # 1/\sqrt3 (\approx 0.577)
                self.pos += 2
                ops.append("~")
                segs.append(self.expression(0))
                self.expect(")")
                continue
            else:
                break
            self.advance()
            ops.append(op)
            segs.append(self.expression(10))
            if len(ops) > MAX_ITEMS:
                raise ParseError("relation chain too long")
        return Rel(tuple(ops), tuple(segs))

    def approximation_ahead(self) -> bool:
        following = self.peek(1)
        return following.kind == "cmd" and RELATION_COMMANDS.get(following.text) == "~"

    def postfix(self, left):
        token = self.advance()
        if token.text == "!":
            if self.peek().is_op("!") and not self.peek().space:
                self.advance()
                algebra.need_scalars(left)
                if left.is_number and not (left.is_Integer and 0 <= left <= algebra.MAX_FACTORIAL):
                    raise ParseError("factorial out of range")
                return sympy.factorial2(left)
            return algebra.factorial(left)
        if token.text == "%":
            self.percent = True
            return left
        if token.text in ("circ", "degree"):
            return self.degrees_of(left)
        if token.text == "pmod":  # "9 \pmod{11}": the residue is the answer
            self.script_argument()
            return left
        if token.text in ("'", "prime"):
            self.pos -= 1
            return self.primes(left)
        raise ParseError(f"unexpected {token.text!r}")

    def degrees_of(self, value):
        """An angle in degrees: radians inside a function (sin 30°), else the number with a
        note that pi/180 times it is also meant."""
        if self.in_argument:
            return algebra.mul(value, sympy.pi / 180)
        self.degrees = True
        return value

    # -- atoms -------------------------------------------------------------------------------
    def prefix(self):
        start = self.pos
        value = self.atom()
        if isinstance(value, sympy.Symbol) and self.peek().is_op("("):
            return self.maybe_applied(value, start)  # \Phi(x, y), P(2) = 5
        return value

    def atom(self):
        token = self.peek()
        kind, text = token.kind, token.text
        if kind == "num":
            return self.number()
        if kind == "word":
            return self.word()
        if kind == "text":
            self.advance()
            return Word(text)
        if kind == "cmd" and text in ("pm", "mp"):
            self.advance()
            return algebra.plus_minus(self.expression(35))
        if kind == "cmd" and RELATION_COMMANDS.get(text) == "~":  # "\\approx 0.577": that value
            self.advance()
            return self.expression(10)
        if kind == "cmd":
            return self.command()
        if kind == "begin":
            return self.environment()
        if kind == "op":
            if text in ("-", "+"):
                self.advance()
                operand = self.expression(35)
                return algebra.neg(operand) if text == "-" else operand
            if text == "(":
                self.advance()
                return self.bracketed("(")
            if text == "[":
                self.advance()
                return self.bracketed("[")
            if text == "\\{":
                self.advance()
                return self.braced_set()
            if text == "{":
                self.advance()
                return self.brace_group()
            if text == "|":
                self.advance()
                return self.absolute_value("|")
        raise ParseError(f"unexpected {text or 'end'!r}")
