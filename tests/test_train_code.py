"""Two training steps with the sandboxed `code` reward in the mix, on a tiny model and a small code dataset.

The tiny model writes noise, so with `require_fence = false` every completion is run as a program (and
fails): the point is that the reward works inside training, in the worker pool, within its limits.
"""
import json
import os

import pytest

from engine_fixtures import config_text, make_tiny_model
from sdk_fixtures import run_cli


def write_code_dataset(path, n=8):
    rows = []
    for i in range(n):
        if i % 2:
            rows.append({"question": f"Print {i} plus the number on stdin.",
                         "tests": json.dumps({"inputs": ["1\n", "5\n"], "outputs": [f"{i + 1}\n", f"{i + 5}\n"]})})
        else:
            rows.append({"question": f"Write add{i}(a) returning a + {i}.", "entry_point": f"add{i}",
                         "test": f"def check(f):\n    assert f(1) == {i + 1}\n"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_two_steps_with_code_in_the_mix(tmp_path):
    from grpo_code import CodeReward
    from grpo_rewards import ConfigError

    try:
        CodeReward()  # the sandbox's start-up check; under CI a sandbox that cannot start is a failure
    except ConfigError as exc:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"the sandbox cannot start here: {exc}")
    model = make_tiny_model(tmp_path / "model")
    data = write_code_dataset(tmp_path / "code.jsonl")
    text = config_text(model, data, tmp_path / "run", **{"data.eval_limit": "2"})
    text += '\n[[rewards]]\nuse = "code"\noptions = { require_fence = false, test_timeout = 1.0, timeout = 3.0 }\n'
    (tmp_path / "c.toml").write_text(text)
    result = run_cli("train", str(tmp_path / "c.toml"), "--no-progress", timeout=600)
    assert result.returncode == 0, result.stderr
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2]
    for m in metrics:
        assert m["rewards/code/mean"] == 0.0  # noise is not a program that passes
        assert m["rewards/code/errors"] == 0 and m["rewards/code/timeouts"] == 0  # scored by the reward itself
        assert m["rewards/code/unscorable"] == 0
    samples = [json.loads(line) for line in (tmp_path / "run" / "completions.jsonl").read_text().splitlines()]
    assert samples and all(s["rewards"]["code"] == 0.0 for s in samples)
