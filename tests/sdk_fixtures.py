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


PYPROJECT = '''
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "{version}"
dependencies = ["grpo-rewards"]

[project.entry-points.grpo_rewards]
{entry} = "{module}"
'''


def pip_install_plugin(tmp_path_factory, dist: str, module: str, code: str, version: str, entry: str) -> Path:
    """A real plugin package (``module/__init__.py`` holding ``code``) built and pip-installed into a fresh site
    directory, which is returned: put it on PYTHONPATH (run_cli's path_dirs) to make the plugin installed."""
    src = tmp_path_factory.mktemp("src")
    (src / module).mkdir()
    (src / module / "__init__.py").write_text(code)
    (src / "pyproject.toml").write_text(PYPROJECT.format(dist=dist, version=version, entry=entry, module=module))
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site),
            str(src)], check=True, capture_output=True)
    return site
