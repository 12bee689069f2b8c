"""The ``reasoning_gym`` reward: a completion's answer scored by its task's own ``score_answer``.

The answer is the text of the last ``<answer>...</answer>`` of the completion (reasoning-gym's
convention; ``answer_tag = ""`` takes the whole completion), handed with the row's ``entry`` to the
checker of the dataset that made it (``entry["metadata"]["source_dataset"]``, so a composite dataset
is scored entry by entry). Its score is reasoning-gym's: 1.0 for a correct answer, lower otherwise,
often with partial credit. A checker that raises on an answer scores it 0.0 (a wrong answer); a row
without an entry is unscorable (None).

Checkers run in the worker pool (isolated): some search or simulate, and a hostile answer must not
stall a training step. A task's checker comes from the dataset that generated its rows when this
process made them (its config, already built before the workers fork), else from reasoning-gym's
``get_score_answer_fn``. Checkers that evaluate the answer as code are never run (names.UNSAFE).
"""
from __future__ import annotations

import re

from grpo_rewards import ConfigError
from grpo_rewards.text import as_text

from .names import UNSAFE, refusal
from .tasks import CHECKERS


class ReasoningGymReward:
    """Options: ``entry_column`` ("entry"), ``answer_tag`` ("answer"; "" for the whole completion),
    ``timeout`` (2.0 s per sample) and ``memory_limit_mb`` (1024) of the worker."""

    isolate = True

    def __init__(self, entry_column: str = "entry", answer_tag: str = "answer", timeout: float = 2.0,
                 memory_limit_mb: int = 1024):
        if not isinstance(entry_column, str) or not entry_column:
            raise ConfigError(f"reasoning_gym: option 'entry_column' must be a non-empty string, got {entry_column!r}")
        if not isinstance(answer_tag, str) or not re.fullmatch(r"[A-Za-z0-9_:-]*", answer_tag):
            raise ConfigError(f"reasoning_gym: option 'answer_tag' must be a tag name or \"\", got {answer_tag!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ConfigError(f"reasoning_gym: option 'timeout' must be a positive number of seconds, got {timeout!r}")
        if isinstance(memory_limit_mb, bool) or not isinstance(memory_limit_mb, int) or memory_limit_mb <= 0:
            raise ConfigError(f"reasoning_gym: option 'memory_limit_mb' must be a positive integer, "
                              f"got {memory_limit_mb!r}")
        import reasoning_gym.factory  # imported here, once, so forked workers inherit it

        self._factory = reasoning_gym.factory
        self.entry_column, self.answer_tag = entry_column, answer_tag
        self.timeout, self.memory_limit_mb = float(timeout), memory_limit_mb
        self._pattern = re.compile(rf"<{answer_tag}>(.*?)</{answer_tag}>", re.DOTALL) if answer_tag else None
        self._checkers: dict = {}

    def __call__(self, completions, **fields) -> list[float | None]:
        if self.entry_column not in fields:
            have = ", ".join(sorted(fields)) or "none"
            raise ConfigError(f"reasoning_gym: the batch has no column {self.entry_column!r} holding the "
                              f"reasoning-gym entries (columns: {have}); set the option 'entry_column'")
        return [self._score(c, e) for c, e in zip(completions, fields[self.entry_column])]

    def answer(self, completion) -> str | None:
        """The answer a completion gives: its last answer tag's text (stripped), or None."""
        text = as_text(completion)
        if text is None:
            return None
        if self._pattern is None:
            return text.strip()
        found = self._pattern.findall(text)
        return found[-1].strip() if found else None

    def _score(self, completion, entry) -> float | None:
        metadata = entry.get("metadata") if isinstance(entry, dict) else None
        name = metadata.get("source_dataset") if isinstance(metadata, dict) else None
        if not isinstance(name, str):
            return None
        if name in UNSAFE:
            raise ValueError(refusal(name))
        try:
            checker = self._checker(name)
        except ValueError:  # not a reasoning-gym dataset name: nothing can judge this row
            return None
        try:
            return float(checker(self.answer(completion), entry))
        except Exception:  # the checker choked on the answer: it is not a correct one
            return 0.0

    def _checker(self, name: str):
        """The checker of the dataset that made the rows (tasks.CHECKERS), else reasoning-gym's own
        default-config one (rows read from a file)."""
        if name not in self._checkers:
            self._checkers[name] = CHECKERS.get(name) or self._factory.get_score_answer_fn(name)
        return self._checkers[name]
