import re

import pytest

from grpo_format import Regex
from grpo_format.pattern import parse_flags
from grpo_rewards import ConfigError


def test_search_is_default():
    r = Regex(pattern=r"\d+")
    assert r(["answer 42", "none", ""]) == [1.0, 0.0, 0.0]


def test_modes():
    texts = ["42", "42 apples", "I have 42"]
    assert Regex(pattern=r"\d+", mode="search")(texts) == [1.0, 1.0, 1.0]
    assert Regex(pattern=r"\d+", mode="match")(texts) == [1.0, 1.0, 0.0]
    assert Regex(pattern=r"\d+", mode="fullmatch")(texts) == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("flags", ["IGNORECASE,DOTALL", "ignorecase|dotall", "I S", ["IGNORECASE", "DOTALL"],
                                   ("re.I", "re.S")])
def test_flags_forms(flags):
    r = Regex(pattern=r"^answer:.*done$", mode="fullmatch", flags=flags)
    assert r(["ANSWER: a\nb\ndone"]) == [1.0]


def test_flags_change_results():
    text = "ANSWER: a\nb"
    assert Regex(pattern=r"answer: a.b")([text]) == [0.0]
    assert Regex(pattern=r"answer: a.b", flags="IGNORECASE")([text]) == [0.0]
    assert Regex(pattern=r"answer: a.b", flags="IGNORECASE,DOTALL")([text]) == [1.0]
    assert Regex(pattern=r"^b$")([text]) == [0.0]
    assert Regex(pattern=r"^b$", flags=["MULTILINE"])([text]) == [1.0]


def test_parse_flags_values():
    assert parse_flags(None) == 0
    assert parse_flags("") == 0
    assert parse_flags([]) == 0
    assert parse_flags("VERBOSE, ascii") == re.VERBOSE | re.ASCII


def test_custom_rewards():
    r = Regex(pattern="sorry", reward_match=-1.0, reward_miss=0.5)
    assert r(["I'm sorry", "fine"]) == [-1.0, 0.5]
    assert Regex(pattern="x", reward_match=2)(["x"]) == [2.0]


def test_compiled_once():
    r = Regex(pattern="a+")
    assert isinstance(r.regex, re.Pattern)
    before = r.regex
    r(["aaa"] * 3)
    assert r.regex is before


def test_non_text_completions_are_unscorable():
    r = Regex(pattern="a")
    assert r([None, 3, [{"role": "assistant", "content": "a"}]]) == [None, None, 1.0]


@pytest.mark.parametrize("options,option", [
    ({}, "pattern"),
    ({"pattern": ""}, "pattern"),
    ({"pattern": 5}, "pattern"),
    ({"pattern": "(unclosed"}, "pattern"),
    ({"pattern": "[a-"}, "pattern"),
    ({"pattern": "a", "flags": "ASCII,UNICODE"}, "pattern"),
    ({"pattern": "a", "mode": "find"}, "mode"),
    ({"pattern": "a", "mode": None}, "mode"),
    ({"pattern": "a", "flags": "IGNORECASE,NOPE"}, "flags"),
    ({"pattern": "a", "flags": 2}, "flags"),
    ({"pattern": "a", "flags": ["I", 2]}, "flags"),
    ({"pattern": "a", "reward_match": "1"}, "reward_match"),
    ({"pattern": "a", "reward_match": True}, "reward_match"),
    ({"pattern": "a", "reward_miss": float("nan")}, "reward_miss"),
    ({"pattern": "a", "reward_miss": float("inf")}, "reward_miss"),
])
def test_bad_options(options, option):
    with pytest.raises(ConfigError) as err:
        Regex(**options)
    message = str(err.value)
    assert message.startswith(f"format.regex: option '{option}'")
    assert "\n" not in message
