"""Find the final answer in a completion or a reference solution.

Returns candidate answer strings, best first; the caller keeps the first one that parses.
Priority: the last ``<answer>`` tag; otherwise whichever comes last of the last ``\\boxed{}``
group, a GSM8K ``#### n`` line and an "answer is" / "final answer" phrase; otherwise the last
``$...$`` / ``\\(...\\)`` / ``\\[...\\]`` group or a plain number written after it; otherwise the
whole text when it reads like a formula, then its last number.

Everything here is linear in the input: only ``str.find``/``rfind`` and regexes without nested
quantifiers run over the text, and only its last ``WINDOW`` characters are looked at.
"""
from __future__ import annotations

import re

from .normalize import repair

WINDOW = 100_000          # an answer is at the end; a 2 MB completion is cut to its tail
MAX_FRAGMENT = 4_000      # longest box / phrase handed on (the parser refuses far less)
MAX_BOXES = 20            # boxes joined into one list answer
TAIL_FOR_MATH = 20_000    # where to look for the last $...$ group and the last number
SEGMENT_CHARS = 600       # how far an "answer is ..." phrase may run
JOIN = r" \and "          # list separator the lexer understands, used to join several answers

_BOX = re.compile(r"\\(?:boxed|fbox)\b")
_MARKER = re.compile(r"final\s{0,3}answer|\banswer\s{0,3}(?:\*\*\s{0,3})?(?:is\b|:|=)")
_DELIMITER = re.compile(r"\\\$|\$\$|\$|\\\(|\\\)|\\\[|\\\]")
# The last number of prose; a clock time counts as one ("arrives at 8:34 P.M.").
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.])(?:\d{1,2}(?::\d\d){1,2}(?![\d:])(?:\s?[AaPp]\.?\s?[Mm]\b\.?)?"
    r"|-?(?:\d++(?:[.,]\d++)*+|\.\d++)(?:\s?/\s?\d++(?![.,]\d))?)")
_CHOICE = re.compile(
    r"(?:\b(?:option|choice)\s{0,3}(?:is\s{1,3})?:?\s{0,3}\(?|\()([A-E])\b\)?")
_PROSE = re.compile(r"[A-Za-z]{2,}\s++[A-Za-z]{2,}")
_COMMAND_OR_TEXT = re.compile(r"\\(?:text\w*|mbox|mathrm)\{[^{}]*+\}|\\[A-Za-z]++")
_WORD = re.compile(r"[A-Za-z]{2,}")
_SENTENCE_BREAK = re.compile(r"[.!?]\s++[A-Z]|\n\s*+\n")
_IS = re.compile(r"\bis\b")
_GSM8K_ANSWER = re.compile(r"[ \t]*+[-+$\\.(\d]")
_PURE_CONNECTOR = re.compile(r"(?:[\s,;]|\band\b|\bor\b|\\quad|\\qquad|\\text\{\s*(?:and|or)\s*\})*+",
                             re.IGNORECASE)
_BARE_ARGUMENT = re.compile(r"[^\s$]{1,50}")
_RESTART_WORDS = frozenset("""
    so then thus hence therefore wait but actually however hmm correct correction final answer
    instead sorry oops mistake check recheck rather not
    """.split())
_BARE_LETTER = re.compile(r"(?<![\\A-Za-z])[A-Za-z]")
_LABEL = re.compile(r"[A-Za-z][A-Za-z ]{0,29}:\s*+(.+)", re.DOTALL)
_NOT_WORDS = frozenset("and or text quad qquad mbox textbf textnormal".split())


def extract_answers(text: str) -> list[str]:
    """Candidate final-answer strings of ``text``, best first (possibly empty)."""
    text = repair(text[-WINDOW:])
    end_think = text.rfind("</think>")
    if end_think >= 0 and text[end_think + 8:].strip():
        text = text[end_think + 8:]
    tag = text.rfind("<answer>")
    if tag >= 0:
        close = text.find("</answer>", tag)
        inner = text[tag + 8: close if close >= 0 else tag + 8 + MAX_FRAGMENT]
        if inner.strip():
            return fragment_answers(inner)

    best_pos, best = -1, None
    box = last_box_group(text)
    if box is not None:
        best_pos, best = box[0], [box[1]]
    hashes = _last_gsm8k_line(text)
    if hashes is not None and hashes[0] > best_pos:
        best_pos, best = hashes[0], fragment_answers(hashes[1])
    marker = _last_marker(text)
    if marker is not None and marker.start() > best_pos:
        segment = _segment_after(text, marker.end())
        if segment.strip():
            best = fragment_answers(segment, cut_at_is=True)
    if best is not None:
        return best
    return _untagged_answers(text)


def _last_gsm8k_line(text: str) -> tuple[int, str] | None:
    """The last ``#### 72`` line; a markdown heading (``#### Step 2``) is not an answer."""
    end = len(text)
    for _ in range(MAX_BOXES):
        found = text.rfind("####", 0, end)
        if found < 0:
            return None
        line_end = text.find("\n", found)
        line = text[found + 4: line_end if line_end >= 0 else len(text)][:MAX_FRAGMENT]
        if _GSM8K_ANSWER.match(line) and (found == 0 or text[found - 1] != "#"):
            return found, line
        end = found
    return None


def fragment_answers(fragment: str, cut_at_is: bool = False) -> list[str]:
    """Answers inside a short piece of text known to hold the answer (a tag, a phrase)."""
    box = last_box_group(fragment)
    if box is not None:
        return [box[1]]
    if cut_at_is:
        fragment = _after_last_is(fragment)
    return _untagged_answers(fragment)


def _untagged_answers(text: str) -> list[str]:
    tail = text[-TAIL_FOR_MATH:]
    group = last_math_group(tail)
    if group is not None:
        end, content = group
        number = last_number(tail[end:])
        return [number, content] if number else [content]
    stripped = tail.strip()
    answers = []
    label = _LABEL.fullmatch(stripped) if len(stripped) <= 300 else None
    if label and not _BARE_LETTER.search(label.group(1)):
        answers.append(label.group(1))  # "Result: (2, 3)"
    formula = bool(stripped) and len(stripped) <= 300 and not looks_like_prose(stripped)
    if formula:
        answers.append(stripped)
    # A formula that fails to parse is not rescued by one of its numbers (\frac{1}{ is not 1).
    number = None if formula and ("\\" in stripped or "{" in stripped) else last_number(tail)
    if number and number not in answers:
        answers.append(number)
    choice = None
    for choice in _CHOICE.finditer(tail):
        pass
    if choice is not None and not number:  # "the correct option is (C)"
        answers.append(choice.group(1))
    if not answers and stripped and len(stripped) <= 60:  # a word answer: "No solution"
        answers.append(stripped)
    return answers


def looks_like_prose(text: str) -> bool:
    """Two plain words in a row (outside LaTeX commands and \\text{}) mean a sentence."""
    return _PROSE.search(_COMMAND_OR_TEXT.sub(" ", text)) is not None


def last_number(text: str) -> str | None:
    found = None
    for found in _NUMBER.finditer(text):
        pass
    return found.group(0) if found else None


def braced(text: str, open_at: int) -> tuple[str, int]:
    """Content of the group opening at ``text[open_at] == '{'`` and the index after it.

    An unclosed group runs to the end of the text (capped): a truncated ``\\boxed{12`` still
    holds its answer.
    """
    depth, i, limit = 0, open_at, min(len(text), open_at + MAX_FRAGMENT)
    while i < limit:
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1:i], i + 1
        i += 1
    return text[open_at + 1:limit], limit


def _box_at(text: str, start: int) -> tuple[str, int]:
    """The argument of the box command starting at ``start`` and the index after it."""
    i = start + 1
    while i < len(text) and text[i].isalpha():
        i += 1
    while i < len(text) and text[i] in " \t\n":
        i += 1
    if i < len(text) and text[i] == "{":
        return braced(text, i)
    match = _BARE_ARGUMENT.match(text, i)  # TeX's one-token argument, loosely
    return (match.group(0), match.end()) if match else ("", i)


def _box_starts(text: str):
    """Start indices of box commands, last first, found with rfind (no full scan)."""
    end = len(text)
    for _ in range(MAX_BOXES):
        found = max(text.rfind("\\boxed", 0, end), text.rfind("\\fbox", 0, end))
        if found < 0:
            return
        if _BOX.match(text, found):
            yield found
        end = found


def last_box_group(text: str) -> tuple[int, str] | None:
    """The last box and the boxes just before it that list further answers.

    Boxes join when the text between them is a short connector ("and", commas, a few words
    such as "for part (a) and"), never across a sentence break: ``\\boxed{1} and \\boxed{2}``
    is the list 1, 2, but a boxed intermediate result two sentences earlier is not.
    """
    contents, first_start, next_start = [], None, None
    for start in _box_starts(text):
        content, after = _box_at(text, start)
        if next_start is not None and not _joins(text[after:next_start]):
            break
        contents.append(content)
        first_start = start
        next_start = start
    if not contents:
        return None
    return first_start, JOIN.join(reversed(contents))


def _joins(between: str) -> bool:
    """Whether the text between two boxes lists them as one answer: nothing but punctuation
    and spacing, or a list connector (and, or, a comma) with at most three other words, none of
    them a word that starts a new statement ("so", "wait", ...)."""
    if len(between) > 200 or _SENTENCE_BREAK.search(between):
        return False
    words = [w.lower() for w in _WORD.findall(between)]
    if not words:
        return True
    if any(w in _RESTART_WORDS for w in words):
        return False
    has_connector = any(w in ("and", "or") for w in words) or "," in between or ";" in between
    return has_connector and len([w for w in words if w not in _NOT_WORDS]) <= 3


def _last_marker(text: str):
    found = None
    for found in _MARKER.finditer(text.lower()):
        pass
    return found


def _segment_after(text: str, start: int) -> str:
    """The phrase after an answer marker, up to the end of its sentence or line."""
    i, end = start, min(len(text), start + SEGMENT_CHARS)
    while i < end and text[i] in " \t\n*:\"'":
        i += 1
    begin, in_math, depth = i, None, 0
    while i < end:
        char = text[i]
        if char == "\\" and i + 1 < end:
            pair = text[i:i + 2]
            if in_math is None and pair in ("\\(", "\\["):
                in_math = ")" if pair == "\\(" else "]"
            elif in_math is not None and pair in ("\\)", "\\]") and pair[1] == in_math:
                in_math = None
            i += 2
            continue
        if char == "$":
            in_math = None if in_math == "$" else ("$" if in_math is None else in_math)
        elif char in "{}":
            depth += 1 if char == "{" else -1
        elif in_math is None and depth <= 0:
            if char == "\n":
                break
            if char in ".!?" and (i + 1 >= len(text) or text[i + 1] in " \t\n"):
                break
        i += 1
    return text[begin:i]


def _after_last_is(segment: str) -> str:
    """"The largest $n$ is 34" -> "34": the answer follows the last "is" outside math."""
    cut = None
    for match in _IS.finditer(segment):
        if segment.count("$", 0, match.start()) % 2 == 0:
            cut = match.end()
    return segment[cut:] if cut is not None and segment[cut:].strip() else segment


def math_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of each closed ``$..$``, ``$$..$$``, ``\\(..\\)``, ``\\[..\\]``."""
    spans, opener, open_end, open_start = [], None, 0, 0
    closers = {"$": "$", "$$": "$$", "\\(": "\\)", "\\[": "\\]"}
    for match in _DELIMITER.finditer(text):
        token = match.group(0)
        if token == "\\$":
            continue
        if opener is None:
            if token in closers:
                opener, open_start, open_end = token, match.start(), match.end()
        elif token == closers[opener]:
            spans.append((open_start, match.end(), text[open_end:match.start()]))
            opener = None
    return spans


def last_math_group(text: str) -> tuple[int, str] | None:
    """The last math span, joined with the spans before it that list further answers
    (``$1$ and $2$``); returns the end of the group and its content."""
    spans = math_spans(text)
    if not spans:
        return None
    group = [spans[-1]]
    for span in reversed(spans[:-1]):
        between = text[span[1]:group[-1][0]]
        if len(between) > 40 or _PURE_CONNECTOR.fullmatch(between) is None:
            break
        group.append(span)
    contents = [span[2] for span in reversed(group) if span[2].strip()]
    if not contents:
        return None
    return spans[-1][1], JOIN.join(contents)
