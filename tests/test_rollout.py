"""grpo_core.rollout.sample_groups: shapes, groups, EOS and masks, sampling controls, and prefill-once.

The model is a tiny random Qwen2 over a 32-token word-level vocabulary: its next-token distribution is
close to uniform, so passing several ids as EOS makes completions end at varied lengths.
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from grpo_core.rollout import Rollout, eos_token_ids_of, sample_groups

PAD, EOS = 0, 1
MANY_EOS = [1, 2, 3, 4, 5, 6, 7, 8]  # a quarter of the vocabulary: most rows stop early, some run out


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": PAD, "<eos>": EOS, **{f"w{i}": i + 2 for i in range(30)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", padding_side="left")


@pytest.fixture(scope="module")
def model():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        eos_token_id=EOS, pad_token_id=PAD,
    )
    torch.manual_seed(0)
    return Qwen2ForCausalLM(config).eval()


PROMPTS = [[5, 9, 12], [20, 3, 7, 7, 30, 11, 4], [2, 25, 16, 8, 13]]  # different lengths: left padding


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _check_invariants(r: Rollout, eos_ids, max_new_tokens, pad=PAD):
    """What every rollout must satisfy, row by row."""
    rows, width = r.completion_ids.shape
    assert r.input_ids.shape == r.attention_mask.shape == (rows, r.prompt_length + width)
    assert torch.equal(r.input_ids[:, r.prompt_length :], r.completion_ids)
    assert torch.equal(r.attention_mask[:, r.prompt_length :], r.completion_mask)
    assert width == int(r.completion_lengths.max()) <= max_new_tokens
    for i in range(rows):
        ids, n = r.completion_ids[i].tolist(), int(r.completion_lengths[i])
        assert r.completion_mask[i].tolist() == [1] * n + [0] * (width - n)
        assert all(t == pad for t in ids[n:])
        hits = [j for j, t in enumerate(ids[:n]) if t in eos_ids]
        if r.truncated[i]:
            assert not hits and n == max_new_tokens
        else:
            assert hits == [n - 1]  # stops right after its first EOS, which is kept and masked in


def test_shapes_and_contiguous_groups(model, tokenizer):
    r = sample_groups(model, tokenizer, PROMPTS, num_generations=4, max_new_tokens=6, generator=_gen())
    assert r.num_generations == 4 and r.num_prompts == 3
    assert r.prompt_length == 7 and r.completion_ids.shape[0] == 12
    prompt_part = r.input_ids[:, : r.prompt_length]
    for b, prompt in enumerate(PROMPTS):
        padded = [PAD] * (7 - len(prompt)) + prompt
        mask = [0] * (7 - len(prompt)) + [1] * len(prompt)
        for row in range(b * 4, b * 4 + 4):
            assert prompt_part[row].tolist() == padded
            assert r.attention_mask[row, : r.prompt_length].tolist() == mask
    _check_invariants(r, [EOS], 6)


def test_eos_masks_and_truncation(model, tokenizer):
    r = sample_groups(
        model, tokenizer, PROMPTS, num_generations=4, max_new_tokens=6, eos_token_ids=MANY_EOS, generator=_gen(3)
    )
    _check_invariants(r, MANY_EOS, 6)
    assert r.truncated.any() and (~r.truncated).any()  # both endings occur with this seed
    assert (r.completion_lengths < 6).any()
    # Text drops the closing EOS (a plain word here, so only the length says which one it is) and nothing else.
    raw = r.decode(tokenizer, skip_special_tokens=False)
    for text, n, cut in zip(raw, r.completion_lengths.tolist(), r.truncated.tolist()):
        assert len(text.split()) == (n if cut else n - 1)
    # By default special tokens (a sampled <pad>, say) are left out of the text.
    assert all("<pad>" not in text and "<eos>" not in text for text in r.decode(tokenizer))


def test_default_eos_ids_include_generation_config(model, tokenizer):
    assert eos_token_ids_of(model, tokenizer) == [EOS]
    model.generation_config.eos_token_id = [EOS, 9]
    try:
        assert eos_token_ids_of(model, tokenizer) == [EOS, 9]
    finally:
        model.generation_config.eos_token_id = EOS


def test_min_new_tokens_bans_eos_until_reached(model, tokenizer):
    r = sample_groups(
        model, tokenizer, PROMPTS, num_generations=4, max_new_tokens=8, min_new_tokens=4,
        eos_token_ids=MANY_EOS, generator=_gen(1),
    )
    _check_invariants(r, MANY_EOS, 8)
    assert (r.completion_lengths >= 4).all()
    assert not any(t in MANY_EOS for t in r.completion_ids[:, :4].flatten().tolist())
    assert (~r.truncated).any()  # EOS is allowed again afterwards


def test_seeded_sampling_is_reproducible(model, tokenizer):
    kwargs = dict(num_generations=4, max_new_tokens=8, temperature=0.9, top_p=0.95, top_k=20)
    a = sample_groups(model, tokenizer, PROMPTS, generator=_gen(7), **kwargs)
    b = sample_groups(model, tokenizer, PROMPTS, generator=_gen(7), **kwargs)
    c = sample_groups(model, tokenizer, PROMPTS, generator=_gen(8), **kwargs)
    assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.completion_mask, b.completion_mask)
    assert not torch.equal(a.completion_ids, c.completion_ids)
    # The G samples of one prompt differ from each other: the cache is shared, the randomness is not.
    assert len({tuple(row) for row in a.completion_ids[:4].tolist()}) > 1


def test_greedy_is_deterministic_and_filters_reduce_to_greedy(model, tokenizer):
    greedy = sample_groups(model, tokenizer, PROMPTS, num_generations=2, max_new_tokens=8, temperature=0)
    again = sample_groups(model, tokenizer, PROMPTS, num_generations=2, max_new_tokens=8, temperature=0)
    assert torch.equal(greedy.input_ids, again.input_ids)
    assert torch.equal(greedy.completion_ids[0::2], greedy.completion_ids[1::2])  # a group of greedy twins
    for filters in (dict(top_k=1), dict(top_p=1e-6)):  # sampling left with one candidate is greedy
        sampled = sample_groups(
            model, tokenizer, PROMPTS, num_generations=2, max_new_tokens=8, generator=_gen(), **filters
        )
        assert torch.equal(sampled.completion_ids, greedy.completion_ids), filters


def test_left_padding_matches_each_prompt_alone_and_generate(model, tokenizer):
    n = 10
    batched = sample_groups(model, tokenizer, PROMPTS, num_generations=1, max_new_tokens=n, min_new_tokens=n, temperature=0)
    for b, prompt in enumerate(PROMPTS):
        alone = sample_groups(model, tokenizer, [prompt], num_generations=1, max_new_tokens=n, min_new_tokens=n, temperature=0)
        assert alone.prompt_length == len(prompt)
        assert batched.completion_ids[b].tolist() == alone.completion_ids[0].tolist()
        # An independent reference: transformers' own greedy decoding of the prompt alone.
        ref = model.generate(
            torch.tensor([prompt]), do_sample=False, max_new_tokens=n, min_new_tokens=n, pad_token_id=PAD
        )
        assert ref[0, len(prompt) :].tolist() == alone.completion_ids[0].tolist()


def _count_embedded_tokens(model):
    shapes = []
    hook = model.get_input_embeddings().register_forward_pre_hook(lambda m, args: shapes.append(tuple(args[0].shape)))
    return shapes, hook


@pytest.mark.parametrize("num_generations", [1, 4])
def test_each_prompt_is_prefilled_once(model, tokenizer, num_generations):
    n, G, B, P = 6, num_generations, len(PROMPTS), 7
    shapes, hook = _count_embedded_tokens(model)
    try:
        # min_new_tokens == max_new_tokens: no row can stop early, so the step count is known exactly.
        sample_groups(model, tokenizer, PROMPTS, num_generations=G, max_new_tokens=n, min_new_tokens=n, generator=_gen())
    finally:
        hook.remove()
    # One prefill of the B padded prompts, then one token per row per step (the lean step feeds a flat
    # [rows] tensor); the last token is never fed back.
    assert shapes == [(B, P)] + [(B * G,)] * (n - 1)
    assert sum(math.prod(s) for s in shapes) == B * P + (n - 1) * B * G


def test_stops_when_every_row_has_finished(model, tokenizer):
    shapes, hook = _count_embedded_tokens(model)
    try:
        every = list(range(32))  # every token ends a completion: one step and done
        r = sample_groups(model, tokenizer, PROMPTS, num_generations=2, max_new_tokens=20, eos_token_ids=every, generator=_gen())
    finally:
        hook.remove()
    assert r.completion_ids.shape[1] == 1 and not r.truncated.any()
    assert len(shapes) == 1  # the prefill only; no decode forward after all rows finished


def test_peft_policy_in_train_mode_samples_with_adapter_and_restores_mode(tmp_path, tokenizer):
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, eos_token_id=EOS, pad_token_id=PAD,
    )
    torch.manual_seed(0)
    policy = get_peft_model(Qwen2ForCausalLM(config), LoraConfig(r=4, target_modules="all-linear", lora_dropout=0.5))
    base_greedy = sample_groups(policy, tokenizer, PROMPTS, num_generations=1, max_new_tokens=8, min_new_tokens=8, temperature=0)
    with torch.no_grad():
        for name, param in policy.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 1.0)
    policy.train()
    shapes, hook = _count_embedded_tokens(policy)
    try:
        first = sample_groups(policy, tokenizer, PROMPTS, num_generations=3, max_new_tokens=8, min_new_tokens=8, temperature=0)
    finally:
        hook.remove()
    assert policy.training  # the caller's mode comes back
    assert shapes == [(3, 7)] + [(9,)] * 7  # prefill once through the peft wrapper too
    # eval mode inside: dropout 0.5 would otherwise make greedy rows of a group disagree.
    assert torch.equal(first.completion_ids[0::3], first.completion_ids[1::3])
    # The adapter is on while sampling: perturbed LoRA changes the greedy completions.
    assert not torch.equal(first.completion_ids[0::3], base_greedy.completion_ids)


def test_rejects_bad_arguments(model, tokenizer):
    with pytest.raises(ValueError):
        sample_groups(model, tokenizer, [[1, 2], []], num_generations=2, max_new_tokens=4)
    with pytest.raises(ValueError):
        sample_groups(model, tokenizer, PROMPTS, num_generations=2, max_new_tokens=4, min_new_tokens=5)
    with pytest.raises(ValueError):
        sample_groups(model, tokenizer, PROMPTS, num_generations=2, max_new_tokens=4, top_p=0.0)


def test_inverse_cdf_sampler_matches_the_distribution_and_never_draws_zero_probability():
    from grpo_core.rollout import _inverse_cdf_sample

    # zeros at both ends and in the middle: banned and filtered tokens look like this
    probs = torch.tensor([0.0, 0.1, 0.0, 0.6, 0.3, 0.0])
    draws = _inverse_cdf_sample(probs.expand(200_000, -1).contiguous(), _gen(0))
    counts = torch.bincount(draws, minlength=6).double() / draws.numel()
    assert counts[[0, 2, 5]].sum() == 0
    # 200k draws: the standard error of a frequency near 0.5 is ~0.0011, so 0.005 is > 4 sigma
    assert torch.allclose(counts, probs.double(), atol=0.005), counts
    # the same generator state gives the same draws; another seed does not
    p = torch.softmax(torch.randn(16, 50, generator=_gen(1)), dim=-1)
    assert torch.equal(_inverse_cdf_sample(p, _gen(3)), _inverse_cdf_sample(p, _gen(3)))
    assert not torch.equal(_inverse_cdf_sample(p, _gen(3)), _inverse_cdf_sample(p, _gen(4)))


def test_inverse_cdf_sampler_takes_the_argmax_when_rounding_lands_on_a_zero(monkeypatch):
    from grpo_core.rollout import _inverse_cdf_sample

    # a uniform draw that rounds up to the total makes searchsorted run off the end, onto a zero token
    monkeypatch.setattr(torch, "rand", lambda *a, **k: torch.ones(1, 1))
    assert _inverse_cdf_sample(torch.tensor([[0.25, 0.75, 0.0]]), None).tolist() == [1]
    # only the row that ran off the end takes its argmax; the others keep their draws
    probs = torch.tensor([[0.5, 0.3, 0.2, 0.0], [0.25, 0.75, 0.0, 0.0], [0.1, 0.2, 0.3, 0.4]])
    uniforms = torch.tensor([[0.1], [1.0], [0.5]])
    assert _inverse_cdf_sample(probs, None, uniforms).tolist() == [0, 1, 2]


# -----------------------------------------------------------------------------
# min_p and repetition_penalty: the same numbers as transformers' own processors


def test_filters_equal_transformers_processors():
    from transformers.generation.logits_process import (MinPLogitsWarper, RepetitionPenaltyLogitsProcessor,
                                                        TemperatureLogitsWarper, TopKLogitsWarper)

    from grpo_core.rollout import penalize_repeats, warp

    torch.manual_seed(0)
    logits = torch.randn(4, 32) * 3
    ids = torch.randint(0, 32, (4, 6))
    for temperature, top_k, min_p in ((1.0, 0, 0.1), (0.7, 0, 0.05), (1.3, 8, 0.2)):
        ours = warp(logits, temperature=temperature, top_k=top_k, top_p=1.0, min_p=min_p)
        theirs = TemperatureLogitsWarper(temperature)(ids, logits.clone())
        if top_k:
            theirs = TopKLogitsWarper(top_k)(ids, theirs)
        theirs = MinPLogitsWarper(min_p)(ids, theirs)
        assert torch.equal(ours.isinf(), theirs.isinf()) and ours.isinf().any()
        torch.testing.assert_close(ours[~ours.isinf()], theirs[~theirs.isinf()])
    seen = torch.zeros(4, 32, dtype=torch.bool).scatter_(1, ids, True)
    torch.testing.assert_close(penalize_repeats(logits, seen, 1.3),
                               RepetitionPenaltyLogitsProcessor(1.3)(ids, logits.clone()))


def test_repetition_penalty_decodes_as_transformers_generate(model, tokenizer):
    n = 10
    for prompt in PROMPTS:
        ours = sample_groups(model, tokenizer, [prompt], num_generations=2, max_new_tokens=n, min_new_tokens=n,
                             temperature=0, repetition_penalty=1.8)
        ref = model.generate(torch.tensor([prompt]), do_sample=False, max_new_tokens=n, min_new_tokens=n,
                             pad_token_id=PAD, repetition_penalty=1.8)
        assert ours.completion_ids[0].tolist() == ref[0, len(prompt):].tolist()
        assert ours.completion_ids[1].tolist() == ref[0, len(prompt):].tolist()
        plain = sample_groups(model, tokenizer, [prompt], num_generations=1, max_new_tokens=n, min_new_tokens=n,
                              temperature=0)
        if ours.completion_ids[0].tolist() != plain.completion_ids[0].tolist():
            break
    else:
        raise AssertionError("the penalty changed no completion: the comparison shows nothing")


def test_min_p_draws_only_tokens_above_the_threshold(model, tokenizer):
    from grpo_core.rollout import _next_tokens

    # probabilities 0.4, 0.3, 0.15, 0.1, 0.05: min_p = 0.3 keeps those >= 0.12, i.e. tokens 0, 1, 2
    logits = torch.tensor([[0.4, 0.3, 0.15, 0.1, 0.05]]).log().expand(4000, 5)
    drawn = _next_tokens(logits, ban=None, temperature=1.0, top_k=0, top_p=1.0, generator=_gen(), min_p=0.3)
    assert set(drawn.tolist()) == {0, 1, 2}
    # renormalised 0.4 / 0.85 = 0.47 for token 0
    assert (drawn == 0).float().mean().item() == pytest.approx(0.4 / 0.85, abs=0.03)
    a = sample_groups(model, tokenizer, PROMPTS, num_generations=4, max_new_tokens=8, generator=_gen(3), min_p=0.3)
    b = sample_groups(model, tokenizer, PROMPTS, num_generations=4, max_new_tokens=8, generator=_gen(3), min_p=0.3)
    assert torch.equal(a.completion_ids, b.completion_ids)
    with pytest.raises(ValueError, match="min_p"):
        sample_groups(model, tokenizer, PROMPTS, num_generations=1, max_new_tokens=2, min_p=1.0)


@pytest.mark.parametrize("lean", [True, False], ids=["lean-decode", "model-forward"])
def test_sampling_and_the_shared_prompt_pass_use_transformers_cache_keyword(model, tokenizer, lean):
    # transformers 5.25 renamed the forward's ``past_key_values`` to ``cache`` and warns on the old name: a
    # user would see that warning in every run
    import warnings

    from grpo_core.logprobs import completion_logprobs

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = sample_groups(model, tokenizer, PROMPTS, num_generations=2, max_new_tokens=5, min_new_tokens=5,
                          generator=_gen(), lean_decode=lean)
        completion_logprobs(model, r.input_ids, r.attention_mask, r.completion_ids.shape[1], group_size=2)
    assert not [w for w in caught if "past_key_values" in str(w.message)]


def test_a_training_step_switches_the_models_mode_twice(tmp_path, monkeypatch):
    # sampling and the old/reference passes share one switch to eval mode, the updates one switch back:
    # each switch walks every module, which on a small model is milliseconds a step
    import json

    from peft import PeftModel

    from grpo_core import trainer
    from grpo_core.config import load_config

    cfg = load_config(None, ["train.steps=3", "data.eval_limit=1", f"train.output_dir={json.dumps(str(tmp_path / 'run'))}"])
    switches, per_step = [], []
    plain = PeftModel.train

    def spy(self, mode=True):
        switches.append(mode)
        return plain(self, mode)

    monkeypatch.setattr(PeftModel, "train", spy)
    trainer.train(cfg, progress=False, on_step=lambda *a, **k: (per_step.append(list(switches)), switches.clear()))
    assert per_step and per_step[0][-2:] == [False, True]
    assert per_step[1:] and all(s == [False, True] for s in per_step[1:])


def test_the_rollout_leaves_inference_mode_and_trains(tmp_path, tokenizer):
    """The decode loop runs in inference mode; what it returns must feed a training forward and backward."""
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from grpo_core.generation.hf import HfSampler
    from grpo_core.lora_forward import use_merged_lora

    config = Qwen2Config(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, eos_token_id=EOS, pad_token_id=PAD)
    torch.manual_seed(0)
    policy = get_peft_model(Qwen2ForCausalLM(config), LoraConfig(r=4, target_modules="all-linear"))
    assert use_merged_lora(policy, 1 << 30) > 0
    rollout = HfSampler().sample_groups(policy, tokenizer, PROMPTS, num_generations=2, max_new_tokens=5)
    tensors = [rollout.input_ids, rollout.attention_mask, rollout.completion_ids, rollout.completion_mask,
               rollout.truncated, rollout.completion_lengths]
    assert not any(t.is_inference() for t in tensors)
    # the reference pass's log-probs, made in inference mode like the rollout, come out ordinary too
    from types import SimpleNamespace

    from grpo_core.model import reference_mode
    from grpo_core.step import _frozen_logprobs

    grpo = SimpleNamespace(temperature=1.0, entropy_coef=0.0, logprob_chunk_rows=lambda vocab: 1024)
    with reference_mode(policy):
        ref = _frozen_logprobs(policy, rollout, [slice(0, rollout.input_ids.shape[0])], SimpleNamespace(grpo=grpo))
    assert ref.shape == rollout.completion_ids.shape and not ref.is_inference()
    policy.train()
    logits = policy(input_ids=rollout.input_ids, attention_mask=rollout.attention_mask).logits
    (logits.float().log_softmax(-1) * rollout.attention_mask[..., None]).sum().backward()
    assert all(p.grad is not None for n, p in policy.named_parameters() if "lora_A" in n)
