"""Option checks shared by the format rewards.

Every failure raises one ``ConfigError`` line of the form
``format.<reward>: option '<name>' <problem>`` so the CLI can print it as is.
"""
import math

from grpo_rewards import ConfigError


def _show(value):
    # repr() keeps the message on one line (newlines are escaped); long values are cut.
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def fail(reward, option, problem):
    raise ConfigError(f"{reward}: option '{option}' {problem}")


def number(reward, option, value, *, low=None, high=None, allow_none=False):
    """A finite int or float (bool is refused: TOML ``true`` is never meant as 1)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(reward, option, f"must be a number, got {_show(value)}")
    if not math.isfinite(value):
        fail(reward, option, f"must be finite, got {_show(value)}")
    if low is not None and value < low:
        fail(reward, option, f"must be >= {low}, got {_show(value)}")
    if high is not None and value > high:
        fail(reward, option, f"must be <= {high}, got {_show(value)}")
    return float(value)


def integer(reward, option, value, *, low=None, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        fail(reward, option, f"must be an integer, got {_show(value)}")
    if low is not None and value < low:
        fail(reward, option, f"must be >= {low}, got {_show(value)}")
    return value


def boolean(reward, option, value):
    if not isinstance(value, bool):
        fail(reward, option, f"must be true or false, got {_show(value)}")
    return value


def choice(reward, option, value, choices):
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        fail(reward, option, f"must be one of {allowed}, got {_show(value)}")
    return value
