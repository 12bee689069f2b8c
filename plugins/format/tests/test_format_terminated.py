import pytest

from grpo_format import Terminated
from grpo_rewards import ConfigError


def test_uses_truncated_flags():
    r = Terminated()
    assert r(["a", "b", "c"], truncated=[True, False, True]) == [-1.0, 0.0, -1.0]


def test_custom_rewards():
    r = Terminated(penalty=-0.5, reward_finished=0.1)
    assert r(["a", "b"], truncated=[True, False]) == [-0.5, 0.1]


def test_offline_string_and_int_flags():
    r = Terminated()
    assert r(["a"] * 6, truncated=["True", "false", 1, 0, "", "maybe"]) == [-1.0, 0.0, -1.0, 0.0, 0.0, None]


def test_without_any_information_every_sample_is_none():
    r = Terminated()
    assert r(["a", "b"]) == [None, None]
    assert r(["a", "b"], completion_ids=[[1] * 100, [1]]) == [None, None]  # no max_tokens


def test_max_tokens_from_completion_ids():
    r = Terminated(max_tokens=4)
    out = r(["a", "b", "c"], completion_ids=[[1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4, 5]])
    assert out == [0.0, -1.0, -1.0]


def test_eos_at_the_limit_counts_as_finished():
    r = Terminated(max_tokens=3, eos_token_id=2)
    assert r(["a", "b"], completion_ids=[[7, 8, 2], [7, 8, 9]]) == [0.0, -1.0]


def test_truncated_flags_win_over_ids():
    r = Terminated(max_tokens=2)
    assert r(["a"], truncated=[False], completion_ids=[[1, 2, 3]]) == [0.0]


def test_unusable_flag_falls_back_to_ids():
    r = Terminated(max_tokens=2)
    assert r(["a", "b"], truncated=[None, "?"], completion_ids=[[1, 2], [1]]) == [-1.0, 0.0]


def test_short_columns_do_not_raise():
    r = Terminated()
    assert r(["a", "b", "c"], truncated=[True]) == [-1.0, None, None]


def test_does_not_look_at_text():
    r = Terminated()
    assert r([None, "", "\x00"], truncated=[False, True, False]) == [0.0, -1.0, 0.0]


@pytest.mark.parametrize("options,option", [
    ({"penalty": "big"}, "penalty"),
    ({"penalty": float("nan")}, "penalty"),
    ({"reward_finished": None}, "reward_finished"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": 1.5}, "max_tokens"),
    ({"eos_token_id": -1}, "eos_token_id"),
])
def test_bad_options(options, option):
    with pytest.raises(ConfigError) as err:
        Terminated(**options)
    message = str(err.value)
    assert message.startswith(f"format.terminated: option '{option}'")
    assert "\n" not in message
