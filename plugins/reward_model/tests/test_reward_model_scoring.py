"""reward_model scores: formatting (chat / plain), batching, truncation, determinism, normalisation."""
import math

import pytest
import torch

import grpo_reward_model
from grpo_rewards.testing import mix, score

PROMPTS = ["What is 2+2?", "Name a colour.", "Say hi.", "Count to three.", "Why?"]
COMPLETIONS = ["4", "Blue, obviously, because the sky is blue.", "hi", "one two three", ""]


def raw_score(path, text, add_special_tokens):
    """The score computed by hand: tokenizer + model, no plugin code."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    ids = tok(text, add_special_tokens=add_special_tokens, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        return model(input_ids=ids).logits[0, 0].item()


def test_scores_through_the_hook_registered_name(llama_rm):
    out = score(grpo_reward_model, "reward_model", options={"model": llama_rm},
                prompts=PROMPTS, completions=COMPLETIONS)
    assert len(out) == len(PROMPTS)
    assert all(isinstance(s, float) and math.isfinite(s) for s in out)
    assert len(set(out)) > 1  # a random head still tells different inputs apart


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_batch_size_does_not_change_scores(llama_rm, batch_size):
    prompts, completions = PROMPTS * 3, COMPLETIONS * 3
    reference = grpo_reward_model.RewardModel(model=llama_rm, batch_size=1)(prompts, completions)
    out = grpo_reward_model.RewardModel(model=llama_rm, batch_size=batch_size)(prompts, completions)
    # Right padding with an attention mask: only float rounding in differently shaped matmuls differs.
    assert out == pytest.approx(reference, rel=1e-5, abs=1e-5)
    assert out[:5] == pytest.approx(out[5:10], rel=1e-5, abs=1e-5)  # a sample's batch-mates don't matter


def test_same_inputs_twice_give_identical_scores(llama_rm):
    reward = grpo_reward_model.RewardModel(model=llama_rm, batch_size=2)
    first = reward(PROMPTS, COMPLETIONS)
    assert reward(PROMPTS, COMPLETIONS) == first
    grpo_reward_model.clear_cache()  # a fresh load of the same checkpoint, too
    assert grpo_reward_model.RewardModel(model=llama_rm, batch_size=2)(PROMPTS, COMPLETIONS) == first


def test_chat_template_is_applied_with_user_and_assistant_turns(llama_rm, monkeypatch):
    reward = grpo_reward_model.RewardModel(model=llama_rm)
    assert reward.chat  # "auto" picked the tokenizer's template
    seen = []
    original = type(reward._tokenizer).apply_chat_template

    def spy(self, conversation, *args, **kwargs):
        seen.append(conversation)
        return original(self, conversation, *args, **kwargs)

    monkeypatch.setattr(type(reward._tokenizer), "apply_chat_template", spy)
    got = reward(["What is 2+2?"], ["4"])
    assert seen == [[{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]]
    manual = raw_score(llama_rm, "<s><|user|>What is 2+2?<|end|><|assistant|>4<|end|>", False)
    assert got == pytest.approx([manual], abs=1e-5)
    plain = grpo_reward_model.RewardModel(model=llama_rm, template="plain")(["What is 2+2?"], ["4"])
    assert plain == pytest.approx([raw_score(llama_rm, "What is 2+2?\n4", True)], abs=1e-5)
    assert plain != pytest.approx(got, abs=1e-4)


def test_chat_prompts_keep_their_roles(llama_rm, monkeypatch):
    reward = grpo_reward_model.RewardModel(model=llama_rm)
    seen = []
    original = type(reward._tokenizer).apply_chat_template
    monkeypatch.setattr(type(reward._tokenizer), "apply_chat_template",
                        lambda self, conv, *a, **k: seen.append(conv) or original(self, conv, *a, **k))
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    completion = [{"role": "assistant", "content": [{"type": "text", "text": "Hello"}]}]
    assert reward([prompt], [completion])[0] is not None
    assert seen[0] == prompt + [{"role": "assistant", "content": "Hello"}]


def test_plain_fallback_without_a_chat_template(plain_rm):
    reward = grpo_reward_model.RewardModel(model=plain_rm, separator=" || ")
    assert not reward.chat
    got = reward(["What is 2+2?"], ["4"])
    assert got == pytest.approx([raw_score(plain_rm, "What is 2+2? || 4", True)], abs=1e-5)


def test_without_prompts_the_completion_is_scored_alone(llama_rm, plain_rm):
    chat = grpo_reward_model.RewardModel(model=llama_rm)
    assert chat(None, ["4"]) == pytest.approx([raw_score(llama_rm, "<s><|assistant|>4<|end|>", False)], abs=1e-5)
    plain = grpo_reward_model.RewardModel(model=plain_rm)
    assert plain([None], ["4"]) == pytest.approx([raw_score(plain_rm, "4", True)], abs=1e-5)
    # Through the mix (offline scoring of a file without a prompt column) it works the same.
    assert score(grpo_reward_model, "reward_model", options={"model": plain_rm}, completions=["4"]) == \
        pytest.approx([raw_score(plain_rm, "4", True)], abs=1e-5)


def test_truncation_keeps_the_end_of_long_inputs(llama_rm):
    reward = grpo_reward_model.RewardModel(model=llama_rm, max_length=24)
    long_prompt = "x" * 300
    ids = reward._encode([long_prompt], ["the answer is 42"])[0]
    full = reward._tokenizer(
        reward._tokenizer.apply_chat_template([{"role": "user", "content": long_prompt},
                                               {"role": "assistant", "content": "the answer is 42"}],
                                              tokenize=False), add_special_tokens=False)["input_ids"]
    assert len(ids) == 24 and ids == full[-24:]  # the completion and its end-of-turn survive
    # Prompts that differ only in the part cut away score the same.
    a, b = reward(["A" + long_prompt, "B" + long_prompt], ["the answer is 42"] * 2)
    assert a == b


def test_inputs_longer_than_the_model_supports_still_score(llama_rm):
    # The tiny model has 512 positions; max_length 1024 (default) is capped to it.
    reward = grpo_reward_model.RewardModel(model=llama_rm)
    assert reward.max_length == 512
    out = reward(["q" * 3000], ["a" * 3000])
    assert math.isfinite(out[0])


def test_encoder_truncation_keeps_cls_and_sep(bert_rm):
    reward = grpo_reward_model.RewardModel(model=bert_rm, max_length=16, label_index=2)
    ids = reward._encode(["question " * 20], ["final"])[0]
    assert len(ids) == 16 and ids[0] == reward._tokenizer.cls_token_id and ids[-1] == reward._tokenizer.sep_token_id
    assert reward._tokenizer.decode(ids[-6:-1]).replace(" ", "") == "final"


def test_label_index_picks_the_logit(bert_rm):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(bert_rm)
    model = AutoModelForSequenceClassification.from_pretrained(bert_rm).eval()
    with torch.inference_mode():
        logits = model(**tok(["q\nanswer"], return_tensors="pt")).logits[0]
    for index in range(3):
        got = grpo_reward_model.RewardModel(model=bert_rm, label_index=index)(["q"], ["answer"])
        assert got == pytest.approx([logits[index].item()], abs=1e-5)


def test_normalize_modes(llama_rm):
    raw = grpo_reward_model.RewardModel(model=llama_rm)(PROMPTS, COMPLETIONS)
    sig = grpo_reward_model.RewardModel(model=llama_rm, normalize="sigmoid")(PROMPTS, COMPLETIONS)
    assert sig == pytest.approx([1 / (1 + math.exp(-r)) for r in raw], abs=1e-6)
    z = grpo_reward_model.RewardModel(model=llama_rm, normalize="zscore")(PROMPTS, COMPLETIONS)
    mean = sum(z) / len(z)
    assert mean == pytest.approx(0.0, abs=1e-6)
    assert sum((v - mean) ** 2 for v in z) / len(z) == pytest.approx(1.0, abs=1e-6)
    assert sorted(range(5), key=z.__getitem__) == sorted(range(5), key=raw.__getitem__)  # order kept


def test_zscore_edge_cases():
    from grpo_reward_model.reward_model import normalize
    assert normalize([3.0], "zscore") == [0.0]
    assert normalize([2.0, 2.0], "zscore") == [0.0, 0.0]
    assert normalize([None, 1.0, 3.0], "zscore") == [None, -1.0, 1.0]
    assert normalize([None], "zscore") == [None]
    assert normalize([-1000.0, 1000.0], "sigmoid") == [0.0, 1.0]


def test_unscorable_samples_are_none(llama_rm):
    reward = grpo_reward_model.RewardModel(model=llama_rm)
    out = reward(["ok", 42, "ok", [{"role": "user"}]], ["fine", "fine", None, "fine"])
    assert out[0] is not None and out[1:] == [None, None, None]


def test_model_without_pad_id_takes_the_tokenizers(make_llama_rm):
    path = make_llama_rm("nopad", pad=False)
    reward = grpo_reward_model.RewardModel(model=path, batch_size=4)
    assert reward._pad_id == reward._tokenizer.pad_token_id
    one = grpo_reward_model.RewardModel(model=path, batch_size=1)(PROMPTS, COMPLETIONS)
    assert reward(PROMPTS, COMPLETIONS) == pytest.approx(one, rel=1e-5, abs=1e-5)


def test_nf4_quantization_loads_through_bitsandbytes(make_llama_rm):
    pytest.importorskip("bitsandbytes")
    # hidden 64: bitsandbytes' CPU kernels need at least one 64-value quantisation block per row.
    path = make_llama_rm("nf4", hidden=64)
    reward = grpo_reward_model.RewardModel(model=path, quantization="nf4", device="cpu")
    layer = reward._model.model.layers[0].mlp.up_proj
    assert type(layer).__name__ == "Linear4bit"
    out = reward(PROMPTS, COMPLETIONS)
    assert all(math.isfinite(s) for s in out)


def test_in_a_mix_with_another_entry(llama_rm):
    with mix(grpo_reward_model, rewards=[
            {"use": "reward_model", "options": {"model": llama_rm}},
            {"use": "reward_model", "name": "rm_sig", "weight": 0.5,
             "options": {"model": llama_rm, "normalize": "sigmoid"}}]) as m:
        result = m.score(COMPLETIONS, prompts=PROMPTS)
    for raw, sig, total in zip(result.rewards["reward_model"], result.rewards["rm_sig"], result.total):
        assert total == pytest.approx(raw + 0.5 * sig)
