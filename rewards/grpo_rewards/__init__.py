"""grpo-rewards: the reward SDK. Depends on pluggy and the standard library only."""
import pluggy

from .errors import ConfigError, RewardError, UserError

hookimpl = pluggy.HookimplMarker("grpo_rewards")


def isolated(reward=None, *, timeout=1.0, memory_limit_mb=1024):
    """Mark a reward (function or class) as CPU-heavy: it runs one sample at a time in worker
    processes, killed after ``timeout`` seconds or ``memory_limit_mb`` MiB (that sample scores 0).

    Usable bare (``@isolated``) or with arguments (``@isolated(timeout=2.0)``). A class may also set
    the attributes ``isolate``, ``timeout`` and ``memory_limit_mb`` itself, for example from options.
    """
    def mark(obj):
        obj.isolate = True
        obj.timeout = float(timeout)
        obj.memory_limit_mb = int(memory_limit_mb)
        return obj

    return mark(reward) if reward is not None else mark


__all__ = ["hookimpl", "isolated", "UserError", "ConfigError", "RewardError"]
