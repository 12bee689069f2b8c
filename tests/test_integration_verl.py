"""The reward mix as verl's custom reward function, loaded the way verl loads one: by file path and
function name (verl/utils/import_utils.py, load_module + load_extern_object, read at verl commit
b178a3cd5), called with verl's keyword arguments and its reward_kwargs merged in."""
import importlib.util
import math
import os

import pytest

from grpo_rewards import ConfigError, plugins

# A GSM8K-style response and its ground truth, as verl's gsm8k preprocessing stores it.
SOLUTION = ("Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May.\n"
            "#### 72")
WRONG = SOLUTION.replace("#### 72", "#### 70")
MIX = '''
[[rewards]]
use = "math"

[[rewards]]
use = "format.regex"
name = "final_line"
weight = 0.5
options = { pattern = '(?m)^#### ' }
'''


def load_like_verl(module_path, object_name):
    """What verl's load_extern_object does for a file path (no package import, a module name of its own)."""
    if not os.path.exists(module_path):
        raise FileNotFoundError(module_path)
    spec = importlib.util.spec_from_file_location(f"custom_module_{hash(os.path.abspath(module_path))}", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, object_name)


def call_like_verl(fn, reward_kwargs, **kwargs):
    return fn(**{**kwargs, **reward_kwargs})  # verl's _call_with_kwargs: reward_kwargs take precedence


@pytest.fixture
def verl_fn(monkeypatch, tmp_path):
    monkeypatch.setenv("GRPO_PLUGINS", "grpo-math,grpo-format")
    plugins.reset()
    import grpo_rewards.integrations.verl as adapter

    mix = tmp_path / "mix.toml"
    mix.write_text(MIX)
    yield adapter.__file__, mix
    plugins.reset()


def test_compute_score_loaded_by_path_returns_the_mix_total(verl_fn, monkeypatch):
    path, mix = verl_fn
    compute_score = load_like_verl(path, "compute_score")
    monkeypatch.setenv("GRPO_MIX", str(mix))  # the mix named by the environment
    try:
        right = call_like_verl(compute_score, {}, data_source="openai/gsm8k", solution_str=SOLUTION,
                               ground_truth="72", extra_info={"split": "test", "index": 0})
        wrong = call_like_verl(compute_score, {}, data_source="openai/gsm8k", solution_str=WRONG,
                               ground_truth="72", extra_info={"split": "test", "index": 1})
        assert (right, wrong) == (1.5, 0.5)  # math 1.0 / 0.0, plus 0.5 for the "#### " line
        detail = call_like_verl(compute_score, {"details": True}, data_source="openai/gsm8k", solution_str="no idea",
                                ground_truth="", extra_info=None)
        # an empty reference is unscorable for math: NaN in the details, left out of the total
        assert detail["score"] == 0.0 and math.isnan(detail["math"]) and detail["final_line"] == 0.0
    finally:
        compute_score.__globals__["_close"]()


def test_the_mix_can_come_from_reward_kwargs_and_a_batch(verl_fn, monkeypatch):
    path, mix = verl_fn
    monkeypatch.delenv("GRPO_MIX", raising=False)
    batch = load_like_verl(path, "compute_score_batch")
    try:
        scores = call_like_verl(batch, {"mix": str(mix)}, data_sources=["gsm8k"] * 3,
                                solution_strs=[SOLUTION, WRONG, "72"], ground_truths=["72"] * 3,
                                extra_infos=[{}, {}, {}])
        assert scores == [1.5, 0.5, 1.0]
    finally:
        batch.__globals__["_close"]()


def test_no_mix_named_is_a_clear_error(verl_fn, monkeypatch):
    path, _ = verl_fn
    monkeypatch.delenv("GRPO_MIX", raising=False)
    compute_score = load_like_verl(path, "compute_score")
    with pytest.raises(ConfigError, match="set GRPO_MIX=/path/to/mix.toml"):
        compute_score(data_source="x", solution_str="1", ground_truth="1")


def test_extra_info_keys_reach_the_rewards_as_columns(verl_fn, tmp_path):
    path, _ = verl_fn
    mix = tmp_path / "gold.toml"
    mix.write_text('[[rewards]]\nuse = "math"\noptions = { answer_column = "gold" }\n')
    compute_score = load_like_verl(path, "compute_score")
    try:
        assert compute_score(data_source="x", solution_str=SOLUTION, ground_truth="0",
                             extra_info={"gold": "72"}, mix=str(mix)) == 1.0
    finally:
        compute_score.__globals__["_close"]()
