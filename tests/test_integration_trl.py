"""The reward mix inside TRL's GRPOTrainer (the bench extra): two training steps on a tiny local model
with reward_funcs from a mix of `math`, `format.think_answer` and a reward that always times out."""
import time
import types

import pytest

from engine_fixtures import make_tiny_model
from optional import need

import grpo_format
import grpo_math
from grpo_rewards import hookimpl, isolated
from grpo_rewards.integrations.trl import trl_rewards
from grpo_rewards.testing import registry_with


@isolated(timeout=0.2)
def stalls(completions):
    time.sleep(30)  # far past its limit: the worker is killed and the sample scores 0 as a timeout
    return [1.0] * len(completions)


SLOW = types.SimpleNamespace(register_rewards=hookimpl(lambda register: register("test.stalls", stalls)))
MIX = [{"use": "math"}, {"use": "format.think_answer", "weight": 0.2},
       {"use": "test.stalls", "name": "stalls", "weight": 0.5}]


def test_none_and_chat_form_reach_trl_as_the_mix_gives_them():
    with trl_rewards(MIX[:2], registry=registry_with(grpo_math, grpo_format), workers=1) as rewards:
        math_fn, think_fn = rewards.reward_funcs
        assert [f.__name__ for f in rewards.reward_funcs] == ["math", "format.think_answer"]
        assert rewards.reward_weights == [1.0, 0.2]
        completions = [[{"role": "assistant", "content": "<think>2+2</think><answer>4</answer>"}],
                       [{"role": "assistant", "content": "5"}], [{"role": "assistant", "content": "4"}]]
        prompts = [[{"role": "user", "content": "2+2?"}]] * 3
        logged = []
        scores = math_fn(prompts=prompts, completions=completions, completion_ids=[[1], [2], [3]],
                         answer=["4", "4", ""], trainer_state=object(),
                         log_metric=lambda name, value: logged.append((name, value)))
        assert scores == [1.0, 0.0, None]  # an unreadable reference stays None: TRL leaves it out
        assert think_fn(prompts=prompts, completions=completions, answer=["4"] * 3) == [1.0, 0.0, 0.0]
        assert ("rewards/math/unscorable", 1.0) in logged and ("rewards/math/errors", 0.0) in logged
        assert rewards.summary()["math"] == {"scored": 2, "answered": 2, "unscorable": 1, "errors": 0,
                                             "timeouts": 0, "first_error": None}


def test_trl_grpo_trainer_trains_two_steps_on_the_mix(tmp_path):
    trl = need("trl", 'pip install -e ".[bench]"')
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = make_tiny_model(tmp_path / "model")
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": f"What is {i} + {i}?"}],
                                  "answer": str(2 * i)} for i in range(8)])
    # Built before the model, so the worker processes fork from a process without a model in memory.
    rewards = trl_rewards(MIX, registry=registry_with(grpo_math, grpo_format, SLOW), workers=2)
    try:
        config = trl.GRPOConfig(
            output_dir=str(tmp_path / "trl"), max_steps=2, per_device_train_batch_size=8, num_generations=4,
            max_completion_length=8, learning_rate=1e-3, reward_weights=rewards.reward_weights,
            use_cpu=True, bf16=False, fp16=False, gradient_checkpointing=False, logging_steps=1,
            save_strategy="no", eval_strategy="no", report_to="none", disable_tqdm=True, seed=0,
            dataloader_num_workers=0, log_completions=False)
        trainer = trl.GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(str(model_dir)),
                                  reward_funcs=rewards.reward_funcs, args=config, train_dataset=dataset,
                                  processing_class=AutoTokenizer.from_pretrained(str(model_dir)))
        trainer.train()
    finally:
        rewards.close()
    assert trainer.state.global_step == 2
    samples = 2 * 8  # two steps of 8 completions
    summary = rewards.summary()
    assert summary["stalls"]["timeouts"] == samples and summary["stalls"]["answered"] == 0  # contained, counted
    for name in ("math", "format.think_answer"):  # the others scored every sample, without errors
        assert summary[name]["answered"] == samples and summary[name]["errors"] == 0, summary
    logs = [entry for entry in trainer.state.log_history if "rewards/stalls/timeouts" in entry]
    assert len(logs) == 2 and all(entry["rewards/stalls/timeouts"] > 0 for entry in logs)
    assert all("rewards/math/mean" in entry and "rewards/format.think_answer/mean" in entry for entry in logs)
