"""Plugin tests in a few lines each, through grpo's real scoring runtime."""
import pytest
from grpo_rewards import ConfigError
from grpo_rewards.testing import mix, score

import grpo_keywords


def test_keywords_fraction():
    scores = score(grpo_keywords, "keywords", options={"words": ["alpha", "beta"]},
                   completions=["Alpha and beta", "only alpha", "none"])
    assert scores == [1.0, 0.5, 0.0]


def test_keywords_all_and_case():
    options = {"words": ["Alpha", "beta"], "mode": "all", "case_sensitive": True}
    assert score(grpo_keywords, "keywords", options=options, completions=["Alpha beta", "alpha beta"]) == [1.0, 0.0]


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="option 'mode'"):
        score(grpo_keywords, "keywords", options={"words": ["a"], "mode": "most"}, completions=["a"])


def test_chat_completions_score_like_text():
    chat = [[{"role": "assistant", "content": "alpha, please"}], [{"role": "assistant", "content": "no"}]]
    prompts = [[{"role": "user", "content": "hi"}]] * 2
    assert score(grpo_keywords, "keywords", options={"words": ["alpha"]}, completions=chat) == [1.0, 0.0]
    assert score(grpo_keywords, "politeness", completions=chat, prompts=prompts) == [1.0, 0.0]


def test_async_politeness_is_awaited():
    assert score(grpo_keywords, "politeness", completions=["Thank you!", "No."]) == [1.0, 0.0]


def test_weighted_mix_of_both():
    with mix(grpo_keywords, rewards=[{"use": "keywords", "weight": 2.0, "options": {"words": ["sum"]}},
                                     {"use": "politeness", "weight": 0.5}]) as m:
        result = m.score(["The sum, please.", "sum", "nothing"])
    assert result.total == [2.5, 2.0, 0.0]
