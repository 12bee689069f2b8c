import math

import pytest

from grpo_format import Length
from grpo_rewards import ConfigError


def test_inside_window_and_edges_score_one():
    r = Length(min=3, max=6)
    assert r(["abc", "abcd", "abcdef"]) == [1.0, 1.0, 1.0]


def test_linear_penalty_outside_default_scale_is_the_bound():
    r = Length(min=4, max=10)
    assert r(["ab"]) == [pytest.approx(0.5)]  # 2 short of min=4
    assert r([""]) == [0.0]  # 4 short: reached 0 at d == min
    assert r(["x" * 15]) == [pytest.approx(0.5)]  # 5 over max=10
    assert r(["x" * 11]) == [pytest.approx(0.9)]
    assert r(["x" * 100]) == [0.0]  # clamped at floor


def test_just_outside_edges():
    r = Length(min=3, max=6, scale=10)
    assert r(["ab", "abcdefg"]) == [pytest.approx(0.9), pytest.approx(0.9)]


def test_negative_floor_and_scale():
    r = Length(max=10, scale=5, floor=-1.0)
    assert r(["x" * 15, "x" * 20, "x" * 1000]) == [pytest.approx(0.0), pytest.approx(-1.0), -1.0]


def test_exponential_shape_is_smooth_and_bounded():
    r = Length(max=10, scale=10, shape="exponential", floor=-0.5)
    inside, near, far = r(["x" * 10, "x" * 20, "x" * 10_000])
    assert inside == 1.0
    assert near == pytest.approx(-0.5 + 1.5 * math.exp(-1))
    assert -0.5 <= far < near < 1.0


def test_only_min_or_only_max():
    assert Length(min=5)(["x" * 10_000]) == [1.0]
    assert Length(max=5)([""]) == [1.0]
    assert Length(min=0, max=0)([""]) == [1.0]
    assert Length(max=0)(["x"]) == [0.0]  # bound 0: scale falls back to 1


def test_words_unit():
    r = Length(min=2, max=3, unit="words")
    assert r(["one two", "one  two\nthree", "one", "a b c d e f"]) == [1.0, 1.0, pytest.approx(0.5), 0.0]


def test_tokens_unit_uses_completion_ids():
    r = Length(max=4, unit="tokens")
    out = r(completions=["whatever", "x"], completion_ids=[[1, 2, 3], [1, 2, 3, 4, 5, 6]])
    assert out == [1.0, pytest.approx(0.5)]


def test_tokens_unit_without_ids_is_unscorable():
    r = Length(max=4, unit="tokens")
    assert r(["a b", "c"]) == [None, None]
    assert r(["a", "b"], completion_ids=[[1]]) == [1.0, None]  # short column: missing sample


def test_chars_ignore_completion_ids():
    assert Length(max=3)(["abcdef"], completion_ids=[[1]]) == [0.0]


@pytest.mark.parametrize("options,option", [
    ({}, "min"),
    ({"min": 10, "max": 5}, "min"),
    ({"min": -1}, "min"),
    ({"max": 2.5}, "max"),
    ({"max": "10"}, "max"),
    ({"max": True}, "max"),
    ({"max": 10, "unit": "bytes"}, "unit"),
    ({"max": 10, "scale": 0}, "scale"),
    ({"max": 10, "scale": -3}, "scale"),
    ({"max": 10, "floor": 1.0}, "floor"),
    ({"max": 10, "floor": float("-inf")}, "floor"),
    ({"max": 10, "shape": "cubic"}, "shape"),
])
def test_bad_options(options, option):
    with pytest.raises(ConfigError) as err:
        Length(**options)
    message = str(err.value)
    assert message.startswith(f"format.length: option '{option}'")
    assert "\n" not in message
