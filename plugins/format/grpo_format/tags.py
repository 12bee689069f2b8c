"""``format.think_answer``: is the completion ``<think>...</think><answer>...</answer>``?

Checked with ``str.count``/``str.find`` rather than one big regular expression: each test is a
linear scan, so a 2 MB completion costs milliseconds, and the partial-credit mode can report
exactly which rules held.
"""
import re

from . import _options as opt
from ._inputs import as_text

NAME = "format.think_answer"

# An XML-like name: it cannot contain '<' or '>', so one tag can never overlap another and a
# tag's first occurrence is a reliable position.
_TAG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")


def _tag(option, value):
    if not isinstance(value, str) or not _TAG_NAME.fullmatch(value):
        opt.fail(NAME, option, f"must be a tag name like 'think' (letters, digits, _ . : -), got {value!r:.60}")
    return value


def _blank(text, start, end):
    """True when text[start:end] is empty or only whitespace."""
    return start >= end or text[start:end].isspace()


class ThinkAnswer:
    """1.0 for a well-formed ``<think>...</think><answer>...</answer>`` completion, else 0.0.

    Well-formed means: each tag exactly once, in that order, only whitespace before, between and
    after the two blocks, and a non-empty answer. With ``partial=True`` the score is the share of
    those rules that hold (1.0 still only for a well-formed completion).
    """

    def __init__(self, *, think_tag="think", answer_tag="answer", require_think=True,
                 partial=False, allow_empty_think=True, think_prefilled=False):
        think_tag = _tag("think_tag", think_tag)
        answer_tag = _tag("answer_tag", answer_tag)
        if think_tag == answer_tag:
            opt.fail(NAME, "answer_tag", f"must differ from think_tag, both are {think_tag!r}")
        self.require_think = opt.boolean(NAME, "require_think", require_think)
        self.partial = opt.boolean(NAME, "partial", partial)
        self.allow_empty_think = opt.boolean(NAME, "allow_empty_think", allow_empty_think)
        self.think_prefilled = opt.boolean(NAME, "think_prefilled", think_prefilled)
        self._think = (f"<{think_tag}>", f"</{think_tag}>")
        self._answer = (f"<{answer_tag}>", f"</{answer_tag}>")

    def __call__(self, completions):
        return [self.score(as_text(c)) for c in completions]

    def score(self, text):
        if text is None:
            return None
        if self.think_prefilled:
            # The chat template already opened the think block in the prompt, so the completion
            # starts inside it; restoring the tag lets the same rules apply (a second opening
            # tag in the completion then counts as a duplicate).
            text = self._think[0] + text
        rules = self._rules(text)
        if self.partial:
            return sum(rules) / len(rules)
        return 1.0 if all(rules) else 0.0

    def _rules(self, text):
        """One bool per rule; all True exactly when the completion is well-formed."""
        open_t, close_t = self._think
        open_a, close_a = self._answer
        # Without require_think the think block is optional, but once either of its tags shows
        # up, the block has to be complete and correctly placed.
        has_think = self.require_think or open_t in text or close_t in text
        tags = [open_t, close_t, open_a, close_a] if has_think else [open_a, close_a]

        once = [text.count(tag) == 1 for tag in tags]
        pos = [text.find(tag) for tag in tags]
        ordered = all(once) and all(a < b for a, b in zip(pos, pos[1:]))

        clean = ordered and _blank(text, 0, pos[0]) and _blank(text, pos[-1] + len(tags[-1]), len(text))
        if clean and has_think:
            clean = _blank(text, pos[1] + len(close_t), pos[2])

        a_open, a_close = pos[-2], pos[-1]
        answer_ok = once[-2] and once[-1] and a_open < a_close and \
            not _blank(text, a_open + len(open_a), a_close)

        rules = once + [ordered, clean, answer_ok]
        if has_think and not self.allow_empty_think:
            rules.append(ordered and not _blank(text, pos[0] + len(open_t), pos[1]))
        return rules
