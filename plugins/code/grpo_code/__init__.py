"""grpo-code: a code-execution reward that runs model-written programs against test cases in a sandbox.

Registers one reward, ``code``, through the ``grpo_rewards`` entry point. The program is taken from
the completion's last fenced code block (extract.py), run against the sample's stdin/stdout cases
or assert-style tests (cases.py) inside bubblewrap (sandbox.py, behind a small run(program, stdin,
limits) -> Result interface), and the sample scores the fraction of tests it passes (reward.py).
"""
from grpo_rewards import hookimpl

from .reward import CodeReward
from .interface import Limits, Program, Result


@hookimpl
def register_rewards(register):
    register("code", CodeReward)


__all__ = ["CodeReward", "Limits", "Program", "Result", "register_rewards"]
