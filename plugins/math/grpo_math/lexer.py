"""Tokenizer for the LaTeX + plain-text maths subset that final answers are written in.

Token kinds: ``num`` (digits as written, already validated), ``word`` (a run of letters), ``cmd``
(a LaTeX control word), ``text`` (the prose inside ``\\text{}``), ``begin``/``end``
(environments), ``sep`` (a list separator: "and", "or", a ``\\text{ and }``), ``implies``, and
``op`` (punctuation and operators). Spacing and sizing commands are dropped here so the parser
never sees them.
"""
from __future__ import annotations

from dataclasses import dataclass

from .normalize import known_prefix
from .values import ParseError
from .vocab import CONNECTOR_WORDS, FUNCTIONS, IGNORED, IMPLIES, KNOWN_COMMANDS, SKIP_ARG, TEXT_COMMANDS

MAX_TOKENS = 800
MAX_TEXT_NESTING = 3

_DIGITS = "0123456789"  # ASCII only: str.isdigit() also accepts superscripts and other scripts
_DIGITS_SET = frozenset(_DIGITS)
_TWO_CHAR_OPS = {"<=": "<=", ">=": ">=", "!=": "!=", "=<": "<=", "**": "^", "==": "=", ":=": "=",
                 "=>": "implies"}
_SPACE_ESCAPES = frozenset(",;:! ")
_ESCAPED_OPS = {"{": "\\{", "}": "\\}", "%": "%", "|": "|", "\\": "\\\\", "&": "&", "_": "_"}
# Text that holds any of these is maths written in text mode (\text{(C)}, \text{5 cm}); other
# text is prose or a unit (\text{ m/s}).
_MATHS_CHARS = frozenset("0123456789=+^<>()[]\\")
_APPROX_WORDS = frozenset(("approximately", "approx"))


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    space: bool = False  # whitespace came right before it

    def is_op(self, *texts: str) -> bool:
        return self.kind == "op" and self.text in texts


class _Lexer:
    def __init__(self, source: str, nesting: int = 0):
        self.s = source
        self.i = 0
        self.tokens: list[Token] = []
        self.space = False
        self.nesting = nesting

    def emit(self, kind: str, text: str) -> None:
        if len(self.tokens) >= MAX_TOKENS:
            raise ParseError("answer too long")
        self.tokens.append(Token(kind, text, self.space))
        self.space = False

    def group(self) -> str | None:
        """Raw content of a ``{...}`` group at the cursor (after spaces), or None."""
        s, i = self.s, self.i
        while i < len(s) and s[i] in " \t\n":
            i += 1
        if i >= len(s) or s[i] != "{":
            return None
        depth, j = 0, i
        while j < len(s):
            if s[j] == "\\":
                j += 2
                continue
            if s[j] == "{":
                depth += 1
            elif s[j] == "}":
                depth -= 1
                if depth == 0:
                    self.i = j + 1
                    return s[i + 1:j]
            j += 1
        raise ParseError("unbalanced braces")

    def run(self) -> list[Token]:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\n\r~":
                self.space = True
                self.i += 1
            elif c in _DIGITS or (c == "." and s[self.i + 1:self.i + 2] in _DIGITS_SET):
                self.number()
            elif c.isascii() and c.isalpha():
                self.letters()
            elif c == "\\":
                self.command()
            elif c == "$":
                self.i += 1  # a currency sign or a stray delimiter
            else:
                pair = s[self.i:self.i + 2]
                if pair in _TWO_CHAR_OPS:
                    op = _TWO_CHAR_OPS[pair]
                    self.emit("implies" if op == "implies" else "op", op)
                    self.i += 2
                else:
                    self.emit("op", c)
                    self.i += 1
        return self.tokens

    def number(self) -> None:
        s, start = self.s, self.i
        i = start
        while i < len(s) and s[i] in _DIGITS:
            i += 1
        if i < len(s) and s[i] == "." and s[i + 1:i + 2] in _DIGITS_SET:
            i += 1
            while i < len(s) and s[i] in _DIGITS:
                i += 1
        text = s[start:i]
        # 1.5e-3: scientific notation only when written tight against the mantissa.
        if i < len(s) and s[i] in "eE":
            j = i + 1
            if j < len(s) and s[j] in "+-":
                j += 1
            k = j
            while k < len(s) and s[k] in _DIGITS:
                k += 1
            if k > j and not s[k:k + 1].isalpha():
                text, i = text + "e" + s[i + 1:k], k
        self.i = i
        self.emit("num", text)

    def letters(self) -> None:
        s, start = self.s, self.i
        i = start
        while i < len(s) and s[i].isascii() and s[i].isalpha():
            i += 1
        word = s[start:i]
        self.i = i
        previous = self.tokens[-1] if self.tokens else None
        glued_after_answer = previous is not None and not self.space and (
            previous.kind == "num" or previous.is_op(")", "]"))
        for connector in ("and", "or"):
            # "(11,7)or(7,11)", "W(x)=1orW(x)=-1": a connector glued between two answers.
            if glued_after_answer and word.startswith(connector) and word != connector:
                self.emit("sep", connector)
                word = word[len(connector):]
                break
        if word.lower() in _APPROX_WORDS:  # "\\frac{\\sqrt3}{3} (approx. 0.577)" is \\approx
            self.emit("cmd", "approx")
            if s[self.i:self.i + 1] == ".":
                self.i += 1
        elif word.lower() in CONNECTOR_WORDS:
            self.emit("sep", word.lower())
        else:
            self.emit("word", word)

    def command(self) -> None:
        s = self.s
        self.i += 1
        if self.i >= len(s):
            return
        c = s[self.i]
        if not (c.isascii() and c.isalpha()):
            self.i += 1
            if c in _SPACE_ESCAPES:
                self.space = True
            elif c in _ESCAPED_OPS:
                self.emit("op", _ESCAPED_OPS[c])
            elif c == "$" or c == "#":
                pass
            else:
                self.emit("op", "\\" + c)
            return
        start = self.i
        while self.i < len(s) and s[self.i].isascii() and s[self.i].isalpha():
            self.i += 1
        name = s[start:self.i]
        if name not in KNOWN_COMMANDS and name != "and":
            prefix = known_prefix(name)
            if prefix is not None:  # "\quadx" is "\quad x"
                self.i = start + len(prefix)
                name = prefix
        self.control_word(name)

    def control_word(self, name: str) -> None:
        s = self.s
        if name in IGNORED:
            self.space = True
            if name in ("left", "right", "middle") and s[self.i:self.i + 1] == ".":
                self.i += 1  # \left. is an invisible delimiter
            return
        if name in SKIP_ARG:
            self.group()
            return
        if name == "and":
            self.emit("sep", "and")
        elif name in IMPLIES:
            self.emit("implies", name)
        elif name in TEXT_COMMANDS:
            self.text_command()
        elif name in ("begin", "end"):
            env = self.group()
            if env is None:
                raise ParseError(f"\\{name} without an environment name")
            env = env.strip()
            self.emit(name, env)
            if name == "begin" and env == "array":
                self.group()  # the column specification
        elif name == "operatorname":
            inner = (self.group() or "").strip()
            self.emit("cmd" if inner in FUNCTIONS else "word", inner)
        elif name == "lbrace" or name == "rbrace":
            self.emit("op", "\\{" if name == "lbrace" else "\\}")
        elif name == "not":
            self.emit("op", "not")
        else:
            self.emit("cmd", name)

    def text_command(self) -> None:
        content = self.group()
        if content is None:
            return
        stripped = content.strip()
        if not stripped:
            self.space = True
        elif stripped.lower() in CONNECTOR_WORDS or stripped == ",":
            self.emit("sep", stripped.lower())
        elif stripped.lower().rstrip(".") in _APPROX_WORDS:
            self.emit("cmd", "approx")
        elif any(ch in _MATHS_CHARS for ch in stripped):
            # \text{(C)}, \text{5 cm}: maths written in text mode is still maths.
            if self.nesting >= MAX_TEXT_NESTING:
                raise ParseError("text nested too deeply")
            space_before = self.space
            inner = _Lexer(stripped, self.nesting + 1).run()
            if inner:
                inner[0] = Token(inner[0].kind, inner[0].text, space_before or inner[0].space)
            if len(self.tokens) + len(inner) > MAX_TOKENS:
                raise ParseError("answer too long")
            self.tokens.extend(inner)
            self.space = True
        else:
            self.emit("text", " ".join(stripped.split()))
            self.space = True


def tokenize(source: str) -> list[Token]:
    """Tokens of ``source``, ending with an ``eof`` token."""
    tokens = _Lexer(source).run()
    tokens.append(Token("eof", ""))
    return tokens
