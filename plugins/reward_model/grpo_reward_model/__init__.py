"""grpo-reward-model: learned rewards (a sequence-classification reward model, embedding similarity).

Loaded through the ``grpo_rewards`` entry point; the rewards exist only through the hook below.
Importing this package does not import torch or transformers: they load when a reward is built,
so ``grpo plugins`` stays fast.
"""
from grpo_rewards import hookimpl

from ._cache import clear_cache
from .reward_model import RewardModel
from .similarity import Similarity

REWARDS = {
    "reward_model": RewardModel,
    "similarity": Similarity,
}


@hookimpl
def register_rewards(register):
    for name, reward in REWARDS.items():
        register(name, reward)


__all__ = ["RewardModel", "Similarity", "REWARDS", "clear_cache", "register_rewards"]
