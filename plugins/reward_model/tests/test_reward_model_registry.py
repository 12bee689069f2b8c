"""The plugin registers its two rewards through the hook, and importing it stays torch-free."""
import inspect
import subprocess
import sys

import pluggy

import grpo_reward_model
from grpo_rewards import hookspecs

EXPECTED = {"reward_model": grpo_reward_model.RewardModel, "similarity": grpo_reward_model.Similarity}


def test_hook_registers_exactly_the_two_rewards():
    pm = pluggy.PluginManager("grpo_rewards")
    pm.add_hookspecs(hookspecs)
    pm.register(grpo_reward_model)
    calls = []
    pm.hook.register_rewards(register=lambda name, reward: calls.append((name, reward)))
    assert dict(calls) == EXPECTED and len(calls) == 2
    assert hasattr(grpo_reward_model.register_rewards, "grpo_rewards_impl")


def test_entry_point_declared():
    from importlib.metadata import entry_points
    eps = [ep for ep in entry_points(group="grpo_rewards") if ep.name == "reward_model"]
    assert eps and eps[0].value == "grpo_reward_model"


def test_import_does_not_load_torch_or_transformers():
    # `grpo plugins` imports every plugin; this one must not make it pay for torch.
    code = ("import sys, grpo_reward_model; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_call_signatures_follow_the_calling_convention():
    params = inspect.signature(grpo_reward_model.RewardModel.__call__).parameters
    assert list(params) == ["self", "prompts", "completions"]
    params = inspect.signature(grpo_reward_model.Similarity.__call__).parameters
    assert "completions" in params and any(p.kind is p.VAR_KEYWORD for p in params.values())


def test_rewards_run_in_the_main_process():
    # GPU work shares the policy's device; worker processes would each need their own copy.
    for reward in EXPECTED.values():
        assert not getattr(reward, "isolate", False)
