"""reasoning-gym datasets as grpo tasks: ``factory(split, seed, n, **options)`` returns ``n`` rows.

A row is ``{"prompt": question, "answer": reference, "entry": the reasoning-gym entry}``; the
``reasoning_gym`` reward scores a completion against ``entry`` with the dataset's own checker.
``options`` are the dataset's config (``min_terms``, ``max_digits``, ...), passed to
``reasoning_gym.create_dataset``.

Train and test never share a question, for any pair of seeds: reasoning-gym draws entry ``i`` of
seed ``s`` from ``Random(s + i)``, so two seeds overlap almost entirely, and a seed alone cannot
separate the splits. Each question is instead assigned to the held-out part of the question space by
a stable hash of its text (``holdout``, 20% by default): the test split keeps only held-out questions,
the train split only the others, and each split draws from its own stream (seeded from split and
seed). Within a call the questions are distinct; a task whose space is too small to give ``n``
distinct questions of the split gives fewer.
"""
from __future__ import annotations

import zlib

from grpo_rewards import ConfigError

from .names import UNSAFE, refusal

# Each task's checker, kept from the dataset that generated its rows (so it has the run's config, and so
# the worker processes forked after the rows were made inherit it instead of each building its own:
# arc_agi's takes 1.5 s to build, close to a sample's time limit).
CHECKERS: dict = {}

SPLITS = {"train": "train", "test": "test", "eval": "test", "validation": "test", "valid": "test"}
MAX_DRAWS_PER_ROW = 20   # draws tried per wanted row before settling for fewer (tiny question spaces)


def held_out(question: str, holdout: float) -> bool:
    return zlib.crc32(question.encode("utf-8", "surrogatepass")) % 10_000 < round(holdout * 10_000)


def generate(name: str, split: str = "train", seed: int = 0, n: int = 1000, *, holdout: float = 0.2,
             **options) -> list[dict]:
    if name in UNSAFE:
        raise ConfigError(refusal(name))
    if not isinstance(split, str) or split.strip().lower() not in SPLITS:
        raise ValueError(f"reasoning_gym.{name}: unknown split {split!r:.40} (use 'train' or 'test')")
    test = SPLITS[split.strip().lower()] == "test"
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 < holdout < 1:
        raise ValueError(f"reasoning_gym.{name}: option holdout must be a number in (0, 1), got {holdout!r:.40}")
    import reasoning_gym  # 1.5 s: only when a task is used

    draws = n * MAX_DRAWS_PER_ROW + 100
    stream = zlib.crc32(f"{name}/{SPLITS[split.strip().lower()]}/{seed}".encode())
    try:
        dataset = reasoning_gym.create_dataset(name, seed=stream, size=draws, **options)
    except (TypeError, ValueError, AssertionError, KeyError) as exc:  # unknown or invalid config options
        raise ValueError(f"reasoning_gym.{name}: {type(exc).__name__}: {exc}") from None
    CHECKERS[name] = dataset.score_answer
    rows, seen = [], set()
    for index in range(draws):
        entry = dataset[index]
        question = entry["question"]
        if question in seen or held_out(question, holdout) != test:
            continue
        seen.add(question)
        rows.append({"prompt": question, "answer": entry["answer"], "entry": entry})
        if len(rows) == n:
            break
    return rows


def task(name: str):
    """The task factory registered as ``reasoning_gym.<name>``."""
    def factory(split: str = "train", seed: int = 0, n: int = 1000, **options) -> list[dict]:
        return generate(name, split, seed, n, **options)

    factory.__name__ = factory.__qualname__ = f"reasoning_gym_{name}"
    factory.__doc__ = f"reasoning-gym's {name!r} dataset: rows with prompt, answer and entry."
    return factory
