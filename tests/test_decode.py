"""grpo_core.decode: the lean decode step gives the model's own logits, for every architecture it claims.

Each case samples the same groups twice, through the lean step and through the model's forward, recording
the logits every step sees: the tokens must be identical and the logits equal up to float32 round-off.
Cases: Llama, Qwen2, Qwen3 (per-head q/k norms) and Mistral, each with a live LoRA adapter (the projections
called as modules) and with the adapter merged for sampling (fused projections); an NF4 base; prompts of
different lengths (left padding) and grouped-query attention throughout.
"""
from __future__ import annotations

import contextlib
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

import grpo_core.rollout as rollout
from grpo_core.decode import LeanDecoder
from grpo_core.model import merged_for_sampling

PAD, EOS = 0, 1
PROMPTS = [[5, 9, 3], [7, 2, 8, 11, 4, 6, 10], [12, 13, 14, 15, 16]]


class _Tokenizer:
    pad_token_id, eos_token_id = PAD, EOS


def _model(arch: str, seed: int = 0):
    import transformers
    from peft import LoraConfig, get_peft_model

    common = dict(vocab_size=40, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=128, eos_token_id=EOS, pad_token_id=PAD)
    config_class, model_class = {
        "llama": ("LlamaConfig", "LlamaForCausalLM"), "qwen2": ("Qwen2Config", "Qwen2ForCausalLM"),
        "qwen3": ("Qwen3Config", "Qwen3ForCausalLM"), "mistral": ("MistralConfig", "MistralForCausalLM"),
        "gpt2": ("GPT2Config", "GPT2LMHeadModel"),
    }[arch]
    if arch == "gpt2":
        common = dict(vocab_size=40, n_embd=64, n_layer=2, n_head=4, eos_token_id=EOS, pad_token_id=PAD)
    if arch == "mistral":
        common["sliding_window"] = None
    torch.manual_seed(seed)
    base = getattr(transformers, model_class)(getattr(transformers, config_class)(**common)).float()
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    for name, param in model.named_parameters():
        if "lora_B" in name:  # a fresh adapter is the identity; make it change the model
            torch.nn.init.normal_(param, std=0.1)
    return model.eval()


def _sample_recording(model, lean: bool, temperature: float, merged: bool):
    seen = []
    plain = rollout._next_tokens

    def recording(logits, **kwargs):
        seen.append(logits.clone())
        return plain(logits, **kwargs)

    rollout._next_tokens = recording
    try:
        with merged_for_sampling(model) if merged else contextlib.nullcontext():
            out = rollout.sample_groups(model, _Tokenizer(), PROMPTS, num_generations=3, max_new_tokens=12,
                                        temperature=temperature, eos_token_ids=[EOS],
                                        generator=torch.Generator().manual_seed(3), lean_decode=lean)
    finally:
        rollout._next_tokens = plain
    return out, seen


def _assert_same_decoding(model, temperature, merged):
    reference, ref_logits = _sample_recording(model, False, temperature, merged)
    lean, lean_logits = _sample_recording(model, True, temperature, merged)
    assert torch.equal(lean.completion_ids, reference.completion_ids)
    assert torch.equal(lean.completion_mask, reference.completion_mask)
    assert len(lean_logits) == len(ref_logits) > 1
    for step, (a, b) in enumerate(zip(lean_logits, ref_logits)):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-5, msg=f"logits differ at step {step}")


@pytest.mark.parametrize("arch", ["llama", "qwen2", "qwen3", "mistral"])
@pytest.mark.parametrize("merged", [False, True], ids=["live-lora", "merged-lora"])
def test_lean_step_gives_the_models_logits(arch, merged, monkeypatch):
    model = _model(arch)
    started = []
    plain_start = LeanDecoder.start.__func__

    def spy(cls, *args, **kwargs):
        decoder = plain_start(cls, *args, **kwargs)
        started.append(decoder)
        return decoder

    monkeypatch.setattr(LeanDecoder, "start", classmethod(spy))
    _assert_same_decoding(model, temperature=1.0, merged=merged)
    _assert_same_decoding(model, temperature=0.0, merged=merged)
    assert started and all(d is not None for d in started)  # the lean step really ran
    fused = [d.qkv[0] is not None and d.gate_up[0] is not None for d in started]
    assert all(fused) if merged else not any(fused)  # live adapters run as modules, merged ones fused


@pytest.mark.parametrize("arch", ["llama", "qwen3"])
def test_packed_weights_give_the_same_decoding(arch, monkeypatch):
    # where MKL runs the products (not the oneDNN route), the fused projections and the head decode from
    # packed weights; this model's products are small, so let every one of them pack
    from grpo_core import cpu_gemm

    monkeypatch.setattr(cpu_gemm, "ENABLED", False)
    monkeypatch.setattr(cpu_gemm, "MIN_MULTIPLY_ADDS", 0)
    assert cpu_gemm.pack(torch.ones(4, 4), 2) is not None  # this torch build has MKL's packed sgemm

    def refuse(weight, rows):
        raise RuntimeError("out of memory")

    with monkeypatch.context() as m:  # a failed packing leaves the weight unpacked, not the rollout broken
        m.setattr(cpu_gemm, "_REORDER", refuse)
        assert cpu_gemm.pack(torch.ones(4, 4), 2) is None
    started = []
    plain_start = LeanDecoder.start.__func__

    def spy(cls, *args, **kwargs):
        started.append(plain_start(cls, *args, **kwargs))
        return started[-1]

    monkeypatch.setattr(LeanDecoder, "start", classmethod(spy))
    model = _model(arch)
    _assert_same_decoding(model, temperature=1.0, merged=True)
    linears = [lin for d in started for lin in d.qkv + d.gate_up + d.out + d.down + [d.head]]
    assert linears and all(lin.packed is not None for lin in linears)
    # a budget too small for the packed copies leaves them out (the fused copies come first)
    attn = model.get_base_model().model.layers[0].self_attn
    qkv_bytes = sum(getattr(attn, n).get_base_layer().weight.numel() * 4 for n in ("q_proj", "k_proj", "v_proj"))
    monkeypatch.setattr("grpo_core.decode.FUSE_MAX_BYTES", 2 * qkv_bytes)  # the first q/k/v copy, and its pack
    started.clear()
    _assert_same_decoding(model, temperature=1.0, merged=True)
    assert all(d.qkv[0] is not None and d.qkv[0].packed is not None for d in started)
    assert any(lin is None or lin.packed is None for d in started for lin in d.qkv + d.gate_up)


def test_lean_step_on_an_nf4_base(tmp_path):
    from engine_fixtures import make_tiny_model

    from grpo_core.model import load_policy

    model, _ = load_policy(str(make_tiny_model(tmp_path / "m", hidden=64)), quantization="nf4", device="cpu")
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.1)
    model.eval()
    _assert_same_decoding(model, temperature=1.0, merged=True)  # 4-bit: nothing merges, modules are called


def test_other_architectures_and_short_windows_decode_through_the_model():
    gpt2 = _model("gpt2")
    start = torch.full((2, 1), 3)
    assert LeanDecoder.start(gpt2.get_base_model(), None, torch.ones(2, 3, dtype=torch.long), start, 4) is None
    reference, _ = _sample_recording(gpt2, False, 1.0, False)
    lean, _ = _sample_recording(gpt2, True, 1.0, False)
    assert torch.equal(lean.completion_ids, reference.completion_ids)

    mistral = _model("mistral")
    for layer in mistral.get_base_model().model.layers:
        layer.self_attn.sliding_window = 8  # shorter than prompt + completion: keys would drop out of view
    cache = type("Cache", (), {"layers": []})()
    mask, start = torch.ones(2, 7, dtype=torch.long), torch.full((2, 1), 7)
    assert LeanDecoder.start(mistral.get_base_model(), cache, mask, start, 12) is None
