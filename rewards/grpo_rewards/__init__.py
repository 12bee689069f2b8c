"""grpo-rewards: the reward SDK. Depends on pluggy and the standard library only.

Plugin authors need ``hookimpl`` (``isolated`` for CPU-heavy verifiers, ``columns`` to declare the
dataset columns a reward reads through ``**fields``); engines use
``RewardMix``; tests use ``grpo_rewards.testing``.
"""
import pluggy

from .errors import ConfigError, RewardError, UserError
from .inputs import columns

hookimpl = pluggy.HookimplMarker("grpo_rewards")


def isolated(reward=None, *, timeout=1.0, memory_limit_mb=1024):
    """Mark a reward (function or class) as CPU-heavy: it runs one sample at a time in worker
    processes, killed after ``timeout`` seconds (that sample scores 0 and counts as a timeout),
    with its memory capped at ``memory_limit_mb`` MiB.

    Usable bare (``@isolated``) or with arguments (``@isolated(timeout=2.0)``). A class may also set
    the attributes ``isolate``, ``timeout`` and ``memory_limit_mb`` itself, for example from options.
    """
    def mark(obj):
        obj.isolate = True
        obj.timeout = float(timeout)
        obj.memory_limit_mb = int(memory_limit_mb)
        return obj

    return mark(reward) if reward is not None else mark


def __getattr__(name):  # RewardMix imports the runtime; keep `import grpo_rewards` light for plugins
    if name == "RewardMix":
        from .mix import RewardMix
        return RewardMix
    raise AttributeError(f"module 'grpo_rewards' has no attribute {name!r}")


__all__ = ["hookimpl", "isolated", "columns", "RewardMix", "UserError", "ConfigError", "RewardError"]
