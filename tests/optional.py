"""Optional components a test needs (the bench extra's TRL, ...): skipped on a developer's machine
that lacks them, a failure under CI (CI=true), where .ci/run installs everything."""
import importlib
import os

import pytest


def need(module: str, install: str):
    """Import ``module``, or fail (CI) / skip (elsewhere) with how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = f"{module} is not installed ({exc}); install it with: {install}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
