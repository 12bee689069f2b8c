"""The reward mix inside other trainers: small adapters, one module per trainer, no torch imported.

``trl`` turns a mix into ``reward_funcs`` + ``reward_weights`` for TRL's ``GRPOTrainer`` (Unsloth
uses the same trainer); ``verl`` is a ``compute_score`` for verl's ``custom_reward_function``.
Both score through :class:`~grpo_rewards.mix.RewardMix`, so options, the error policy and the
worker pool with its time limits behave exactly as in ``grpo train`` and ``grpo score``.
"""
from __future__ import annotations

import os

from ..errors import ConfigError
from ..mix import RewardMix


def load_mix(mix, *, registry=None, pool_size: int | None = None, where: str = "rewards") -> RewardMix:
    """A RewardMix from a TOML file's path (a mix file or a full training config: only its
    ``[[rewards]]`` are read), from a list of ``[[rewards]]``-shaped dicts, or a RewardMix as it is."""
    if isinstance(mix, RewardMix):
        return mix
    if isinstance(mix, (str, os.PathLike)):
        from ..cli import read_rewards_config

        entries, where = read_rewards_config(os.fspath(mix)), f"{os.fspath(mix)}: rewards"
    elif isinstance(mix, (list, tuple)):
        entries = list(mix)
    else:
        raise ConfigError(f"a reward mix is a TOML path or a list of [[rewards]] tables, not {type(mix).__name__}")
    return RewardMix.from_config(entries, registry=registry, pool_size=pool_size, where=where)
