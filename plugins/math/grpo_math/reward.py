"""The ``math`` reward: 1.0 when a completion's final answer equals the reference, else 0.0.

``score`` is the whole pipeline for one pair: extract (extract.py), parse (parser.py), list the
readings (interpret.py), compare (compare.py). References repeat G times per prompt in GRPO, so
a reference is parsed once and cached.
"""
from __future__ import annotations

import functools
import math

from grpo_rewards import ConfigError

from .compare import equivalent
from .extract import extract_answers
from .interpret import readings
from .normalize import prepare_answer
from .parser import parse
from .variants import number_variants

MAX_ANSWER_CHARS = 1_000   # an extracted answer longer than this is refused unread
MAX_READINGS = 12          # readings kept per answer (all its number spellings together)
REFERENCE_CACHE = 4_096


def read_answer(text: str) -> tuple[tuple, int | None] | None:
    """(readings, decimal places) of the first candidate answer in ``text`` that parses, or
    None when no candidate does."""
    for candidate in extract_answers(text):
        prepared = prepare_answer(candidate)
        if not prepared or len(prepared) > MAX_ANSWER_CHARS:
            continue
        found, places = [], None
        for variant in number_variants(prepared):
            try:
                parsed = parse(variant)
                variant_readings = readings(parsed)
            except Exception:  # ParseError, or anything sympy raises on odd input: unreadable
                continue
            if parsed.places is not None:
                places = parsed.places if places is None else min(places, parsed.places)
            found.extend(r for r in variant_readings if r not in found)
        if found:
            return tuple(found[:MAX_READINGS]), places
    return None


# In GRPO each reference is compared with G completions: read it once.
read_reference = functools.lru_cache(maxsize=REFERENCE_CACHE)(read_answer)


def score(completion, reference, rel_tol: float = 1e-4) -> float | None:
    """1.0 if equivalent, 0.0 if not, None if the reference itself cannot be read."""
    reference_text = as_text(reference)
    if reference_text is None or not reference_text.strip():
        return None
    try:
        ref = read_reference(reference_text)
    except Exception:  # a broken reference is unscorable, never a crash of the batch
        return None
    if ref is None:
        return None
    completion_text = as_text(completion)
    if not completion_text:
        return 0.0
    try:
        answer = read_answer(completion_text)
        if answer is None:
            return 0.0
        return 1.0 if equivalent(list(ref[0]), list(answer[0]), rel_tol, ref[1], answer[1]) else 0.0
    except Exception:  # hostile text must score 0, whatever it trips over
        return 0.0


def as_text(value) -> str | None:
    """Completion or reference as text: strings, chat messages, numbers."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return as_text(value.get("content"))
    if isinstance(value, (list, tuple)):
        texts = [as_text(item) for item in value]
        texts = [t for t in texts if t]
        return texts[-1] if texts else None
    return None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bad_option(name: str, expected: str, value) -> None:
    raise ConfigError(f"math: option {name!r} must be {expected}, got {value!r}")


class MathReward:
    """Math answer checker. Options: ``answer_column`` (dataset column with the reference),
    ``rel_tol`` (relative tolerance when a decimal is involved), ``timeout`` (seconds per sample
    in the worker pool) and ``memory_limit_mb`` (per worker)."""

    isolate = True

    def __init__(self, answer_column: str = "answer", rel_tol: float = 1e-4,
                 timeout: float = 1.0, memory_limit_mb: int = 1024):
        if not isinstance(answer_column, str) or not answer_column:
            _bad_option("answer_column", "a non-empty string", answer_column)
        if not _is_number(rel_tol) or not 0 <= rel_tol < 1:
            _bad_option("rel_tol", "a number in [0, 1)", rel_tol)
        if not _is_number(timeout) or not timeout > 0:
            _bad_option("timeout", "a positive number of seconds", timeout)
        if not _is_number(memory_limit_mb) or not isinstance(memory_limit_mb, int) \
                or memory_limit_mb <= 0:
            _bad_option("memory_limit_mb", "a positive integer", memory_limit_mb)
        self.answer_column = answer_column
        self.columns = (answer_column,)  # the engine checks the dataset has it before training starts
        self.rel_tol = float(rel_tol)
        self.timeout = float(timeout)
        self.memory_limit_mb = memory_limit_mb

    def __call__(self, completions, **fields) -> list[float | None]:
        if self.answer_column not in fields:
            have = ", ".join(sorted(fields)) or "none"
            raise ConfigError(f"math: the batch has no column {self.answer_column!r} holding the "
                              f"reference answers (columns: {have}); set the option 'answer_column'")
        references = list(fields[self.answer_column])
        references += [None] * (len(completions) - len(references))  # a short column: unscorable
        return [score(completion, reference, self.rel_tol)
                for completion, reference in zip(completions, references)]
