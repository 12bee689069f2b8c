"""The two test formats, and how an output is judged.

stdin/stdout cases (APPS, CodeContests, LiveCodeBench): ``{"inputs": [...], "outputs": [...]}``, a
list of ``{"input", "output"}`` objects, or either as a JSON string (the way APPS stores them); each
input is fed on stdin and the program's stdout compared with the expected output.

Assert-style tests (HumanEval, MBPP): a ``test`` program appended to the completion's program and,
when an ``entry_point`` is given, ``check(<entry_point>)`` called. It passes when it exits 0 *and*
prints the run's nonce last: the nonce reaches the harness on stdin before the model's code runs,
so a program that exits early (``sys.exit(0)``, ``os._exit(0)``) before the checks fails. As in
HumanEval's harness, the program runs as a module named ``__grpo_solution__``, not ``__main__``, so
its demo block does not run. With ``strict`` (the default) the function handed to ``check`` must
return plain data (numbers, strings, None and lists, tuples, sets and dicts of them, by exact type):
an object whose ``__eq__`` always answers True would otherwise pass every ``assert f(x) == y``.
"""
from __future__ import annotations

import json
import math
import secrets

COMPARES = ("whitespace", "lines", "exact", "float")


def stdio_cases(value) -> list[tuple[bytes, str]] | None:
    """[(stdin, expected stdout)] from a ``tests`` value; None when it holds no usable case."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    if isinstance(value, dict):
        inputs = value.get("inputs", value.get("input"))
        outputs = value.get("outputs", value.get("output"))
        if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
            return None
        pairs = list(zip(inputs, outputs))
    elif isinstance(value, list):
        if not all(isinstance(case, dict) for case in value):
            return None
        pairs = [(case.get("input", case.get("stdin")), case.get("output", case.get("stdout"))) for case in value]
    else:
        return None
    cases = []
    for given, expected in pairs:
        given, expected = _text(given), _text(expected)
        if given is None or expected is None:
            return None  # a case we cannot read: the sample cannot be judged
        cases.append((given.encode("utf-8", "surrogatepass"), expected))
    return cases or None


def _text(value) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(line if line.endswith("\n") else line + "\n" for line in value)
    return None


def same_output(actual: bytes, expected: str, compare: str, float_tol: float) -> bool:
    got = actual.decode("utf-8", "replace")
    if compare == "exact":
        return got == expected
    if compare == "lines":
        return _lines(got) == _lines(expected)
    got_tokens, want_tokens = got.split(), expected.split()
    if compare == "whitespace" or len(got_tokens) != len(want_tokens):
        return got_tokens == want_tokens
    return all(_close(a, b, float_tol) for a, b in zip(got_tokens, want_tokens))


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _close(got: str, want: str, tol: float) -> bool:
    if got == want:
        return True
    if len(got) > 64 or len(want) > 64:  # no number is written that long; and float() of it costs
        return False
    try:
        a, b = float(got), float(want)
    except ValueError:
        return False
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(a - b) <= tol * max(1.0, abs(b))


HARNESS = """import os as _grpo_os, sys as _grpo_sys
def _grpo_run(source, entry_point, strict):
    nonce = _grpo_sys.stdin.buffer.readline().strip()
    write, kind, plain = _grpo_os.write, type, (int, float, complex, str, bytes, bool, type(None))
    boxes = (list, tuple, set, frozenset)

    def is_data(value, depth=0):
        if depth > 50:
            return False
        if kind(value) in plain:
            return True
        if kind(value) in boxes:
            return all(is_data(v, depth + 1) for v in value)
        if kind(value) is dict:
            return all(is_data(k, depth + 1) and is_data(v, depth + 1) for k, v in value.items())
        return False

    def guarded(function):
        def candidate(*args, **kwargs):
            value = function(*args, **kwargs)
            if not is_data(value):  # an object whose __eq__ says yes to everything passes no test
                raise TypeError("the candidate returned " + kind(value).__name__ + ", not plain data")
            return value
        return candidate

    namespace = {{"__name__": "__grpo_solution__", "__builtins__": __builtins__}}
    exec(compile(source, "solution.py", "exec"), namespace)
    if entry_point:
        function = namespace[entry_point]
        namespace["check"](guarded(function) if strict else function)
    _grpo_sys.stdout.flush()
    write(1, b"\\n" + nonce + b"\\n")
_grpo_run({source!r}, {entry_point!r}, {strict!r})
"""


def assert_program(program: str, test: str, entry_point: str | None, strict: bool = True) -> tuple[str, bytes, bytes]:
    """(harness source, its stdin, the nonce it must print last) for an assert-style test."""
    nonce = secrets.token_hex(16).encode()
    source = HARNESS.format(source=program + "\n\n" + test + "\n", entry_point=entry_point or "", strict=strict)
    return source, nonce + b"\n", nonce


def assert_passed(stdout: bytes, nonce: bytes) -> bool:
    lines = stdout.rstrip(b"\n").rsplit(b"\n", 1)
    return lines[-1] == nonce
