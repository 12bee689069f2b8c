"""`grpo train` on a reasoning-gym task through data.dataset, scored by the reasoning_gym reward."""
import json

from engine_fixtures import config_text, make_tiny_model
from sdk_fixtures import run_cli


def test_two_steps_on_a_reasoning_gym_task(tmp_path):
    model = make_tiny_model(tmp_path / "model")
    text = config_text(model, "unused", tmp_path / "run", **{
        "data.dataset": '"reasoning_gym.basic_arithmetic"', "data.prompt": '"prompt"',
        "data.options": "{ min_terms = 2, max_terms = 2, min_digits = 1, max_digits = 1 }",
        "data.system": '"Put the result in <answer></answer>."'}).split("[[rewards]]")[0]
    text += '[[rewards]]\nuse = "reasoning_gym"\n\n[[rewards]]\nuse = "format.length"\nweight = 0.1\noptions = { max = 4 }\n'
    config = tmp_path / "c.toml"
    config.write_text(text)
    result = run_cli("train", str(config), "--no-progress", timeout=600,
                     env={"GRPO_PLUGINS": "grpo-reasoning-gym,grpo-format"})
    assert result.returncode == 0, result.stderr
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2]
    for m in metrics:
        assert m["rewards/reasoning_gym/errors"] == 0 and m["rewards/reasoning_gym/timeouts"] == 0
        assert m["rewards/reasoning_gym/unscorable"] == 0 and m["rewards/reasoning_gym/mean"] is not None
    samples = [json.loads(line) for line in (tmp_path / "run" / "completions.jsonl").read_text().splitlines()]
    from grpo_reasoning_gym import generate

    questions = {r["prompt"] for r in generate("basic_arithmetic", "train", 0, 1000, min_terms=2, max_terms=2,
                                               min_digits=1, max_digits=1)}
    assert samples and all(s["prompt"] in questions for s in samples)  # the task's own train questions
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 2 and "accuracy" in summary["eval_after"]
