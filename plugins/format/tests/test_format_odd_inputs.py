"""Rewards run in the trainer process: odd completions must score quickly and never raise."""
import time

import pytest

from grpo_format import Length, Regex, Repetition, Terminated, ThinkAnswer

BIG = "word " * 400_000  # 2 MB
BIG_TAGGED = "<think>" + "a" * 2_000_000 + "</think><answer>1</answer>"

ODD = [
    "",
    "\x00",
    "<think>\x00</think><answer>\x00</answer>",
    "\x00" * 1000,
    "<" * 10_000 + ">" * 10_000,
    "</think>" * 1000,
    "\ud800 lone surrogate",
    "emoji \U0001F600 and RTL \u202e text",
    None,
    42,
    b"<answer>bytes</answer>",
    [{"role": "assistant", "content": [{"type": "text", "text": "<answer>x</answer>"}]}],
    {"content": None},
    [],
]


def all_rewards():
    return [
        ThinkAnswer(), ThinkAnswer(partial=True), ThinkAnswer(require_think=False, think_prefilled=True),
        Regex(pattern=r"<answer>.*?</answer>", flags="DOTALL"),
        Regex(pattern=r"\d+", mode="fullmatch"),
        Length(min=10, max=100), Length(max=100, unit="words", shape="exponential"),
        Repetition(), Repetition(unit="chars", ngram_size=5),
        Terminated(),
    ]


@pytest.mark.parametrize("reward", all_rewards(), ids=lambda r: type(r).__name__)
def test_odd_inputs_never_raise(reward):
    out = reward(completions=ODD)
    assert len(out) == len(ODD)
    assert all(v is None or isinstance(v, float) for v in out)


@pytest.mark.parametrize("reward", all_rewards(), ids=lambda r: type(r).__name__)
def test_two_megabyte_completion_is_fast(reward):
    start = time.perf_counter()
    out = reward(completions=[BIG, BIG_TAGGED])
    elapsed = time.perf_counter() - start
    assert len(out) == 2
    assert elapsed < 2.0, f"{type(reward).__name__} took {elapsed:.2f}s on 2 MB"


def test_big_results_are_sensible():
    assert ThinkAnswer()([BIG, BIG_TAGGED]) == [0.0, 1.0]
    assert Length(max=100)([BIG])[0] == 0.0
    assert Repetition()([BIG])[0] < -0.99


def test_nul_bytes_inside_tags():
    assert ThinkAnswer()(["<think>\x00</think><answer>\x00</answer>"]) == [1.0]


def test_non_text_completions_score_none():
    r = ThinkAnswer()
    assert r([None, 42, {"content": None}]) == [None, None, None]
    assert r([b"<think>a</think><answer>b</answer>"]) == [1.0]
