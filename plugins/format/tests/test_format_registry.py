"""The plugin registers exactly its five rewards through the pluggy hook."""
import inspect

import pluggy
import pytest

import grpo_format
import grpo_rewards
from grpo_rewards import hookspecs

EXPECTED = {
    "format.think_answer": grpo_format.ThinkAnswer,
    "format.regex": grpo_format.Regex,
    "format.length": grpo_format.Length,
    "format.repetition": grpo_format.Repetition,
    "format.terminated": grpo_format.Terminated,
}


def registered():
    pm = pluggy.PluginManager("grpo_rewards")
    pm.add_hookspecs(hookspecs)
    pm.register(grpo_format)
    calls = []
    pm.hook.register_rewards(register=lambda name, reward: calls.append((name, reward)))
    return calls


def test_hook_registers_exactly_the_five_rewards():
    calls = registered()
    assert len(calls) == len(EXPECTED)  # no name registered twice
    assert dict(calls) == EXPECTED


def test_hookimpl_uses_the_sdk_marker():
    assert hasattr(grpo_format.register_rewards, "grpo_rewards_impl")


def test_entry_point_declared():
    from importlib.metadata import entry_points
    eps = [ep for ep in entry_points(group="grpo_rewards") if ep.name == "format"]
    assert eps and eps[0].value == "grpo_format"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_reward_builds_with_minimal_options(name):
    options = {"format.regex": {"pattern": "x"}, "format.length": {"max": 10}}.get(name, {})
    reward = EXPECTED[name](**options)
    out = reward(completions=["a", "b"])
    assert len(out) == 2
    assert all(v is None or isinstance(v, float) for v in out)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_call_signature_declares_only_known_arguments(name):
    # The runtime passes arguments by the names __call__ declares; optional ones need defaults.
    known = {"prompts", "completions", "completion_ids", "truncated"}
    options = {"format.regex": {"pattern": "x"}, "format.length": {"max": 10}}.get(name, {})
    params = inspect.signature(EXPECTED[name](**options)).parameters
    assert "completions" in params
    assert set(params) <= known
    for pname, p in params.items():
        if pname in ("completion_ids", "truncated"):
            assert p.default is None


def test_options_are_keyword_only_and_unknown_ones_are_rejected():
    with pytest.raises(TypeError):
        grpo_format.ThinkAnswer(nonsense=1)


def test_config_error_is_a_user_error():
    with pytest.raises(grpo_rewards.UserError):
        grpo_format.Regex()
