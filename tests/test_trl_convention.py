"""Other people's rewards, unchanged: TRL's chat-format completions, text=True for the text contract,
reward factories, through the mix, `grpo score` and `grpo train` on a conversational dataset."""
import json
import math
import types

import pytest

from engine_fixtures import config_text, make_tiny_model
from sdk_fixtures import make_distribution, run_cli

from grpo_rewards import ConfigError, hookimpl, isolated
from grpo_rewards.testing import mix

# TRL-style reward functions, written the way TRL's docs and open-r1 write them: they read
# completion[0]["content"] and would raise on a plain string.
TRL_STYLE = r'''
import re
from grpo_rewards import hookimpl

def think_answer(completions, **kwargs):
    contents = [completion[0]["content"] for completion in completions]
    return [1.0 if re.match(r"^<think>.*?</think>\s*<answer>.*?</answer>$", c, re.S) else 0.0 for c in contents]

def exact(completions, solution, **kwargs):
    return [1.0 if c[0]["content"].strip() == s else 0.0 for c, s in zip(completions, solution)]

def turns(prompts, completions, **kwargs):
    return [float(len(p) + len(c)) for p, c in zip(prompts, completions)]

def get_length_reward(max_len: int = 100, penalty: float = -1.0):
    if penalty > 0:
        raise ValueError(f"penalty {penalty} should not be positive")
    def length_reward(completions, **kwargs):
        return [0.0 if len(c[0]["content"]) <= max_len else penalty for c in completions]
    return length_reward

def shout(completions):
    return [1.0 if c.isupper() else 0.0 for c in completions]

@hookimpl
def register_rewards(register):
    register("trl.think_answer", think_answer)
    register("trl.exact", exact)
    register("trl.turns", turns)
    register("trl.length", get_length_reward, factory=True)
    register("text.shout", shout, text=True)
'''

USER = [{"role": "user", "content": "What is 2 + 2?"}]


def plugin_module():
    module = types.ModuleType("trl_style")
    exec(compile(TRL_STYLE, "trl_style.py", "exec"), module.__dict__)
    return module


def chat(text):
    return [{"role": "assistant", "content": text}]


def test_conversational_samples_reach_rewards_in_trls_form():
    seen = {}

    def record(prompts, completions):
        seen["native"] = (prompts, completions)
        return [0.0] * len(completions)

    def record_text(prompts, completions):
        seen["text"] = (prompts, completions)
        return [0.0] * len(completions)

    plugin = types.SimpleNamespace(register_rewards=hookimpl(
        lambda register: (register("native", record), register("text", record_text, text=True))))
    with mix(plugin, rewards=[{"use": "native"}, {"use": "text"}]) as m:
        m.score(["4", "five", chat("six")], prompts=[USER, "plain prompt", None])
    # As TRL's GRPOTrainer passes them: a conversation's completion is a list of one assistant message;
    # plain text stays a string; a completion already in chat form is passed as it is.
    assert seen["native"] == ([USER, "plain prompt", None], [chat("4"), "five", chat("six")])
    # text=True: the pre-0.2 contract, completions always strings, prompts as the dataset holds them.
    assert seen["text"] == ([USER, "plain prompt", None], ["4", "five", "six"])


def test_trl_style_functions_score_through_the_mix():
    good = "<think>2 and 2</think><answer>4</answer>"
    with mix(plugin_module(), rewards=[{"use": "trl.think_answer"}, {"use": "trl.exact", "weight": 2.0},
                                       {"use": "text.shout", "weight": 0.5}]) as m:
        result = m.score([good, "4", "FOUR"], prompts=[USER] * 3, solution=["4", "4", "4"])
    assert result.rewards == {"trl.think_answer": [1.0, 0.0, 0.0], "trl.exact": [0.0, 1.0, 0.0],
                              "text.shout": [0.0, 0.0, 1.0]}
    assert result.total == [1.0, 2.0, 0.5]
    assert all(c.errors == 0 for c in result.counts.values())


def test_a_factory_builds_the_reward_from_options():
    module = plugin_module()
    completions = [chat("x" * 5), chat("x" * 50)]
    with mix(module, rewards=[{"use": "trl.length", "options": {"max_len": 10, "penalty": -0.5}}]) as m:
        through_mix = m.score(completions, prompts=[USER] * 2).rewards["trl.length"]
    assert through_mix == module.get_length_reward(max_len=10, penalty=-0.5)(completions) == [0.0, -0.5]
    with mix(module, rewards=[{"use": "trl.length"}]) as m:  # the factory's defaults
        assert m.score(completions, prompts=[USER] * 2).rewards["trl.length"] == [0.0, 0.0]


def test_factory_option_errors_are_config_errors():
    module = plugin_module()
    with pytest.raises(ConfigError, match=r"unknown option 'max_length' \(did you mean 'max_len'\?\)"):
        mix(module, rewards=[{"use": "trl.length", "options": {"max_length": 3}}])
    with pytest.raises(ConfigError, match="penalty 1 should not be positive"):
        mix(module, rewards=[{"use": "trl.length", "options": {"penalty": 1}}])

    def needs(size):
        return lambda completions: [float(size)] * len(completions)

    plugin = types.SimpleNamespace(register_rewards=hookimpl(lambda register: (
        register("needs", needs, factory=True), register("not_a_reward", lambda: 3, factory=True))))
    with pytest.raises(ConfigError, match="missing required option 'size'"):
        mix(plugin, rewards=[{"use": "needs"}])
    with pytest.raises(ConfigError, match="the factory returned int, not a reward"):
        mix(plugin, rewards=[{"use": "not_a_reward"}])


def test_isolated_factory_isolates_what_it_builds():
    def get_slow(seconds=0.0):
        def slow(completions):
            import time
            time.sleep(seconds)
            return [1.0] * len(completions)
        return slow

    plugin = types.SimpleNamespace(register_rewards=hookimpl(
        lambda register: register("slow", isolated(get_slow, timeout=0.3), factory=True)))
    with mix(plugin, rewards=[{"use": "slow", "options": {"seconds": 5.0}}], pool_size=1) as m:
        assert m.components[0].isolate and m.components[0].timeout == 0.3
        result = m.score(["a"])
    assert result.rewards["slow"] == [0.0] and result.counts["slow"].timeouts == 1


# ------------------------------------------------------------------- grpo score and grpo train


@pytest.fixture(scope="module")
def trl_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("trl_style_site")
    make_distribution(root, "trl-style-rewards", "trl_style_rewards", TRL_STYLE)
    return root


def test_grpo_score_takes_chat_completions_and_prompts(trl_site, tmp_path):
    mix_file = tmp_path / "mix.toml"
    mix_file.write_text('[[rewards]]\nuse = "trl.think_answer"\n\n[[rewards]]\nuse = "trl.exact"\n\n'
                        '[[rewards]]\nuse = "trl.turns"\n\n'
                        '[[rewards]]\nuse = "trl.length"\noptions = { max_len = 8, penalty = -0.25 }\n\n'
                        '[[rewards]]\nuse = "text.shout"\n')
    rows = [
        {"prompt": USER, "completion": chat("<think>t</think><answer>4</answer>"), "solution": "4"},
        {"prompt": USER, "completion": "4", "solution": "4"},                 # text completion, chat prompt
        {"completion": chat("FOUR"), "solution": "4"},                         # chat completion, no prompt
    ]
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    result = run_cli("score", "--config", str(mix_file), "--input", str(data), "--output", str(out),
                     path_dirs=[trl_site], env={"GRPO_PLUGINS": "trl-style-rewards"})
    assert result.returncode == 0, result.stderr
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["rewards"] for r in scored] == [
        {"trl.think_answer": 1.0, "trl.exact": 0.0, "trl.turns": 2.0, "trl.length": -0.25, "text.shout": 0.0},
        {"trl.think_answer": 0.0, "trl.exact": 1.0, "trl.turns": 2.0, "trl.length": 0.0, "text.shout": 0.0},
        # no prompt: `turns` cannot take len(None), an error counted and skipped for that sample only
        {"trl.think_answer": 0.0, "trl.exact": 0.0, "trl.turns": None, "trl.length": 0.0, "text.shout": 1.0},
    ]
    assert scored[1]["completion"] == "4"  # rows are written back as they came
    assert "'trl.turns' (trl-style-rewards) raised TypeError" in result.stderr


def test_grpo_score_rejects_a_completion_that_is_neither_text_nor_messages(trl_site, tmp_path):
    mix_file = tmp_path / "mix.toml"
    mix_file.write_text('[[rewards]]\nuse = "text.shout"\n')
    for row, says in (({"completion": {"content": "x"}}, "no 'completion' text field (a string or a list of chat"),
                      ({"completion": "x", "prompt": 3}, "'prompt' must be text or a list of chat messages")):
        data = tmp_path / "in.jsonl"
        data.write_text(json.dumps(row) + "\n")
        result = run_cli("score", "--config", str(mix_file), "--input", str(data),
                         path_dirs=[trl_site], env={"GRPO_PLUGINS": "trl-style-rewards"})
        assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr


def test_grpo_train_hands_trl_style_rewards_chat_completions(trl_site, tmp_path):
    model = make_tiny_model(tmp_path / "model")
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps({"question": [{"role": "user", "content": f"What is {i} + {i}?"}],
                                        "solution": str(2 * i)}) + "\n" for i in range(8)))
    text = config_text(model, data, tmp_path / "run").split("[[rewards]]")[0]
    text += ('[[rewards]]\nuse = "trl.think_answer"\n\n[[rewards]]\nuse = "trl.exact"\n\n'
             '[[rewards]]\nuse = "trl.turns"\n\n[[rewards]]\nuse = "trl.length"\noptions = { max_len = 4 }\n\n'
             '[[rewards]]\nuse = "text.shout"\n\n[[rewards]]\nuse = "format.length"\noptions = { max = 4 }\n')
    config = tmp_path / "c.toml"
    config.write_text(text)
    result = run_cli("train", str(config), "--no-progress", path_dirs=[trl_site],
                     env={"GRPO_PLUGINS": "trl-style-rewards,grpo-format"}, timeout=600)
    assert result.returncode == 0, result.stderr
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 2
    for record in metrics:
        for name in ("trl.think_answer", "trl.exact", "trl.turns", "trl.length", "text.shout", "format.length"):
            assert record[f"rewards/{name}/errors"] == 0, (name, result.stderr)
            assert record[f"rewards/{name}/unscorable"] == 0, name
        # `turns` saw the prompt as one user message (the system prompt is the engine's, not the dataset's)
        # and the completion as one assistant message.
        assert record["rewards/trl.turns/mean"] == 2.0
        assert not math.isnan(record["reward/mean"])


def test_built_in_rewards_score_conversational_samples_like_text():
    import grpo_format
    import grpo_math

    entries = [{"use": "math"}, {"use": "format.think_answer"}, {"use": "format.regex", "options": {"pattern": r"\d"}},
               {"use": "format.length", "options": {"max": 30}}, {"use": "format.repetition"},
               {"use": "format.terminated", "options": {"max_tokens": 4}}]
    completions = ["<think>2 and 2</think><answer>4</answer>", "5 5 5 5 5 5", "the answer is 4"]
    with mix(grpo_math, grpo_format, rewards=entries, pool_size=1) as m:
        as_text = m.score(completions, prompts=["What is 2 + 2?"] * 3, answer=["4"] * 3)
        as_chat = m.score(completions, prompts=[USER] * 3, answer=["4"] * 3)
    assert as_chat.rewards == as_text.rewards
    assert as_text.rewards["math"] == [1.0, 0.0, 1.0] and as_text.rewards["format.think_answer"] == [1.0, 0.0, 0.0]
