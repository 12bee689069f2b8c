"""The variants end to end: one run with a reward-weight schedule, GDPO, a sequence-level SAPO loss,
the entropy controls and the new sampling filters; then `grpo eval --samples` on its adapter."""
import json

from engine_fixtures import config_text, make_tiny_model, write_dataset
from sdk_fixtures import run_cli


def test_schedule_in_metrics_then_eval_samples(tmp_path):
    model = make_tiny_model(tmp_path / "model")
    data = write_dataset(tmp_path / "data.jsonl")
    text = config_text(model, data, tmp_path / "run", **{
        "train.steps": "3", "grpo.loss": '"sapo"', "grpo.importance_sampling_level": '"sequence"',
        "grpo.multi_objective": '"normalize_then_sum"', "grpo.top_entropy_quantile": "0.5",
        "grpo.entropy_coef": "0.01", "grpo.min_p": "0.05", "grpo.repetition_penalty": "1.2",
        "grpo.loss_options": "{ temperature_neg = 1.2 }"})
    # the regex reward's weight falls from 1.0 to 0 over two steps, linearly
    text = text.replace("weight = 0.5", 'weight = { start = 1.0, end = 0.0, steps = 2, shape = "linear" }')
    config = tmp_path / "c.toml"
    config.write_text(text)
    result = run_cli("train", str(config), "--no-progress", timeout=600)
    assert result.returncode == 0, result.stderr
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["rewards/format.regex/weight"] for m in metrics] == [1.0, 0.5, 0.0]
    assert [m["rewards/format.length/weight"] for m in metrics] == [1.0, 1.0, 1.0]
    assert metrics[2]["rewards/format.regex/mean"] is not None  # weight 0: still scored and logged
    assert all(0 < m["entropy_mask/kept"] <= 1 for m in metrics if m["loss"])

    out = run_cli("eval", str(tmp_path / "run"), "--samples", "4", "--limit", "3", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert set(result["pass@k"]) == {"1", "2", "4"}
    assert 0 <= result["mean@4"] <= result["pass@k"]["4"] <= 1
    assert result["pass@k"]["1"] == result["mean@4"]  # pass@1 from K samples is the mean
    printed = run_cli("eval", str(tmp_path / "run"), "--samples", "4", "--limit", "3").stdout
    assert "mean@4 " in printed and "pass@4 " in printed and printed.startswith("accuracy ")
    bad = run_cli("eval", str(tmp_path / "run"), "--samples", "0")
    assert bad.returncode == 2 and "--samples must be at least 1" in bad.stderr


def test_pass_at_k_unbiased_estimator():
    from grpo_core.evaluate import pass_at_k

    # n = 4 samples, c = 1 correct: pass@1 = 1/4; pass@2 = 1 - C(3,2)/C(4,2) = 1 - 3/6 = 0.5; pass@4 = 1
    assert [pass_at_k(4, 1, k) for k in (1, 2, 4)] == [0.25, 0.5, 1.0]
    assert pass_at_k(8, 0, 8) == 0.0 and pass_at_k(8, 8, 1) == 1.0
    # n = 8, c = 2, k = 4: 1 - C(6,4)/C(8,4) = 1 - 15/70
    assert pass_at_k(8, 2, 4) == 1 - 15 / 70
