"""Option checks shared by the rewards of this plugin.

Every failure raises one ``ConfigError`` line of the form
``<reward>: option '<name>' <problem>`` so the CLI can print it as is.
"""
from grpo_rewards import ConfigError


def show(value):
    # repr() keeps the message on one line (newlines are escaped); long values are cut.
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def fail(reward, option, problem):
    raise ConfigError(f"{reward}: option '{option}' {problem}")


def integer(reward, option, value, *, low=None):
    # bool is refused: TOML ``true`` is never meant as 1.
    if isinstance(value, bool) or not isinstance(value, int):
        fail(reward, option, f"must be an integer, got {show(value)}")
    if low is not None and value < low:
        fail(reward, option, f"must be >= {low}, got {show(value)}")
    return value


def choice(reward, option, value, choices):
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        fail(reward, option, f"must be one of {allowed}, got {show(value)}")
    return value


def text(reward, option, value, *, allow_empty=True):
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        fail(reward, option, f"must be a {'' if allow_empty else 'non-empty '}string, got {show(value)}")
    return value
