"""Reward weight schedules in the mix, and weight 0 (logged, never summed)."""
import types

import pytest

from grpo_rewards import ConfigError, hookimpl
from grpo_rewards.mix import Schedule
from grpo_rewards.testing import mix


def _plugin():
    def length(completions):
        return [float(len(c)) for c in completions]

    def picky(completions):  # scores only completions that start with "a"
        return [1.0 if c.startswith("a") else None for c in completions]

    @hookimpl
    def register_rewards(register):
        register("length", length)
        register("picky", picky)

    mod = types.ModuleType("schedule_plugin")
    mod.register_rewards = register_rewards
    return mod


def test_linear_and_cosine_schedules_by_hand():
    linear = Schedule(start=1.0, end=0.2, steps=4)
    # step 1 is the start; each step moves (0.2 - 1.0) / 4 = -0.2; from step 5 on, the end
    assert [linear.at(s) for s in (1, 2, 3, 4, 5, 9)] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2, 0.2])
    cosine = Schedule(start=1.0, end=0.2, steps=4, shape="cosine")
    # progress p -> (1 - cos(pi p)) / 2: p = 1/4 -> 0.1464466, so 1 - 0.8 x 0.1464466 = 0.8828427; p = 1/2 -> 0.6
    assert [cosine.at(s) for s in (1, 2, 3, 5)] == pytest.approx([1.0, 0.8828427, 0.6, 0.2])
    assert Schedule(start=0.0, end=1.0, steps=2).at(2) == 0.5  # ramps up as well as down


def test_the_mix_sums_the_weight_in_force():
    entries = [{"use": "length", "weight": {"start": 1.0, "end": 0.0, "steps": 2, "shape": "linear"}},
               {"use": "picky", "weight": 2.0}]
    with mix(_plugin(), rewards=entries) as m:
        assert m.score(["abc", "xy"]).total == [3.0 + 2.0, 2.0]      # before any step: the start weight
        m.set_step(2)
        scores = m.score(["abc", "xy"])
        assert scores.weights == {"length": 0.5, "picky": 2.0}
        assert scores.total == [1.5 + 2.0, 1.0]
        m.set_step(3)                                              # weight 0: logged, never summed
        scores = m.score(["abc", "xy"])
        assert scores.rewards["length"] == [3.0, 2.0]
        assert scores.total == [2.0, None]                         # "xy": only a weight-0 reward scored it


@pytest.mark.parametrize("weight, message", [
    ({"start": 1.0, "end": 0.2}, "rewards[0].weight: a weight schedule needs 'steps'"),
    ({"start": 1.0, "end": 0.2, "steps": 0}, "rewards[0].weight.steps: expected a whole number of steps, at least 1"),
    ({"start": 1.0, "end": 0.2, "steps": 10, "shape": "step"}, "rewards[0].weight.shape must be one of linear, cosine"),
    ({"start": "1", "end": 0.2, "steps": 10}, "rewards[0].weight.start: expected a finite number"),
    ({"start": 1.0, "end": 0.2, "steps": 10, "stop": 3}, "rewards[0].weight: unknown key 'stop' in a weight schedule"),
    ("heavy", "rewards[0].weight: expected a finite number or a schedule table"),
])
def test_bad_schedules_are_config_errors(weight, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        mix(_plugin(), rewards=[{"use": "length", "weight": weight}])
