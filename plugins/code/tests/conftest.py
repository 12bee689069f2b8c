"""The sandbox is required: outside CI its tests skip where bwrap cannot start here; under CI (CI set) they fail."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(scope="session")
def sandbox_ready():
    """Build a default ``code`` reward once: its start-up check runs a program through bwrap."""
    from grpo_rewards import ConfigError

    from grpo_code import CodeReward

    try:
        return CodeReward()
    except ConfigError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the sandbox cannot start under CI: {exc}")
        pytest.skip(f"the sandbox cannot start on this machine: {exc}")
