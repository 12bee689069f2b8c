"""A commit's own code, checked out beside this checkout, for the benchmarks that compare commits."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def checkout(commit: str, **env_overrides: str):
    """Yield ``(tree, env)``: a temporary git worktree of ``commit``, and os.environ plus ``env_overrides`` with
    the worktree first on PYTHONPATH. Run commands with ``cwd=tree``: `python -m` puts the working directory
    first on sys.path, so from anywhere else this checkout's grpo_core would win (checked here)."""
    with tempfile.TemporaryDirectory(prefix="worktree-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit],
                       check=True, capture_output=True)
        try:
            env = dict(os.environ, **env_overrides, PYTHONPATH=os.pathsep.join([str(tree), str(tree / "rewards")]))
            where = subprocess.run([sys.executable, "-c", "import grpo_core; print(grpo_core.__file__)"], env=env,
                                   cwd=tree, capture_output=True, text=True).stdout.strip()
            if not where.startswith(str(tree)):
                sys.exit(f"{commit}: grpo_core would be imported from {where}, not from the worktree")
            yield tree, env
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
