"""grpo-format: format rewards (think/answer tags, regex, length window, repetition, termination).

Loaded through the ``grpo_rewards`` entry point; the rewards exist only through the hook below.
"""
from grpo_rewards import hookimpl

from .length import Length
from .pattern import Regex
from .repetition import Repetition
from .tags import ThinkAnswer
from .terminated import Terminated

REWARDS = {
    "format.think_answer": ThinkAnswer,
    "format.regex": Regex,
    "format.length": Length,
    "format.repetition": Repetition,
    "format.terminated": Terminated,
}


@hookimpl
def register_rewards(register):
    for name, reward in REWARDS.items():
        register(name, reward)


__all__ = ["ThinkAnswer", "Regex", "Length", "Repetition", "Terminated", "REWARDS", "register_rewards"]
