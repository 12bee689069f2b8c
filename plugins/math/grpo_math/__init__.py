"""grpo-math: a sympy answer checker for GRPO rewards.

Registers one reward, ``math``, through the ``grpo_rewards`` entry point. It extracts the final
answer of a completion, parses it (and the reference) with a hand-written LaTeX/plain-text
parser that builds sympy objects directly (no eval, no sympify of text), and scores 1.0 for an
equivalent answer, 0.0 otherwise, None when the reference cannot be read.
"""
from grpo_rewards import hookimpl

from .reward import MathReward, score


@hookimpl
def register_rewards(register):
    register("math", MathReward)


__all__ = ["MathReward", "score", "register_rewards"]
