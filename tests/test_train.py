"""Training end to end on a tiny random Qwen2-architecture model with its own chat template."""
import json
import os
import signal

import pytest

from engine_fixtures import config_text, make_tiny_model, write_dataset
from sdk_fixtures import run_cli

TIMING_KEYS = {"tokens_per_second", "step_seconds", "generation_seconds", "scoring_seconds", "cpu_threads"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return make_tiny_model(root / "model"), write_dataset(root / "data.jsonl")


def load(path, **overrides):
    from grpo_core.config import load_config

    return load_config(str(path), [f"{k}={v}" for k, v in overrides.items()])


def test_two_steps_through_the_cli(tiny, tmp_path):
    model, data = tiny
    config = tmp_path / "c.toml"
    config.write_text(config_text(model, data, tmp_path / "run"))
    result = run_cli("train", str(config), "--no-progress", timeout=600)
    assert result.returncode == 0, result.stderr
    run = tmp_path / "run"
    for name in ("config.toml", "metrics.jsonl", "completions.jsonl", "rewards.png", "summary.json",
                 "adapter/adapter_config.json", "checkpoints/latest"):
        assert (run / name).exists(), name
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2]
    for key in ("loss", "reward/mean", "reward/std", "rewards/format.length/mean", "rewards/format.regex/std",
                "frac_reward_zero_std", "entropy", "clip_ratio/region", "completion_length/mean",
                "tokens_per_second", "step_seconds", "lr", "grad_norm"):
        assert key in metrics[0], key
    samples = [json.loads(line) for line in (run / "completions.jsonl").read_text().splitlines()]
    assert len(samples) == 4 and set(samples[0]["rewards"]) == {"format.length", "format.regex"}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["wall_seconds"] > 0
    assert 0 <= summary["eval_before"]["accuracy"] <= 1 and "accuracy" in summary["eval_after"]

    # The adapter is a plain peft adapter.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(model)), str(run / "adapter"))

    # A run directory is never overwritten.
    again = run_cli("train", str(config), "--no-progress")
    assert again.returncode == 2 and "already holds a run" in again.stderr

    evaluated = run_cli("eval", str(run), "--json", "--limit", "3")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["samples"] == 3 and result["adapter"].endswith("adapter")


def comparable(records):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records]


def test_interrupted_run_resumes_exactly(tiny, tmp_path):
    from grpo_core.trainer import Interrupted, train

    model, data = tiny
    steps = {"train.steps": "4", "train.save_every": "0", "grpo.num_iterations": "2", "grpo.beta": "0.04"}
    straight = tmp_path / "straight.toml"
    straight.write_text(config_text(model, data, tmp_path / "a", **steps))
    train(load(straight), progress=False)

    def ctrl_c_at_step_2(step, record):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, through the real handler

    broken = tmp_path / "broken.toml"
    broken.write_text(config_text(model, data, tmp_path / "b", **steps))
    with pytest.raises(Interrupted, match="stopped by SIGINT after step 2"):
        train(load(broken), on_step=ctrl_c_at_step_2, progress=False)
    assert (tmp_path / "b" / "checkpoints" / "step-000002" / "adapter" / "adapter_config.json").exists()
    assert not (tmp_path / "b" / "summary.json").exists()

    summary = train(load(broken), resume=True, progress=False)
    assert summary["resumed"]
    read = lambda run: [json.loads(l) for l in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
    a, b = comparable(read("a")), comparable(read("b"))
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    assert a == b
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["eval_after"] == summary["eval_after"]


def test_crash_during_save_keeps_previous_checkpoint(tiny, tmp_path, monkeypatch):
    import torch

    from grpo_rewards.errors import UserError

    from grpo_core import checkpoint
    from grpo_core.trainer import train

    model, data = tiny
    config = tmp_path / "c.toml"
    config.write_text(config_text(model, data, tmp_path / "run", **{"train.steps": "2", "train.save_every": "1"}))
    real_save = torch.save
    calls = {"n": 0}

    def failing_save(obj, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint's state file
            raise OSError("disk full")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(UserError, match="checkpoint step-000002 not saved .*: disk full; step-000001 is kept"):
        train(load(config), progress=False)
    assert not [d for d in os.listdir(tmp_path / "run" / "checkpoints") if d.endswith(".partial")]
    latest = checkpoint.latest(str(tmp_path / "run"))
    assert latest.endswith("step-000001")
    assert checkpoint.load_state(latest)["step"] == 1
    assert (tmp_path / "run" / "checkpoints" / "step-000001" / "adapter" / "adapter_config.json").exists()


def test_an_interrupted_run_exits_130_with_one_line(capsys):
    from grpo_rewards.cli import run

    from grpo_core.trainer import Interrupted

    def handler(args):
        raise Interrupted("stopped after step 2; checkpoint saved in runs/x/checkpoints; continue with --resume")

    assert run(handler, None) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "continue with --resume" in err
