"""The parser's handlers for bracketed groups: ``(...)``, ``[...)``, ``\\{...\\}``, ``{...}``,
``|...|``. A mixin of ``Parser`` (parser.py), split out only to keep each file small.

A bracket pair is a tuple or an interval depending on its closing bracket and its number of
items; braces are a TeX group (``{n \\choose k}``) or, with a backslash, a set.
"""
from __future__ import annotations

import sympy

from . import algebra
from .interpret import is_name, relation_to_set
from .values import Interval, Multi, ParseError, Rel, Seq, SetOp


class GroupsMixin:
    def bracketed(self, opener: str):
        items, closer = self.bracket_items(frozenset({")", "]"}))
        pair = (opener, closer.text)
        matched = pair in (("(", ")"), ("[", "]"))
        if len(items) == 1 and matched:
            return items[0]
        if len(items) == 2 and pair != ("(", ")"):
            return Interval(items[0], items[1], opener == "(", closer.text == ")")
        if len(items) >= 2 and matched:
            return Seq("tuple", tuple(items))
        raise ParseError("mismatched or empty brackets")

    def braced_set(self):
        """``\\{1, 2\\}``, or set-builder notation ``\\{x \\mid x > 2\\}``."""
        closers = frozenset({"\\}"})
        if self.at_stop(closers):
            self.advance()
            return Seq("set", ())
        self.abs_depth += 1  # a bar after the first element is "such that", not |...|
        first = self.expression(15)
        self.abs_depth -= 1
        token = self.peek()
        if token.is_op("|", ":") or (token.kind == "cmd" and token.text == "mid"):
            self.advance()
            condition = self.expression(0)
            self.expect("\\}")
            described = relation_to_set(condition) if isinstance(condition, Rel) else None
            if described is None or not is_name(first):
                raise ParseError("unsupported set-builder notation")
            return described
        items, _ = self.bracket_items(closers)
        return Seq("set", tuple(flatten_alternatives([first] + items)))

    def brace_group(self):
        """``{...}``: a TeX group; ``{n \\choose k}`` and ``{a \\over b}`` live only here."""
        first = self.expression(0) if not self.at_stop(frozenset({"}"})) else None
        token = self.peek()
        if first is not None and token.kind == "cmd" and token.text in ("choose", "over"):
            self.advance()
            second = self.expression(0)
            self.expect("}")
            return algebra.binomial(first, second) if token.text == "choose" \
                else algebra.div(first, second)
        items, _ = self.bracket_items(frozenset({"}"}))
        items = ([first] if first is not None else []) + items
        if not items:
            raise ParseError("empty group")
        return items[0] if len(items) == 1 else Seq("list", tuple(items))

    def absolute_value(self, closer: str):
        self.abs_depth += 1
        inner = self.expression(0)
        self.abs_depth -= 1
        token = self.advance()
        if not ((token.kind == "op" and token.text == closer) or
                (token.kind == "cmd" and token.text == closer)):
            raise ParseError("unclosed absolute value")
        if algebra.is_matrix(inner):  # |A|, \\left|\\begin{array}...\\right|: a determinant
            return algebra.determinant(inner) if inner.rows == inner.cols else algebra.norm(inner)
        return algebra.apply(sympy.Abs, inner)



def flatten_alternatives(items) -> list:
    """Inside a list or set, ``1 \\pm \\sqrt 5`` is two elements."""
    out = []
    for item in items:
        out.extend(item.options if isinstance(item, Multi) else (item,))
    return out


def as_set(value):
    """An operand of ``\\cup``: a bracket pair ``(a, b)`` there can only be an open interval."""
    if isinstance(value, Seq) and value.kind == "tuple" and len(value.items) == 2:
        return Interval(value.items[0], value.items[1], True, True)
    if isinstance(value, (Interval, SetOp)) or (isinstance(value, Seq) and value.kind == "set"):
        return value
    raise ParseError("set operation on something that is not a set")
