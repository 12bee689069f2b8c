import pytest

from grpo_format import Repetition
from grpo_rewards import ConfigError

VARIED = "The quick brown fox jumps over the lazy dog while a cat watches from the old fence."


def test_varied_text_scores_zero():
    assert Repetition()([VARIED]) == [0.0]


def test_fully_repetitive_text_approaches_max_penalty():
    text = " ".join(["same"] * 1000)
    value = Repetition()([text])[0]
    assert -1.0 <= value < -0.99
    assert Repetition(max_penalty=-0.5)([text])[0] == pytest.approx(-0.5, abs=0.01)


def test_partly_repetitive_is_in_between():
    looped = VARIED + " " + " ".join(["I think so."] * 20)
    value = Repetition()([looped])[0]
    assert -1.0 < value < 0.0
    assert value < Repetition()([VARIED + " " + VARIED])[0] < 0.0


def test_exact_fraction():
    # 6 words, n=3 -> 4 trigrams: (a b c), (b c a), (c a b), (a b c): 3 distinct
    assert Repetition()(["a b c a b c"]) == [pytest.approx(-0.25)]


def test_case_folding_option():
    text = "Go now go now Go now"
    assert Repetition(ngram_size=2)([text])[0] < Repetition(ngram_size=2, lowercase=False)([text])[0] <= 0.0


def test_short_text_scores_zero():
    r = Repetition(ngram_size=3)
    assert r(["", "one", "one two", "   "]) == [0.0, 0.0, 0.0, 0.0]
    assert r(["one two three"]) == [0.0]


def test_ngram_size_one():
    assert Repetition(ngram_size=1)(["a a b b"]) == [pytest.approx(-0.5)]


def test_token_unit():
    r = Repetition(unit="tokens", ngram_size=2)
    assert r(["ignored"], completion_ids=[[5, 6, 5, 6, 5, 6]]) == [pytest.approx(-0.6)]
    assert r(["no ids"]) == [None]
    assert r(["x"], completion_ids=[[[1], [2], [1]]]) == [None]  # unhashable ids: unscorable


def test_char_unit():
    assert Repetition(unit="chars", ngram_size=2)(["abab"]) == [pytest.approx(-1 / 3)]


@pytest.mark.parametrize("options,option", [
    ({"ngram_size": 0}, "ngram_size"),
    ({"ngram_size": 2.0}, "ngram_size"),
    ({"max_penalty": 0.5}, "max_penalty"),
    ({"max_penalty": "-1"}, "max_penalty"),
    ({"unit": "sentences"}, "unit"),
    ({"lowercase": "true"}, "lowercase"),
])
def test_bad_options(options, option):
    with pytest.raises(ConfigError) as err:
        Repetition(**options)
    message = str(err.value)
    assert message.startswith(f"format.repetition: option '{option}'")
    assert "\n" not in message
