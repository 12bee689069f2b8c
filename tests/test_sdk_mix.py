"""The calling convention, the weighted mix, and the error policies."""
import asyncio
import math
import types

import pytest

from grpo_rewards import ConfigError, RewardError, hookimpl
from grpo_rewards.testing import mix, score, score_batch


def plugin(**rewards):
    """A plugin module registering the given rewards."""
    @hookimpl
    def register_rewards(register):
        for name, obj in rewards.items():
            register(name.replace("__", "."), obj)
    mod = types.ModuleType("test_plugin")
    mod.register_rewards = register_rewards
    return mod


def test_reward_receives_only_declared_arguments():
    seen = {}

    def needs_answer(completions, answer):
        seen["args"] = (completions, answer)
        return [float(c == a) for c, a in zip(completions, answer)]

    assert score(plugin(r=needs_answer), "r", completions=["1", "2"], answer=["1", "3"], other=["x", "y"]) == [1.0, 0.0]
    assert seen["args"] == (["1", "2"], ["1", "3"])


def test_var_keyword_receives_every_column_trl_style():
    got = {}

    def trl_style(prompts, completions, **kwargs):  # an unchanged TRL/open-r1 reward function
        got.update(kwargs)
        return [len(p) + len(c) for p, c in zip(prompts, completions)]

    result = score(plugin(r=trl_style), "r", prompts=["ab", "c"], completions=["x", "yz"],
                   answer=["1", "2"], completion_ids=[[1], [2, 3]])
    assert result == [3.0, 3.0]
    assert set(got) == {"answer", "completion_ids"}


def test_missing_argument_names_the_reward_and_columns():
    def needs_solution(completions, solution):
        return [0.0] * len(completions)

    with pytest.raises(RewardError, match="'r' needs the argument 'solution'.*answer"):
        score(plugin(r=needs_solution), "r", completions=["a"], answer=["1"])


def test_class_built_once_with_options_and_unknown_option_suggested():
    built = []

    class Target:
        def __init__(self, target=100):
            built.append(target)
            self.target = target

        def __call__(self, completions):
            return [-abs(len(c) - self.target) / self.target for c in completions]

    m = mix(plugin(length_target=Target), rewards=[{"use": "length_target", "options": {"target": 4}}])
    assert m.score(["abcd", "ab"]).rewards["length_target"] == [0.0, -0.5]
    m.score(["abc"])
    assert built == [4]
    with pytest.raises(ConfigError, match="unknown option 'targt' \\(did you mean 'target'\\?\\)"):
        mix(plugin(length_target=Target), rewards=[{"use": "length_target", "options": {"targt": 4}}])


def test_async_reward_is_awaited():
    async def slow_judge(completions):
        await asyncio.sleep(0.01)
        return [0.5 for _ in completions]

    assert score(plugin(judge=slow_judge), "judge", completions=["a", "b"]) == [0.5, 0.5]


def test_weighted_total_and_none_left_out():
    def first(completions):
        return [1.0, None, 0.0]

    def second(completions):
        return [1.0, None, 1.0]

    def third(completions):
        return [0.0, 1.0, None]

    m = mix(plugin(a=first, b=second, c=third), rewards=[{"use": "a", "weight": 2.0}, {"use": "b", "weight": 0.5},
                                                          {"use": "c"}])
    result = m.score(["x", "y", "z"])
    assert result.total == [2.5, 1.0, 0.5]
    assert result.counts["b"].unscorable == 1 and result.counts["b"].scored == 2

    m = mix(plugin(a=first), rewards=[{"use": "a"}])
    assert m.score(["x", "y", "z"]).total == [1.0, None, 0.0]  # no reward scored sample 1


def test_same_reward_twice_needs_distinct_names():
    def r(completions):
        return [1.0] * len(completions)

    with pytest.raises(ConfigError, match="used twice"):
        mix(plugin(r=r), rewards=[{"use": "r"}, {"use": "r"}])
    m = mix(plugin(r=r), rewards=[{"use": "r"}, {"use": "r", "name": "r_again", "weight": 3}])
    assert m.score(["a"]).total == [4.0]


def test_unknown_reward_lists_installed_and_suggests():
    def shouting(completions):
        return [0.0] * len(completions)

    with pytest.raises(RewardError) as info:
        mix(plugin(shouting=shouting, format__regex=shouting), rewards=[{"use": "shoutng"}])
    message = str(info.value)
    assert "unknown reward 'shoutng'" in message and "Did you mean 'shouting'?" in message
    assert "format.regex, shouting" in message and "\n" not in message


@pytest.mark.parametrize("entry, pattern", [
    ({"use": "r", "wieght": 1}, "unknown key 'wieght' \\(did you mean 'weight'\\?\\)"),
    ({"use": "r", "weight": "high"}, "weight: expected a finite number"),
    ({"use": "r", "weight": True}, "weight: expected a finite number"),
    ({"use": "r", "on_error": "ignore"}, "on_error must be one of skip, zero, raise"),
    ({"use": "r", "options": 3}, "options: expected a table"),
    ({"weight": 1}, "'use' must name a registered reward"),
])
def test_bad_entries_are_config_errors(entry, pattern):
    with pytest.raises(ConfigError, match=pattern):
        mix(plugin(r=lambda completions: [0.0] * len(completions)), rewards=[entry])


def broken_on(bad):
    def reward(completions):
        if any(c == bad for c in completions):
            raise ValueError(f"cannot score {bad}")
        return [float(len(c)) for c in completions]
    return reward


def test_exception_skip_affects_only_failing_samples():
    result = score_batch(plugin(r=broken_on("b")), "r", on_error="skip", completions=["a", "b", "cc"])
    assert result.rewards["r"] == [1.0, None, 2.0]  # nothing shifted between samples
    assert result.counts["r"].errors == 1
    assert "cannot score b" in result.counts["r"].first_error


def test_exception_zero_and_raise():
    result = score_batch(plugin(r=broken_on("b")), "r", on_error="zero", completions=["a", "b", "cc"])
    assert result.rewards["r"] == [1.0, 0.0, 2.0] and result.counts["r"].errors == 1
    with pytest.raises(RewardError, match="reward 'r' .* raised ValueError: cannot score b"):
        score_batch(plugin(r=broken_on("b")), "r", on_error="raise", completions=["a", "b"])


def test_wrong_length_affects_whole_batch():
    def short(completions):
        return [1.0] * (len(completions) - 1)

    result = score_batch(plugin(r=short), "r", on_error="skip", completions=["a", "b", "c"])
    assert result.rewards["r"] == [None, None, None] and result.counts["r"].errors == 3
    with pytest.raises(RewardError, match="returned 2 scores for 3 samples"):
        score_batch(plugin(r=short), "r", on_error="raise", completions=["a", "b", "c"])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "1.0", [1]])
def test_non_finite_and_non_numbers(bad):
    def reward(completions):
        return [1.0, bad, True]

    result = score_batch(plugin(r=reward), "r", on_error="skip", completions=["a", "b", "c"])
    assert result.rewards["r"] == [1.0, None, 1.0] and result.counts["r"].errors == 1
    result = score_batch(plugin(r=reward), "r", on_error="zero", completions=["a", "b", "c"])
    assert result.rewards["r"] == [1.0, 0.0, 1.0]
    with pytest.raises(RewardError):
        score_batch(plugin(r=reward), "r", on_error="raise", completions=["a", "b", "c"])


def test_function_options_are_bound():
    def contains(completions, word="yes"):
        return [float(word in c) for c in completions]

    assert score(plugin(r=contains), "r", options={"word": "ok"}, completions=["ok!", "yes"]) == [1.0, 0.0]
