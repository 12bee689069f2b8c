"""Every user error: exit status 2, one line naming the cause, no traceback, before any model loads."""
import time

import pytest

from engine_fixtures import config_text, write_dataset
from sdk_fixtures import run_cli


@pytest.fixture
def paths(tmp_path):
    model = tmp_path / "model"
    model.mkdir()  # never loaded: every error below must come first
    return model, write_dataset(tmp_path / "data.jsonl"), tmp_path / "run"


CASES = [
    ("not toml", lambda text: text.replace("[grpo]", "[grpo"), "invalid TOML"),
    ("unknown key", lambda text: text.replace("num_generations", "num_generation"),
     "did you mean 'grpo.num_generations'?"),
    ("wrong type", lambda text: text.replace("learning_rate = 1e-3", 'learning_rate = "fast"'),
     "train.learning_rate: expected a number"),
    ("one generation", lambda text: text.replace("num_generations = 4", "num_generations = 1"),
     "grpo.num_generations must be at least 2"),
    ("missing model", lambda text: text.replace("/model\"", "/nomodel\""), "model.name: no such directory"),
    ("missing dataset", lambda text: text.replace("data.jsonl", "nodata.jsonl"), "data.dataset: no such file"),
    ("no prompt column", lambda text: text.replace('prompt = "question"', 'prompt = "query"'),
     "column 'query' is not in"),
    ("unknown reward", lambda text: text.replace('use = "format.regex"', 'use = "format.regexp"'),
     "unknown reward 'format.regexp'"),
    ("unknown loss option", lambda text: text.replace("num_generations = 4", 'num_generations = 4\nloss = "sapo"\n'
                                                      "loss_options = { tau = 2.0 }"),
     "grpo.loss_options: loss 'sapo': got an unexpected keyword argument 'tau' (it takes temperature_pos, "
     "temperature_neg)"),
    ("bad weight schedule", lambda text: text.replace("weight = 0.5", "weight = { start = 1.0, end = 0.0 }"),
     "rewards[1].weight: a weight schedule needs 'steps'"),
]


@pytest.mark.parametrize("name, edit, message", CASES, ids=[c[0] for c in CASES])
def test_user_errors_are_one_line_exit_2(paths, tmp_path, name, edit, message):
    model, data, run = paths
    config = tmp_path / "c.toml"
    config.write_text(edit(config_text(model, data, run)))
    start = time.monotonic()
    result = run_cli("train", str(config), "--no-progress")
    elapsed = time.monotonic() - start
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 30  # seconds, not a model load (generous for a loaded CI machine)
    if name == "no prompt column":
        assert "columns: answer, question" in lines[0]


def test_bad_set_override(paths, tmp_path):
    model, data, run = paths
    config = tmp_path / "c.toml"
    config.write_text(config_text(model, data, run))
    result = run_cli("train", str(config), "--set", "grpo.loss=ppo")
    assert result.returncode == 2 and "grpo.loss: unknown loss 'ppo'" in result.stderr


def test_resume_without_checkpoint(paths, tmp_path):
    model, data, run = paths
    config = tmp_path / "c.toml"
    config.write_text(config_text(model, data, run))
    result = run_cli("train", str(config), "--resume")
    assert result.returncode == 2 and "--resume: no checkpoint" in result.stderr
