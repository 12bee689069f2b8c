"""Learned rewards in the mix: a local reward model and sentence-embedding similarity, offline."""
import json
import math
import os

import pytest

from engine_fixtures import make_tiny_reward_model
from sdk_fixtures import run_cli

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(scope="module")
def reward_model_dir(tmp_path_factory):
    return make_tiny_reward_model(tmp_path_factory.mktemp("rm") / "model")


def test_reward_model_and_similarity_score_a_file_deterministically(reward_model_dir, tmp_path):
    config = tmp_path / "mix.toml"
    config.write_text(f'[[rewards]]\nuse = "reward_model"\noptions = {{ model = {json.dumps(str(reward_model_dir))}, '
                      f'batch_size = 2 }}\n\n[[rewards]]\nuse = "similarity"\nweight = 2.0\n')
    rows = [{"prompt": "Capital of France?", "completion": "<answer>Paris</answer>", "answer": "Paris"},
            {"prompt": "Capital of France?", "completion": "<answer>London</answer>", "answer": "Paris"},
            {"prompt": "Capital of France?", "completion": "banana bread", "answer": "Paris"},
            {"prompt": "2 + 2?", "completion": "<answer>4</answer>", "answer": "4"},
            {"prompt": "2 + 2?", "completion": "<answer>five</answer>", "answer": "4"}]
    samples = tmp_path / "in.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    outputs = []
    for run in range(2):
        out = tmp_path / f"out{run}.jsonl"
        result = run_cli("score", "--config", str(config), "--input", str(samples), "--output", str(out),
                         env=OFFLINE, timeout=300)
        assert result.returncode == 0, result.stderr
        outputs.append([json.loads(line) for line in out.read_text().splitlines()])
    assert outputs[0] == outputs[1]  # deterministic
    scored = outputs[0]
    for row in scored:
        assert all(math.isfinite(v) for v in row["rewards"].values()) and math.isfinite(row["total"])
    sim = [row["rewards"]["similarity"] for row in scored]
    assert sim[0] > sim[1] > sim[2]  # the exact answer ranks above a wrong one, and far above nonsense
    assert sim[3] > sim[4]
    assert sim[0] == pytest.approx(1.0, abs=1e-4)


def test_two_training_steps_with_a_reward_model_in_the_mix(reward_model_dir, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f"""
[model]
name = "builtin:tiny-arith"

[data]
dataset = "arithmetic"
eval_limit = 4

[grpo]
num_generations = 4
prompts_per_step = 2
max_completion_length = 8

[train]
steps = 2
output_dir = {json.dumps(str(tmp_path / "run"))}

[[rewards]]
use = "math"

[[rewards]]
use = "reward_model"
weight = 0.5
options = {{ model = {json.dumps(str(reward_model_dir))}, normalize = "sigmoid" }}
""")
    result = run_cli("train", str(config), "--no-progress", env=OFFLINE, timeout=600)
    assert result.returncode == 0, result.stderr
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 2
    for m in metrics:
        assert 0.0 < m["rewards/reward_model/mean"] < 1.0  # sigmoid-squashed scores of real completions
        assert m["rewards/reward_model/std"] > 0.0  # different completions, different scores
