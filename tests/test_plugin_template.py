"""examples/plugin-template: a user copies it out, installs it, and it works everywhere grpo looks."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine_fixtures import config_text, make_tiny_model, write_dataset
from sdk_fixtures import run_cli

TEMPLATE = Path(__file__).resolve().parents[1] / "examples" / "plugin-template"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The template copied out of the repo and installed (into a private site directory)."""
    copy = tmp_path_factory.mktemp("copy") / "grpo-keywords"
    shutil.copytree(TEMPLATE, copy, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(copy)], check=True, capture_output=True)
    return copy, site


def test_template_own_tests_pass_after_copying_it_out(installed):
    copy, site = installed
    env = dict(os.environ, PYTHONPATH=str(site))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(copy / "tests")],
                            cwd=copy, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout


def test_template_is_discovered_and_listed(installed):
    _, site = installed
    result = run_cli("plugins", "--json", path_dirs=[site])
    plugins = {p["distribution"]: p for p in json.loads(result.stdout)["plugins"]}
    assert plugins["grpo-keywords"]["rewards"] == ["keywords", "politeness"]
    assert plugins["grpo-keywords"]["error"] is None


def test_template_scores_through_grpo_score(installed, tmp_path):
    _, site = installed
    config = tmp_path / "mix.toml"
    config.write_text('[[rewards]]\nuse = "keywords"\noptions = { words = ["sum", "total"] }\n\n'
                      '[[rewards]]\nuse = "politeness"\nweight = 0.5\n')
    samples = tmp_path / "in.jsonl"
    samples.write_text('{"completion": "The sum and total, please."}\n{"completion": "the sum"}\n')
    result = run_cli("score", "--config", str(config), "--input", str(samples), path_dirs=[site])
    assert result.returncode == 0, result.stderr
    totals = [json.loads(line)["total"] for line in result.stdout.splitlines()]
    assert totals == [1.5, 0.5]


def test_template_rewards_train_two_steps(installed, tmp_path):
    _, site = installed
    model = make_tiny_model(tmp_path / "model")
    data = write_dataset(tmp_path / "data.jsonl")
    text = config_text(model, data, tmp_path / "run")
    text = text[:text.index("[[rewards]]")] + (
        '[[rewards]]\nuse = "keywords"\noptions = { words = ["1", "2"] }\n\n[[rewards]]\nuse = "politeness"\n')
    config = tmp_path / "c.toml"
    config.write_text(text)
    result = run_cli("train", str(config), "--no-progress", path_dirs=[site], timeout=600)
    assert result.returncode == 0, result.stderr
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 2
    assert metrics[0]["rewards/keywords/mean"] is not None and "rewards/politeness/std" in metrics[0]
