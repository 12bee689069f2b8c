"""The plugin contract: registration, options, batch calls, and scoring through the SDK runtime."""
import pluggy
import pytest

import grpo_math
from grpo_math import MathReward
from grpo_rewards import ConfigError, hookspecs
from grpo_rewards.testing import score as score_through_runtime


def test_hook_registers_the_math_reward():
    pm = pluggy.PluginManager("grpo_rewards")
    pm.add_hookspecs(hookspecs)
    pm.register(grpo_math)
    calls = []
    pm.hook.register_rewards(register=lambda name, reward: calls.append((name, reward)))
    assert calls == [("math", MathReward)]


def test_defaults_and_isolation_attributes():
    reward = MathReward()
    assert MathReward.isolate is True
    assert reward.answer_column == "answer"
    assert reward.rel_tol == 1e-4
    assert reward.timeout == 1.0
    assert reward.memory_limit_mb == 1024


def test_batch_call_returns_one_score_per_sample():
    reward = MathReward()
    scores = reward(completions=["\\boxed{5}", "\\boxed{6}", "\\boxed{7}"], answer=["5", "5", ""],
                    prompts=["p"] * 3)
    assert scores == [1.0, 0.0, None]


def test_answer_column_option():
    reward = MathReward(answer_column="solution")
    assert reward(completions=["#### 12"], solution=["12"], answer=["13"]) == [1.0]


def test_missing_answer_column_is_a_clear_config_error():
    with pytest.raises(ConfigError, match="no column 'answer'"):
        MathReward()(completions=["1"], solution=["1"])


def test_rel_tol_option():
    assert MathReward()(completions=["1.001"], answer=["1"]) == [0.0]
    assert MathReward(rel_tol=0.01)(completions=["\\frac{1}{3}"], answer=["0.33"]) == [1.0]
    assert MathReward(rel_tol=0.01)(completions=["\\frac{1}{3}"], answer=["0.3"]) == [0.0]
    assert MathReward(rel_tol=0)(completions=["0.3333"], answer=["\\frac{1}{3}"]) == [0.0]


def test_timeout_and_memory_options_reach_the_runtime_attributes():
    reward = MathReward(timeout=2.5, memory_limit_mb=512)
    assert (reward.timeout, reward.memory_limit_mb) == (2.5, 512)


@pytest.mark.parametrize("options", [
    {"answer_column": ""}, {"rel_tol": -1}, {"rel_tol": 1.5}, {"rel_tol": "small"}, {"timeout": 0},
    {"timeout": "1s"}, {"memory_limit_mb": 0}, {"memory_limit_mb": 1.5},
])
def test_bad_options_raise_config_error(options):
    with pytest.raises(ConfigError, match="math: option"):
        MathReward(**options)


def test_scores_through_the_sdk_worker_pool():
    result = score_through_runtime(
        grpo_math, "math", options={"timeout": 5.0},
        completions=["\\boxed{\\frac{1}{2}}", "x = 4", "\\boxed{2^{2^{2^{100}}}}", "\\boxed{1}"],
        answer=["0.5", "4", "7", ""])
    assert result == [1.0, 1.0, 0.0, None]
