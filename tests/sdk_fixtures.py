"""Helpers for SDK tests: fake installed distributions with entry points, and running the CLI."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path


def make_distribution(root: Path, dist: str, module: str, code: str, version: str = "0.1.0") -> None:
    """Write an installed-looking distribution (dist-info with an entry point) under ``root``."""
    (root / f"{module}.py").write_text(textwrap.dedent(code))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[grpo_rewards]\n{module} = {module}\n")


def run_cli(*args, env=None, path_dirs=(), stdin=None, timeout=120):
    full_env = dict(os.environ)
    full_env.update(env or {})
    if path_dirs:
        full_env["PYTHONPATH"] = os.pathsep.join([str(p) for p in path_dirs] + [full_env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "grpo_core.cli", *args], capture_output=True, text=True,
                          env=full_env, input=stdin, timeout=timeout)
