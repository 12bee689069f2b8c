"""``format.regex``: reward completions that match a user-supplied regular expression."""
import re

from . import _options as opt
from ._inputs import as_text

NAME = "format.regex"

_FLAGS = {
    "IGNORECASE": re.IGNORECASE, "I": re.IGNORECASE,
    "MULTILINE": re.MULTILINE, "M": re.MULTILINE,
    "DOTALL": re.DOTALL, "S": re.DOTALL,
    "VERBOSE": re.VERBOSE, "X": re.VERBOSE,
    "ASCII": re.ASCII, "A": re.ASCII,
    "UNICODE": re.UNICODE, "U": re.UNICODE,
}


def parse_flags(flags):
    """``"IGNORECASE,DOTALL"``, ``"I|S"``, ``["DOTALL"]`` or nothing -> an ``re`` flag value."""
    if flags is None:
        return 0
    if isinstance(flags, str):
        names = [n for n in re.split(r"[\s,|]+", flags) if n]
    elif isinstance(flags, (list, tuple)) and all(isinstance(n, str) for n in flags):
        names = [n.strip() for n in flags if n.strip()]
    else:
        opt.fail(NAME, "flags", f"must be a string like \"IGNORECASE,DOTALL\" or a list of flag names, got {flags!r:.60}")
    value = 0
    for name in names:
        key = name.upper().removeprefix("RE.")
        if key not in _FLAGS:
            known = ", ".join(k for k in _FLAGS if len(k) > 1)
            opt.fail(NAME, "flags", f"has unknown flag {name!r:.40} (known: {known})")
        value |= _FLAGS[key]
    return value


class Regex:
    """``reward_match`` when the pattern matches the completion, else ``reward_miss``.

    The pattern is compiled once. Python's ``re`` backtracks, so a pattern with nested
    quantifiers such as ``(a+)+$`` can take exponential time on some completions; keeping the
    pattern linear is the author's responsibility (anchor it, avoid nested repeats).
    """

    def __init__(self, *, pattern=None, mode="search", flags=None, reward_match=1.0, reward_miss=0.0):
        if pattern is None:
            opt.fail(NAME, "pattern", "is required (a regular expression)")
        if not isinstance(pattern, str) or not pattern:
            opt.fail(NAME, "pattern", f"must be a non-empty string, got {pattern!r:.60}")
        self.mode = opt.choice(NAME, "mode", mode, ("search", "match", "fullmatch"))
        compiled_flags = parse_flags(flags)
        try:
            self.regex = re.compile(pattern, compiled_flags)
        except (re.error, ValueError) as exc:  # ValueError: incompatible flags such as ASCII+UNICODE
            opt.fail(NAME, "pattern", f"is not a valid regular expression: {exc}")
        self.reward_match = opt.number(NAME, "reward_match", reward_match)
        self.reward_miss = opt.number(NAME, "reward_miss", reward_miss)
        self._test = getattr(self.regex, self.mode)

    def __call__(self, completions):
        return [self.score(as_text(c)) for c in completions]

    def score(self, text):
        if text is None:
            return None
        return self.reward_match if self._test(text) is not None else self.reward_miss
