"""Readings of digit groups that depend on the writer's locale.

``7,425,000`` and ``1 000`` group thousands; ``1000,99`` and ``0,111`` use a decimal comma; but
``1,2`` may equally be the list of 1 and 2. Outside brackets such an answer is therefore read
both ways (the comparison accepts either reading); inside brackets a comma always separates.
"""
from __future__ import annotations

import re

_THOUSANDS = re.compile(r"(?<![\d.,])[1-9]\d{0,2}(?:,\d{3})++(?![\d,])")
_DECIMAL_COMMA = re.compile(r"(?<![\d.,])\d++,\d++(?![\d,.])")
# Not after an exponent or subscript (2^6 100 is a product) nor before a slash (1 125/1000 is
# a mixed number).
_SPACED_THOUSANDS = re.compile(r"(?<![\d.,^_])[1-9]\d{0,2}(?: \d{3})++(?![\d.,/])")


def _top_level(text: str) -> list[bool]:
    """For each position, whether it is outside every bracket."""
    depth, flags = 0, []
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        flags.append(depth == 0)
    return flags


def number_variants(answer: str) -> list[str]:
    """``answer`` as written, preceded by its locale reading when that differs.

    The locale reading is only tried when every comma outside brackets belongs to one digit
    group: in ``-10,-8,4`` the commas separate a list and nothing is rewritten.
    """
    if "," not in answer and " " not in answer:
        return [answer]
    top = _top_level(answer)
    commas = {i for i, char in enumerate(answer) if char == "," and top[i]}
    rewrites: dict[int, tuple[int, str]] = {}
    covered: set[int] = set()
    for pattern, replace in ((_THOUSANDS, ""), (_DECIMAL_COMMA, ".")):
        for match in pattern.finditer(answer):
            inside = {match.start() + k for k, char in enumerate(match.group(0)) if char == ","}
            if top[match.start()] and not inside & covered:
                covered |= inside
                rewrites[match.start()] = (match.end(), match.group(0).replace(",", replace))
    for match in _SPACED_THOUSANDS.finditer(answer):
        if top[match.start()] and match.start() not in rewrites:
            rewrites[match.start()] = (match.end(), match.group(0).replace(" ", ""))
    if not rewrites or (commas and covered != commas):
        return [answer]
    pieces, position = [], 0
    for start in sorted(rewrites):
        end, text = rewrites[start]
        pieces.append(answer[position:start])
        pieces.append(text)
        position = end
    pieces.append(answer[position:])
    local = "".join(pieces)
    return [local, answer] if local != answer else [answer]
