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
from .values import ParseError
from .variants import number_variants

MAX_ANSWER_CHARS = 1_000   # an extracted answer longer than this is refused unread
REFERENCE_CACHE = 4_096


@functools.lru_cache(maxsize=REFERENCE_CACHE)
def understand(text: str) -> tuple[tuple, int | None] | None:
    """(readings, decimal places) of the first candidate answer in ``text`` that parses."""
    for candidate in extract_answers(text):
        prepared = prepare_answer(candidate)
        if not prepared or len(prepared) > MAX_ANSWER_CHARS:
            continue
        found, places = [], None
        for variant in number_variants(prepared):
            try:
                parsed = parse(variant)
                variant_readings = readings(parsed)
            except ParseError:
                continue
            except Exception:  # anything sympy raises on odd input means "not readable" too
                continue
            if parsed.places is not None:
                places = parsed.places if places is None else min(places, parsed.places)
            found.extend(r for r in variant_readings if r not in found)
        if found:
            return tuple(found), places
    return None


def score(completion, reference, rel_tol: float = 1e-4) -> float | None:
    """1.0 if equivalent, 0.0 if not, None if the reference itself cannot be read."""
    reference_text = as_text(reference)
    if reference_text is None or not reference_text.strip():
        return None
    try:
        ref = understand(reference_text)
    except Exception:  # a broken reference is unscorable, never a crash of the batch
        return None
    if ref is None:
        return None
    completion_text = as_text(completion)
    if not completion_text:
        return 0.0
    try:
        answer = _understand_uncached(completion_text)
        if answer is None:
            return 0.0
        return 1.0 if equivalent(list(ref[0]), list(answer[0]), rel_tol, ref[1], answer[1]) else 0.0
    except Exception:  # hostile text must score 0, whatever it trips over
        return 0.0


_understand_uncached = understand.__wrapped__


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


class MathReward:
    """Math answer checker. Options: ``answer_column`` (dataset column with the reference),
    ``rel_tol`` (relative tolerance when a decimal is involved), ``timeout`` (seconds per sample
    in the worker pool) and ``memory_limit_mb`` (per worker)."""

    isolate = True

    def __init__(self, answer_column: str = "answer", rel_tol: float = 1e-4,
                 timeout: float = 1.0, memory_limit_mb: int = 1024):
        if not isinstance(answer_column, str) or not answer_column:
            raise ConfigError(f"math: option 'answer_column' must be a non-empty string, got {answer_column!r}")
        if isinstance(rel_tol, bool) or not isinstance(rel_tol, (int, float)) or not 0 <= rel_tol < 1:
            raise ConfigError(f"math: option 'rel_tol' must be a number in [0, 1), got {rel_tol!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ConfigError(f"math: option 'timeout' must be a positive number of seconds, got {timeout!r}")
        if isinstance(memory_limit_mb, bool) or not isinstance(memory_limit_mb, int) or memory_limit_mb <= 0:
            raise ConfigError(f"math: option 'memory_limit_mb' must be a positive integer, got {memory_limit_mb!r}")
        self.answer_column = answer_column
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
