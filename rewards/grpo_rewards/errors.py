"""Errors a user can cause and fix. The CLI prints their message as one line and exits with status 2."""


class UserError(Exception):
    """A mistake in a config, a file or a command line: the message names the cause."""

    exit_status = 2  # what the CLI exits with; a subclass may say otherwise


class ConfigError(UserError):
    """A config value that is missing, unknown, of the wrong type or out of range."""


class RewardError(UserError):
    """A reward that misbehaved under ``on_error = "raise"``, or a reward name that is not registered."""


def first_line(exc: BaseException) -> str:
    """An exception as one line: the first line of its message, or its type when it has none."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 160 else line[:157] + "..."
