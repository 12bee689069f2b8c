"""The reward mix as TRL reward functions: ``reward_funcs`` and ``reward_weights`` for ``trl.GRPOTrainer``.

    from grpo_rewards.integrations.trl import trl_rewards

    rewards = trl_rewards("mix.toml")          # or a list of [[rewards]] dicts
    trainer = GRPOTrainer(model=..., reward_funcs=rewards.reward_funcs,
                          args=GRPOConfig(..., reward_weights=rewards.reward_weights), ...)

Unsloth trains through TRL's ``GRPOTrainer``, so the same two lists serve it. TRL calls each
function with the batch (``prompts``, ``completions``, ``completion_ids`` and the dataset columns);
each function scores it with one reward of the mix through :meth:`RewardMix.score_reward`, so an
isolated reward still runs in the worker pool with its time limit, ``None`` reaches TRL as ``None``
(TRL leaves it out, as the engine does), and the ``on_error`` policy applies. Each reward's errors,
timeouts and unscorable samples are counted (:meth:`TrlRewards.summary`), logged to TRL's metrics
when TRL offers ``log_metric`` (``rewards/<name>/errors``, ...), and printed by :meth:`report`.

TRL's weights apply the mix's ``weight``s (TRL multiplies and sums, as the mix does). No torch here.
"""
from __future__ import annotations

import sys

from ..mix import Counts
from . import load_mix

# What TRL passes besides the batch: one object per call, not one value per sample.
TRL_EXTRAS = ("trainer_state", "log_extra", "log_metric", "environments")


class TrlRewards:
    """A reward mix as TRL reward functions; close it (or use ``with``) to stop its worker processes."""

    def __init__(self, mix, *, registry=None, workers: int | None = None, start: bool = True):
        self.mix = load_mix(mix, registry=registry, pool_size=workers)
        self.reward_funcs = [self._function(c.name) for c in self.mix.components]
        self.reward_weights = [c.weight for c in self.mix.components]
        self.counts = {c.name: Counts() for c in self.mix.components}
        if start:  # fork the workers now, before the trainer loads a model onto a GPU
            self.mix.start()

    def _function(self, name: str):
        def reward(prompts=None, completions=None, completion_ids=None, **kwargs):
            log_metric = kwargs.get("log_metric")
            n = len(completions)
            columns = {key: list(value) for key, value in kwargs.items()
                       if key not in TRL_EXTRAS and isinstance(value, (list, tuple)) and len(value) == n}
            if completion_ids is not None:
                columns["completion_ids"] = [list(ids) for ids in completion_ids]
            scores, counts = self.mix.score_reward(name, completions=completions, prompts=prompts, **columns)
            self.counts[name].add(counts)
            if callable(log_metric):
                for what in ("errors", "timeouts", "unscorable"):
                    log_metric(f"rewards/{name}/{what}", float(getattr(counts, what)))
            return scores

        reward.__name__ = reward.__qualname__ = name  # TRL logs each reward under its __name__
        return reward

    def summary(self) -> dict[str, dict]:
        """Per reward, over every batch so far: scored, answered, unscorable, errors, timeouts, first error."""
        return {name: {"scored": c.scored, "answered": c.answered, "unscorable": c.unscorable,
                       "errors": c.errors, "timeouts": c.timeouts, "first_error": c.first_error}
                for name, c in self.counts.items()}

    def report(self, file=None) -> None:
        """Print the counts, one line per reward (stderr by default)."""
        file = file or sys.stderr
        for name, c in self.summary().items():
            print(f"grpo rewards: {name}: {c['scored']} scored, {c['unscorable']} unscorable, "
                  f"{c['errors']} errors, {c['timeouts']} timeouts", file=file)

    def close(self) -> None:
        self.mix.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def trl_rewards(mix, *, registry=None, workers: int | None = None, start: bool = True) -> TrlRewards:
    """Turn a mix (a TOML path, a list of ``[[rewards]]`` dicts, or a RewardMix) into TRL reward
    functions: ``.reward_funcs`` for ``GRPOTrainer`` and ``.reward_weights`` for ``GRPOConfig``."""
    return TrlRewards(mix, registry=registry, workers=workers, start=start)
