"""grpo_core.logprobs against the naive full-logits computation on tiny random models."""

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from grpo_core.logprobs import completion_logprobs

VOCAB, P, T = 300, 5, 4
TINY = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2)


def tiny(arch):
    torch.manual_seed(0)
    if arch == "qwen2":
        return Qwen2ForCausalLM(Qwen2Config(**TINY)).eval()
    if arch == "gpt2":  # absolute position embeddings, where RoPE models are shift-invariant
        return GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4,
                                          n_positions=64, bos_token_id=1, eos_token_id=1)).eval()
    return LlamaForCausalLM(LlamaConfig(**TINY)).eval()


def batch():
    """3 rows: prompts left-padded to P (pads 0, 2, 1), completions of T right-padded (lengths 4, 2, 3)."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, VOCAB, (3, P + T), generator=g)
    mask = torch.ones_like(ids)
    for row, pads in enumerate([0, 2, 1]):
        mask[row, :pads] = 0
        ids[row, :pads] = 0
    for row, length in enumerate([4, 2, 3]):
        mask[row, P + length:] = 0
        ids[row, P + length:] = 0
    return ids, mask


def naive(model, ids, mask, temperature=1.0):
    """The obvious way: full [B, L, V] logits, then log_softmax and gather. Returns (logp, entropy)."""
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits.float()
    logits = logits[:, P - 1:-1] / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, ids[:, P:].unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
@pytest.mark.parametrize("chunk_size", [1, 7, 10_000])
def test_matches_naive(arch, chunk_size):
    model = tiny(arch)
    ids, mask = batch()
    with torch.no_grad():
        logp, ent = completion_logprobs(model, ids, mask, T, chunk_size=chunk_size, with_entropy=True)
        ref_logp, ref_ent = naive(model, ids, mask)
    assert logp.shape == (3, T) and logp.dtype == torch.float32
    torch.testing.assert_close(logp, ref_logp, atol=1e-5, rtol=0)
    torch.testing.assert_close(ent, ref_ent, atol=1e-5, rtol=0)


def test_temperature():
    model = tiny("qwen2")
    ids, mask = batch()
    with torch.no_grad():
        logp, ent = completion_logprobs(model, ids, mask, T, temperature=0.7, chunk_size=5, with_entropy=True)
        ref_logp, ref_ent = naive(model, ids, mask, temperature=0.7)
        plain, _ = completion_logprobs(model, ids, mask, T)
    torch.testing.assert_close(logp, ref_logp, atol=1e-5, rtol=0)
    torch.testing.assert_close(ent, ref_ent, atol=1e-5, rtol=0)
    assert not torch.allclose(logp, plain)


def test_no_entropy_by_default():
    model = tiny("llama")
    ids, mask = batch()
    with torch.no_grad():
        logp, ent = completion_logprobs(model, ids, mask, T)
    assert ent is None and not logp.requires_grad


@pytest.mark.parametrize("arch", ["qwen2", "llama", "gpt2"])
def test_left_padding_invariance(arch):
    # gpt2 has absolute position embeddings: without position ids derived from the mask the padded
    # row would see shifted positions and different log-probs (RoPE models are shift-invariant anyway)
    model = tiny(arch)
    seq = torch.randint(1, VOCAB, (1, 3 + T), generator=torch.Generator().manual_seed(2))
    padded = torch.cat([torch.zeros(1, 4, dtype=torch.long), seq], dim=1)
    pad_mask = torch.cat([torch.zeros(1, 4, dtype=torch.long), torch.ones_like(seq)], dim=1)
    with torch.no_grad():
        a, _ = completion_logprobs(model, seq, torch.ones_like(seq), T)
        b, _ = completion_logprobs(model, padded, pad_mask, T)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def lora_model(target_modules):
    model = tiny("qwen2")
    # init_lora_weights=False: random B as well as A, so the adapters change the output and get
    # gradient on every factor (with the default B = 0, A's gradient is exactly 0)
    return get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=target_modules,
                                            init_lora_weights=False))


@pytest.mark.parametrize("targets", ["all-linear", ["q_proj", "v_proj", "down_proj", "lm_head"]])
def test_lora_gradients_match_naive(targets):
    model = lora_model(targets)
    lora = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert lora and all("lora_" in n for n in lora)
    if "lm_head" in targets:
        assert any("lm_head" in n for n in lora)
    ids, mask = batch()
    weights = torch.randn(3, T, generator=torch.Generator().manual_seed(3)) * mask[:, P:]

    logp, ent = completion_logprobs(model, ids, mask, T, chunk_size=5, with_entropy=True)
    assert not ent.requires_grad  # entropy is a logged metric: no graph, no buffers kept for a backward
    (logp * weights).sum().backward()
    ours = {n: p.grad.clone() for n, p in lora.items()}
    model.zero_grad()

    ref_logp, ref_ent = naive(model, ids, mask)
    (ref_logp * weights).sum().backward()
    torch.testing.assert_close(logp, ref_logp, atol=1e-5, rtol=0)
    torch.testing.assert_close(ent, ref_ent.detach(), atol=1e-5, rtol=0)
    for n, p in lora.items():
        assert ours[n].abs().sum() > 0, f"no gradient reached {n}"
        torch.testing.assert_close(ours[n], p.grad, atol=1e-5, rtol=1e-4, msg=n)


def test_disabled_adapter_gives_base_model():
    # the reference pass of the KL term: same weights with the adapter switched off
    model = lora_model("all-linear")
    ids, mask = batch()
    with torch.no_grad():
        adapted, _ = completion_logprobs(model, ids, mask, T)
        with model.disable_adapter():
            base, _ = completion_logprobs(model, ids, mask, T)
        expected, _ = naive(model.get_base_model(), ids, mask)   # adapters back on here
        with model.disable_adapter():
            expected_base, _ = naive(model.get_base_model(), ids, mask)
    torch.testing.assert_close(adapted, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(base, expected_base, atol=1e-5, rtol=0)
    assert not torch.allclose(adapted, base)


def test_output_head_never_sees_more_than_chunk_size_rows():
    model = lora_model("all-linear")
    head = model.get_base_model().get_output_embeddings()
    rows, shapes = [], []

    def record(module, inputs, output):   # returns None: observe only, leave the output alone
        rows.append(inputs[0].shape[0])
        shapes.append(output.shape)

    hook = head.register_forward_hook(record)
    ids, mask = batch()
    logp, _ = completion_logprobs(model, ids, mask, T, chunk_size=5)
    n_forward = len(rows)
    logp.sum().backward()
    hook.remove()
    # 3 * 4 = 12 rows -> chunks of 5, 5, 2; the backward recomputes them one by one (checkpointing)
    assert rows[:n_forward] == [5, 5, 2]
    assert len(rows) == 2 * n_forward
    assert max(rows) <= 5 and all(s[0] <= 5 and len(s) == 2 for s in shapes)

    # one chunk holds every row: checkpointing would save nothing, so the backward recomputes nothing
    rows.clear()
    hook = head.register_forward_hook(record)
    model.zero_grad()
    completion_logprobs(model, ids, mask, T, chunk_size=12)[0].sum().backward()
    hook.remove()
    assert rows == [12]
    assert all(p.grad is not None for n, p in model.named_parameters() if p.requires_grad)


def test_completion_length_checked():
    model = tiny("qwen2")
    ids, mask = batch()
    with pytest.raises(ValueError, match="completion_length"):
        completion_logprobs(model, ids, mask, P + T)


def grouped_batch(G=3):
    """2 prompts (the second left-padded by 2) x G completions each of T tokens, right-padded to varied lengths."""
    g = torch.Generator().manual_seed(4)
    prompts = torch.randint(1, VOCAB, (2, P), generator=g)
    prompt_mask = torch.ones_like(prompts)
    prompts[1, :2], prompt_mask[1, :2] = 0, 0
    completions = torch.randint(1, VOCAB, (2 * G, T), generator=g)
    completion_mask = torch.ones_like(completions)
    for row, length in enumerate([T, 1, 2, T, 3, 2][:2 * G]):
        completions[row, length:], completion_mask[row, length:] = 0, 0
    ids = torch.cat([prompts.repeat_interleave(G, dim=0), completions], dim=1)
    return ids, torch.cat([prompt_mask.repeat_interleave(G, dim=0), completion_mask], dim=1)


@pytest.mark.parametrize("arch", ["qwen2", "llama", "gpt2"])
def test_shared_prompts_give_the_same_logprobs(arch):
    model = tiny(arch)
    ids, mask = grouped_batch()
    with torch.no_grad():
        each, each_ent = completion_logprobs(model, ids, mask, T, with_entropy=True)
        shared, shared_ent = completion_logprobs(model, ids, mask, T, with_entropy=True, group_size=3)
        # one-token completions take the prompt pass alone
        one, _ = completion_logprobs(model, ids[:, :P + 1], mask[:, :P + 1], 1, group_size=3)
    torch.testing.assert_close(shared, each, atol=1e-5, rtol=0)
    torch.testing.assert_close(shared_ent, each_ent, atol=1e-5, rtol=0)
    torch.testing.assert_close(one, each[:, :1], atol=1e-5, rtol=0)


def test_shared_prompts_give_the_same_lora_gradients():
    model = lora_model("all-linear")
    lora = {n: p for n, p in model.named_parameters() if p.requires_grad}
    ids, mask = grouped_batch()
    weights = torch.randn(6, T, generator=torch.Generator().manual_seed(5)) * mask[:, P:]
    grads = []
    for group_size in (1, 3):
        model.zero_grad()
        logp, _ = completion_logprobs(model, ids, mask, T, chunk_size=5, group_size=group_size)
        (logp * weights).sum().backward()
        grads.append({n: p.grad.clone() for n, p in lora.items()})
    for n in lora:
        assert grads[0][n].abs().sum() > 0, n
        torch.testing.assert_close(grads[1][n], grads[0][n], atol=1e-5, rtol=1e-4, msg=n)


def test_shared_prompts_refuse_rows_that_are_not_groups():
    model = tiny("qwen2")
    ids, mask = grouped_batch()
    with torch.no_grad(), pytest.raises(ValueError, match="do not share"):
        mixed = torch.tensor([0, 3, 1, 4, 2, 5])  # the two prompts' rows interleaved
        completion_logprobs(model, ids[mixed], mask[mixed], T, group_size=3)
    with torch.no_grad(), pytest.raises(ValueError, match="does not divide"):
        completion_logprobs(model, ids, mask, T, group_size=4)


def test_shared_prompts_fall_back_under_activation_checkpointing():
    # in training mode a checkpointed model has no cache: every row runs whole, and the result is the same
    model = lora_model("all-linear")
    ids, mask = grouped_batch()
    plain, _ = completion_logprobs(model, ids, mask, T)
    from grpo_core.model import _enable_checkpointing

    _enable_checkpointing(model.base_model.model)
    model.train()
    calls = []
    backbone = model.base_model.model.model
    handle = backbone.register_forward_pre_hook(lambda m, a, k: calls.append(k["input_ids"].shape), with_kwargs=True)
    try:
        grouped, _ = completion_logprobs(model, ids, mask, T, group_size=3)
    finally:
        handle.remove()
    assert calls == [ids.shape]  # one whole pass, no prompt-only pass
    torch.testing.assert_close(grouped, plain, atol=1e-5, rtol=0)


def _attention_kinds_and_results(model, attn, monkeypatch, config):
    """(kernels seen by ``attn`` in two passes: switched, then never switched; each pass's (logp, LoRA grads))."""
    from grpo_core import attention

    seen = []
    hook = attn.register_forward_pre_hook(lambda module, args: seen.append(config._attn_implementation))
    ids, mask = batch()
    weights = torch.randn(3, T, generator=torch.Generator().manual_seed(3)) * mask[:, P:]
    results = []
    try:
        for limit in (attention.EAGER_ATTENTION_MAX_BYTES, 0):  # small enough to switch; then never
            monkeypatch.setattr(attention, "EAGER_ATTENTION_MAX_BYTES", limit)
            logp, _ = completion_logprobs(model, ids, mask, T)
            (logp * weights).sum().backward()
            results.append((logp.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}))
            model.zero_grad()
            assert config._attn_implementation == "sdpa"  # the model's own setting comes back
    finally:
        hook.remove()
    return seen, results


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_short_cpu_passes_switch_attention_kernel_with_the_same_numbers(arch, monkeypatch):
    if arch == "llama":  # GQA: 4 query heads on 2 KV heads, through the grouped kernel
        model, expected = lora_model("all-linear"), "grpo_grouped"
        attn = model.get_base_model().model.layers[0].self_attn
    else:  # not a Llama-family layer: transformers' eager attention
        model = get_peft_model(tiny("gpt2"), LoraConfig(r=4, target_modules=["c_attn"], init_lora_weights=False))
        expected, attn = "eager", model.get_base_model().transformer.h[0].attn
    config = model.get_base_model().config
    assert config._attn_implementation == "sdpa"
    seen, [(fast_logp, fast_grads), (sdpa_logp, sdpa_grads)] = _attention_kinds_and_results(model, attn, monkeypatch,
                                                                                             config)
    assert seen == [expected, "sdpa"]
    torch.testing.assert_close(fast_logp, sdpa_logp, atol=1e-5, rtol=0)
    for n in sdpa_grads:
        assert sdpa_grads[n].abs().sum() > 0, n
        torch.testing.assert_close(fast_grads[n], sdpa_grads[n], atol=1e-5, rtol=1e-4, msg=n)
