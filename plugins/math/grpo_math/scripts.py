"""The parser's handlers for names with scripts: subscripts, primes, stars and daggers.

A mixin of ``Parser`` (parser.py). Physics and olympiad answers name quantities with
decorated letters (``I_{\\max}``, ``k_{\\mathrm{B}} T_{\\mathrm{s}}``, ``\\omega_L'``, ``v^2_0``,
``x^*``). Each such name becomes one ``sympy.Symbol`` whose name is a canonical spelling, so
that the many ways of typing the same name meet: the subscript is reduced to a label (font
commands and braces dropped: ``_{\\mathrm{B}}``, ``_{\\text{B}}``, ``_B`` are all ``B``), and
marks (primes, ``*``, daggers) follow it in the order written: ``omega_L'``. A superscript
that is not a mark is a power, and a subscript written after it still belongs to the name
(``v^2_0`` is ``v_0^2``, as TeX typesets it).
"""
from __future__ import annotations

import sympy

from . import algebra
from .values import ParseError, Seq, Word
from .vocab import FUNCTIONS, GREEK, GREEK_VARIANTS, KNOWN_COMMANDS, STYLE_COMMANDS

# Old-style font switches (``_{\rm max}``): dropped inside a subscript label, like \mathrm.
_FONT_SWITCHES = frozenset("rm bf it sf tt cal mit".split())
# What a superscript or postfix mark is written with, and the character it adds to the name.
_MARK_COMMANDS = {"prime": "'", "ast": "*", "star": "*", "dagger": "\u2020", "ddagger": "\u2021"}
_MARK_OPS = {"'": "'", "*": "*"}
_MARKS = frozenset(_MARK_COMMANDS.values())
MAX_LABEL_TOKENS = 40


class ScriptsMixin:
    # -- names -------------------------------------------------------------------------------
    def named_symbol(self, name: str):
        """A symbol, with its subscript folded into the name: ``a_{37}`` -> ``a_37``."""
        name = GREEK_VARIANTS.get(name, name)  # \varepsilon_0 and \epsilon_0 are one constant
        if not self.peek().is_op("_"):
            return sympy.Symbol(name)
        self.advance()
        return sympy.Symbol(f"{name}_{self.subscript_text()}")

    def with_subscript(self, symbol):
        """``\\omega'_L``: a subscript after marks joins the name before them (``omega_L'``)."""
        self.advance()  # _
        label = self.subscript_text()
        base = symbol.name.rstrip("".join(_MARKS))
        if "_" in base:
            raise ParseError("two subscripts on one name")
        return sympy.Symbol(f"{base}_{label}{symbol.name[len(base):]}")

    def subscript_text(self) -> str:
        token = self.peek()
        if token.is_op("{"):
            label = self.label_group()
            if label is not None:
                return label
            self.advance()
            return "{" + str(self.brace_group()) + "}"
        if token.kind == "num":
            return self.advance().text
        if token.kind == "word":
            return self.split_first_char().text
        if token.kind == "text":
            return "".join(self.advance().text.split())
        if token.kind == "cmd":
            name = self.advance().text
            if name in STYLE_COMMANDS or name in _FONT_SWITCHES:
                return self.subscript_text()  # _\mathrm{B} is _B
            return name
        raise ParseError("bad subscript")

    def label_group(self) -> str | None:
        """The label of a braced subscript made only of letters, digits, names and font
        commands (``{\\mathrm{max}}``, ``{\\text{B}}``, ``{1,2}``, ``{\\alpha}``): the same
        label however it is styled. None (nothing consumed) for anything else, such as the
        expression in ``a_{n+1}``."""
        depth, parts, end = 0, [], self.pos
        limit = min(len(self.tokens), self.pos + MAX_LABEL_TOKENS)
        while end < limit:
            token = self.tokens[end]
            end += 1
            if token.is_op("{"):
                depth += 1
            elif token.is_op("}"):
                depth -= 1
                if depth == 0:
                    break
            elif token.kind in ("num", "word"):
                parts.append(token.text)
            elif token.kind == "text":
                parts.append("".join(token.text.split()))
            elif token.kind == "cmd" and (token.text in STYLE_COMMANDS
                                          or token.text in _FONT_SWITCHES):
                continue
            elif token.kind == "cmd" and _names_in_label(token.text):
                parts.append(GREEK_VARIANTS.get(token.text, token.text))
            elif token.is_op(","):
                parts.append(",")
            else:
                return None
        if depth != 0 or not parts:
            return None
        self.pos = end
        return "".join(parts)

    # -- function notation -------------------------------------------------------------------
    def maybe_applied(self, symbol, start: int):
        """``\\Phi(x, y)``: a name before a bracket is a function applied to it when the bracket
        holds several arguments (a number times a tuple means nothing), or when the answer
        starts by defining it at simple arguments (``P(2) = 5``, ``T(n) = n^2``). Otherwise the
        bracket is a factor, as before: ``x(x+1)``, ``a(b+c) = 0``, ``k(1) + 2``. A capital
        letter before numbers, not defined by an ``=``, is a point: ``A(1, 2)`` is ``(1, 2)``."""
        if symbol.name in self.bound or not symbol.name[:1].isalpha():
            return symbol
        shape = self.bracket_shape()
        if shape is None:
            return symbol
        several, simple, after = shape
        defined = simple and self.peek(after).is_op("=") and self.starts_statement(start)
        if not (several or defined):
            return symbol
        self.advance()  # (
        args, _ = self.bracket_items(frozenset({")"}))
        algebra.need_scalars(*args)
        letter = symbol.name.split("_")[0]
        if several and not defined and len(letter) == 1 and letter.isupper() \
                and all(arg.is_number for arg in args):
            return Seq("tuple", tuple(args))  # the point A(1, 2) is its coordinates
        return sympy.Function(symbol.name)(*args)

    def bracket_shape(self) -> tuple[bool, bool, int] | None:
        """For the ``(`` at the cursor: whether it holds several comma-separated items, whether
        each is one number, letter or Greek name, and the offset of the token after its ``)``.
        None when it does not close with ``)``. A linear scan of the tokens, nothing parsed."""
        depth, offset, several, simple, item = 0, 0, False, True, 0
        while True:
            token = self.peek(offset)
            if token.kind == "eof":
                return None
            if token.kind == "op" and token.text in ("(", "[", "{", "\\{"):
                depth += 1
                simple = simple and depth == 1
            elif token.kind == "op" and token.text in (")", "]", "}", "\\}"):
                depth -= 1
                if depth == 0:
                    return (several, simple and item == 1, offset + 1) if token.text == ")" \
                        else None
            elif depth == 1 and (token.is_op(",", ";")):
                several, simple, item = True, simple and item == 1, 0
            elif depth == 1 and token.is_op("-") and item == 0:
                pass  # P(-1) = 3: a signed number is still one simple argument
            elif depth == 1:
                item += 1
                simple = simple and (token.kind == "num"
                                     or (token.kind == "word" and len(token.text) == 1)
                                     or (token.kind == "cmd" and token.text in GREEK))
            offset += 1

    def starts_statement(self, start: int) -> bool:
        before = self.tokens[start - 1] if start > 0 else None
        return before is None or before.kind in ("sep", "implies") or before.is_op(",", ";")

    # -- marks -------------------------------------------------------------------------------
    def marks_ahead(self, offset: int = 0) -> tuple[str, int] | None:
        """Marks written as a superscript at ``offset`` (``\\prime``, ``{\\prime\\prime}``,
        ``*``, ``{\\dagger}``, ``{''}``): the characters they add and the tokens they span."""
        first = self.peek(offset)
        single = self.mark_of(first)
        if single is not None:
            return single, 1
        if not first.is_op("{"):
            return None
        marks, index = "", offset + 1
        while (mark := self.mark_of(self.peek(index))) is not None and index - offset < 10:
            marks, index = marks + mark, index + 1
        if marks and self.peek(index).is_op("}"):
            return marks, index - offset + 1
        return None

    @staticmethod
    def mark_of(token) -> str | None:
        if token.kind == "cmd":
            return _MARK_COMMANDS.get(token.text)
        if token.kind == "op":
            return _MARK_OPS.get(token.text)
        return None

    def marked(self, base, marks: str):
        """``x'``, ``x^*``, ``a^\\dagger``: a new name, never arithmetic."""
        if not isinstance(base, sympy.Symbol) or base.name in self.bound:
            raise ParseError("a prime or star on something that is not a name")
        symbol = sympy.Symbol(base.name + marks)
        return self.with_subscript(symbol) if self.peek().is_op("_") else symbol

    def primes(self, base):
        """Postfix primes (``f'``, ``x''``, ``x\\prime``)."""
        marks = ""
        while self.peek().is_op("'") or (self.peek().kind == "cmd" and self.peek().text == "prime"):
            self.advance()
            marks += "'"
        return self.marked(base, marks)

    # -- superscripts ------------------------------------------------------------------------
    def superscript(self, base):
        token = self.peek()
        if token.kind == "cmd" and token.text in ("circ", "degree"):
            self.advance()
            return self.degrees_of(base)
        if token.is_op("{") and self.peek(1).kind == "cmd" and self.peek(1).text == "circ" \
                and self.peek(2).is_op("}"):
            self.pos += 3
            return self.degrees_of(base)
        marks = self.marks_ahead()
        if marks is not None:
            self.pos += marks[1]
            return self.marked(base, marks[0])
        exponent = self.script_argument(allow_sign=True)
        if isinstance(base, Word):  # cm^2: the power belongs to the unit
            return base
        if self.peek().is_op("_") and isinstance(base, sympy.Symbol) and base.name not in self.bound:
            base = self.with_subscript(base)  # v^2_0 is v_0 squared
        return algebra.power(base, exponent)


def _names_in_label(command: str) -> bool:
    """Commands that stand for a name inside a subscript (``\\max``, ``\\alpha``, ``\\hbar``),
    not for structure (``\\frac``, ``\\sqrt``, ``\\cdot``)."""
    return command in GREEK or command in FUNCTIONS or command == "infty" \
        or command not in KNOWN_COMMANDS
