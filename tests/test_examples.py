"""The shipped example configs are valid: they load, and their reward mixes build."""
from pathlib import Path

import pytest

from grpo_core.config import DEFAULT_CONFIG_TOML, load_config
from grpo_rewards import RewardMix

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONFIGS = sorted(p for p in EXAMPLES.glob("*.toml") if p.name != "mix.toml")


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_example_config_is_valid(path):
    cfg = load_config(str(path))
    with RewardMix.from_config(cfg.rewards):
        pass


def test_example_mix_builds():
    import tomllib

    rewards = tomllib.loads((EXAMPLES / "mix.toml").read_text())["rewards"]
    with RewardMix.from_config(rewards) as mix:
        assert mix.names[0] == "math"


def test_tiny_cpu_example_is_the_embedded_default():
    assert (EXAMPLES / "tiny-cpu.toml").read_text() == DEFAULT_CONFIG_TOML
