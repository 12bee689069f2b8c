"""The parser's handlers for LaTeX commands, functions and environments.

A mixin of ``Parser`` (parser.py), split out only to keep each file small; it uses the parser's
token stream and its ``expression`` / ``brace_group`` entry points.
"""
from __future__ import annotations

import sympy

from . import algebra
from .values import Interval, ParseError, Rel, Seq
from .vocab import (FUNCTIONS, GREEK, MATRIX_ENVIRONMENTS, STYLE_COMMANDS, TRANSPARENT_ENVIRONMENTS,
                    UNSUPPORTED)

MAX_SUM_TERMS = 1_000

_FUNCTIONS = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "cot": sympy.cot, "sec": sympy.sec,
    "csc": sympy.csc, "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan,
    "arccot": sympy.acot, "arcsec": sympy.asec, "arccsc": sympy.acsc, "sinh": sympy.sinh,
    "cosh": sympy.cosh, "tanh": sympy.tanh, "coth": sympy.coth, "sech": sympy.sech,
    "csch": sympy.csch, "arcsinh": sympy.asinh, "arccosh": sympy.acosh,
    "arctanh": sympy.atanh, "log": sympy.log, "ln": sympy.log, "exp": sympy.exp,
    "sqrt": sympy.sqrt, "abs": sympy.Abs, "floor": sympy.floor, "ceil": sympy.ceiling,
    "max": sympy.Max, "min": sympy.Min,
}
_INVERSES = {"sin": sympy.asin, "cos": sympy.acos, "tan": sympy.atan, "cot": sympy.acot,
             "sec": sympy.asec, "csc": sympy.acsc}


class CommandsMixin:
    # -- arguments ---------------------------------------------------------------------------
    def argument(self):
        """A command's TeX argument: a braced group or a single token (``\\frac12``)."""
        token = self.peek()
        if token.is_op("{"):
            self.advance()
            return self.brace_group()
        if token.kind == "num":
            value, places = algebra.number_from_literal(self.split_first_char().text)
            return value
        if token.kind == "word":
            return self.letter(self.split_first_char().text)
        if token.kind == "cmd":
            return self.command()
        raise ParseError("missing argument")

    def script_argument(self, allow_sign: bool = False):
        """The argument of ``^`` or ``_``: a group, a whole number, a letter or a command."""
        token = self.peek()
        if token.is_op("{"):
            self.advance()
            return self.brace_group()
        if allow_sign and token.is_op("-", "+"):
            self.advance()
            value = self.script_argument(allow_sign=True)
            return algebra.neg(value) if token.text == "-" else value
        if token.kind == "num":  # a plain literal: in v^2_0 the _0 is the name's, not 2's base
            value, places = algebra.number_from_literal(self.advance().text)
            self.note_places(places)
            return value
        if token.is_op("("):
            self.advance()
            return self.bracketed("(")
        return self.argument()

    def implicit_product(self):
        """A function's unbracketed argument: ``\\sin 2x`` is sin(2x), but ``\\sin b \\cos a``
        stops before the next function."""
        self.enter()
        value = self.expression(45)
        while self.starts_atom(self.peek()) and not self.is_function_start(self.peek()) \
                and not self.numbers_side_by_side():
            value = algebra.juxtapose(value, self.expression(45))
        self.depth -= 1
        return value

    def is_function_start(self, token) -> bool:
        return token.kind in ("cmd", "word") and token.text.lower() in FUNCTIONS \
            and (token.kind == "cmd" or len(token.text) > 1)

    # -- commands ----------------------------------------------------------------------------
    def command(self):
        name = self.advance().text
        if name in ("frac", "dfrac", "tfrac", "cfrac"):
            numerator = self.argument()
            return algebra.div(numerator, self.argument())
        if name == "sqrt":
            return self.root()
        if name in ("binom", "dbinom", "tbinom"):
            n = self.argument()
            return algebra.binomial(n, self.argument())
        if name == "pi":
            return sympy.pi
        if name == "infty":
            return sympy.oo
        if name in GREEK:
            return self.named_symbol(name)
        if name in FUNCTIONS:
            return self.function(name)
        if name in STYLE_COMMANDS or name in ("boxed", "overline"):
            return self.argument()
        if name == "mathbb":
            inner = self.argument()
            if inner == sympy.Symbol("R"):
                return Interval(-sympy.oo, sympy.oo, True, True)
            return sympy.Symbol(f"mathbb{{{inner}}}")
        if name in ("lfloor", "lceil"):
            inner = self.expression(0)
            closer = self.advance()
            if closer.kind != "cmd" or closer.text != ("rfloor" if name == "lfloor" else "rceil"):
                raise ParseError("unclosed floor or ceiling")
            return algebra.apply(sympy.floor if name == "lfloor" else sympy.ceiling, inner)
        if name == "lvert":
            return self.absolute_value("rvert")
        if name == "langle":
            return self.angle_tuple()
        if name in ("sum", "prod"):
            return self.big_operator(name)
        if name in ("emptyset", "varnothing"):
            return Seq("set", ())
        if name in ("dots", "ldots", "cdots"):
            return sympy.Symbol("...")
        if name in UNSUPPORTED:
            raise ParseError(f"\\{name} is not supported")
        if name in ("circ", "degree", "choose", "over", "prime", "pmod", "rangle", "rfloor",
                    "rceil", "rvert", "begin", "end", "mid"):
            raise ParseError(f"unexpected \\{name}")
        return self.named_symbol(name)  # an unknown command is just a name, never code

    def root(self):
        index = None
        if self.peek().is_op("["):
            self.advance()
            items, _ = self.bracket_items(frozenset({"]"}))
            if len(items) != 1:
                raise ParseError("bad root index")
            index = items[0]
        radicand = self.argument()
        if index is None:
            return algebra.apply(sympy.sqrt, radicand)
        return algebra.power(radicand, algebra.div(sympy.S.One, index))

    def angle_tuple(self):
        items = []
        while True:
            token = self.peek()
            if token.kind == "eof":
                raise ParseError("unclosed \\langle")
            if token.kind == "cmd" and token.text == "rangle":
                self.advance()
                break
            if token.is_op(",", ";"):
                self.advance()
                continue
            items.append(self.expression(0))
        if not items:
            raise ParseError("empty \\langle\\rangle")
        return items[0] if len(items) == 1 else Seq("tuple", tuple(items))

    def function(self, name: str):
        exponent = base = None
        if self.peek().is_op("^"):
            self.advance()
            exponent = self.script_argument(allow_sign=True)
        if self.peek().is_op("_"):
            self.advance()
            base = self.script_argument()
        self.in_argument += 1  # 30^\circ inside sin(...) is an angle: pi/6, not a unit
        try:
            if self.peek().is_op("("):
                self.advance()
                args, _ = self.bracket_items(frozenset({")"}))
            else:
                args = [self.implicit_product()]
        finally:
            self.in_argument -= 1
        if not args:
            raise ParseError(f"{name} without an argument")
        function = _FUNCTIONS.get(name)
        if exponent == -1 and name in _INVERSES:
            function, exponent = _INVERSES[name], None
        if name in ("gcd", "lcm"):
            return self.integer_function(name, args)
        if name == "det":
            if len(args) != 1 or not algebra.is_matrix(args[0]):
                raise ParseError("det of something that is not a matrix")
            value = algebra.determinant(args[0])
        elif name == "lg" or (name == "log" and base is not None):
            base = base if base is not None else sympy.Integer(10)
            value = algebra.div(algebra.apply(sympy.log, *args), algebra.apply(sympy.log, base))
        elif function is None or (len(args) != 1 and name not in ("max", "min")):
            raise ParseError(f"cannot apply {name}")
        else:
            value = algebra.apply(function, *args)
        return algebra.power(value, exponent) if exponent is not None else value

    def integer_function(self, name, args):
        if len(args) < 2 or not all(algebra.is_expr(a) and a.is_Integer for a in args):
            raise ParseError(f"{name} needs integers")
        result = args[0]
        for arg in args[1:]:
            result = sympy.gcd(result, arg) if name == "gcd" else sympy.lcm(result, arg)
        return result

    def big_operator(self, name: str):
        if not self.peek().is_op("_"):
            raise ParseError(f"\\{name} without limits")
        self.advance()
        lower = self.script_argument()
        if not (isinstance(lower, Rel) and lower.ops == ("=",)
                and isinstance(lower.segs[0], sympy.Symbol)):
            raise ParseError(f"\\{name} needs a lower limit like k=1")
        var, start = lower.segs
        if not self.peek().is_op("^"):
            raise ParseError(f"\\{name} without an upper limit")
        self.advance()
        stop = self.script_argument()
        algebra.need_scalars(start, stop)
        self.bound[var.name] = var
        try:
            body = self.implicit_product()
        finally:
            self.bound.pop(var.name, None)
        algebra.need_scalars(body)
        cls = sympy.Sum if name == "sum" else sympy.Product
        result = cls(body, (var, start, stop))
        if start.is_Integer and stop.is_Integer and 0 <= stop - start <= MAX_SUM_TERMS \
                and body.free_symbols <= {var} and all(p.exp.is_number for p in body.atoms(sympy.Pow)):
            result = result.doit()
        return result

    # -- environments ------------------------------------------------------------------------
    def environment(self):
        name = self.advance().text
        if name == "vmatrix":  # bars around a matrix: its determinant
            return algebra.determinant(self.matrix_body())
        if name == "Vmatrix":  # double bars: the length of a vector
            return algebra.norm(self.matrix_body())
        if name in MATRIX_ENVIRONMENTS:
            return self.matrix_body()
        if name in TRANSPARENT_ENVIRONMENTS:
            value = self.statement_list(frozenset({"end"}))
            self.advance()
            return value
        raise ParseError(f"unsupported environment {name}")

    def matrix_body(self):
        rows, row, cell = [], [], None
        while True:
            token = self.peek()
            if token.kind == "eof":
                raise ParseError("unclosed matrix")
            if token.kind == "end":
                self.advance()
                break
            if token.is_op("&"):
                self.advance()
                row.append(cell)
                cell = None
            elif token.is_op("\\\\"):
                self.advance()
                if cell is not None or row:
                    row.append(cell)
                    rows.append(row)
                row, cell = [], None
            elif cell is not None:
                raise ParseError("two values in one matrix cell")
            else:
                cell = self.expression(0)
        if cell is not None or row:
            row.append(cell)
            rows.append(row)
        if any(c is None for r in rows for c in r):
            raise ParseError("empty matrix cell")
        return algebra.matrix(rows)
