"""The program in a completion: the last (or first) fenced code block of the language.

A line scanner rather than a regular expression, so that megabytes of hostile fences cost one pass.
A fence is a line starting with three or more backticks (or tildes); its info string's first word
names the language ("```python"), a bare fence counts for any language. The block ends at a line
holding only the same fence character, at least as many; a block the completion never closes (the
engine cut it at max_completion_length) still counts, since its code may be whole.
"""
from __future__ import annotations

MAX_PROGRAM_CHARS = 200_000   # a longer program is not run (scores as "no code")


def _fence(line: str):
    """(fence char, length, info string) if ``line`` opens or closes a fence, else None."""
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3 or not stripped[:1] in ("`", "~"):
        return None
    char = stripped[0]
    n = len(stripped) - len(stripped.lstrip(char))
    if n < 3:
        return None
    info = stripped[n:].strip()
    if char == "`" and "`" in info:
        return None
    return char, n, info


def code_blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block of ``text`` as (language tag in lower case, code), in order."""
    blocks, open_fence, tag, body = [], None, "", []
    for line in text.split("\n"):
        fence = _fence(line)
        if open_fence is None:
            if fence is not None:
                open_fence, tag, body = fence, (fence[2].split() or [""])[0].lower(), []
            continue
        if fence is not None and fence[0] == open_fence[0] and fence[1] >= open_fence[1] and not fence[2]:
            blocks.append((tag, "\n".join(body)))
            open_fence = None
            continue
        body.append(line)
    if open_fence is not None:
        blocks.append((tag, "\n".join(body)))  # never closed: cut off at the length limit
    return blocks


def extract_program(text: str, tags: tuple[str, ...], block: str = "last", require_fence: bool = True) -> str | None:
    """The program to run, or None when the completion holds none (or one too long to run)."""
    if not isinstance(text, str):
        return None
    matching = [code for tag, code in code_blocks(text) if tag in tags and code.strip()]
    if matching:
        program = matching[-1] if block == "last" else matching[0]
    elif not require_fence and text.strip():
        program = text
    else:
        return None
    return program if len(program) <= MAX_PROGRAM_CHARS else None
