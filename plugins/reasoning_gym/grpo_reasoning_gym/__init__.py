"""grpo-reasoning-gym: reasoning-gym's procedural tasks as prompt datasets, their checkers as a reward.

Every reasoning-gym dataset is a task ``reasoning_gym.<name>`` (``dataset = "reasoning_gym.chain_sum"``
in ``[data]``, its config in ``data.options``), and one reward, ``reasoning_gym``, scores any of
their rows with the dataset's own ``score_answer``. reasoning-gym is imported only when a task or
the reward is used, so installing the plugin does not slow other commands down.
"""
from grpo_rewards import hookimpl

from .names import TASKS, UNSAFE
from .reward import ReasoningGymReward
from .tasks import generate, task


@hookimpl
def register_tasks(register):
    for name in TASKS:
        register(f"reasoning_gym.{name}", task(name))


@hookimpl
def register_rewards(register):
    register("reasoning_gym", ReasoningGymReward)


__all__ = ["ReasoningGymReward", "generate", "TASKS", "UNSAFE", "register_tasks", "register_rewards"]
