"""Errors a user can cause and fix. The CLI prints their message as one line and exits with status 2."""


class UserError(Exception):
    """A mistake in a config, a file or a command line: the message names the cause."""

    exit_status = 2  # what the CLI exits with; a subclass may say otherwise


class ConfigError(UserError):
    """A config value that is missing, unknown, of the wrong type or out of range."""


class RewardError(UserError):
    """A reward that misbehaved under ``on_error = "raise"``, or a reward name that is not registered."""
