"""grpo_core.model: loading, LoRA, the adapter-off reference, adapter save/load, and NF4 on the CPU.

Every model here is a tiny random Qwen2 saved to a temporary directory with a byte-level BPE tokenizer
trained on the spot, then loaded back through the same from_pretrained path a hub model takes.
"""

from __future__ import annotations

import contextlib
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported, where this module is first

import pytest
import torch

from grpo_rewards.errors import ConfigError

TEXTS = ["the quick brown fox jumps over the lazy dog", "what is 2 + 3 ? the answer is 5"] * 10


def _byte_level_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(TEXTS, trainer)
    return tok


def save_tiny_qwen2(directory, *, seed: int = 0) -> str:
    """A random 2-layer Qwen2 (hidden 64) and its tokenizer, saved like a hub checkpoint."""
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    tok = _byte_level_tokenizer()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    config = Qwen2Config(
        vocab_size=tok.get_vocab_size(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    Qwen2ForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return save_tiny_qwen2(tmp_path_factory.mktemp("tiny_qwen2"))


def _batch(tokenizer):
    enc = tokenizer(["the quick brown fox", "what is 2 + 3 ? the answer"], return_tensors="pt", padding=True)
    return enc["input_ids"], enc["attention_mask"]


def _logits(model, tokenizer):
    ids, mask = _batch(tokenizer)
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def _perturb_lora(model, seed: int = 1):
    """LoRA B starts at zero (the adapter is a no-op); make it change the outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.5)


def test_pick_device_is_cpu_here():
    from grpo_core.model import pick_device

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected


def test_tokenizer_pad_and_left_padding(tiny_dir, tmp_path):
    from grpo_core.model import load_tokenizer

    tokenizer = load_tokenizer(tiny_dir)
    assert tokenizer.padding_side == "left" and tokenizer.pad_token_id is not None
    # A bare tokenizer directory without a pad token (a Qwen2 config would bring Qwen2Tokenizer's default pad).
    from transformers import PreTrainedTokenizerFast

    PreTrainedTokenizerFast(tokenizer_object=_byte_level_tokenizer(), eos_token="<|im_end|>").save_pretrained(tmp_path)
    no_pad = load_tokenizer(str(tmp_path))
    assert no_pad.pad_token == "<|im_end|>" == no_pad.eos_token and no_pad.padding_side == "left"


def test_only_lora_is_trainable_and_gets_gradients(tiny_dir):
    from grpo_core.model import load_policy, trainable_parameter_count

    model, tokenizer = load_policy(tiny_dir, device="cpu")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    # "all-linear": every projection in both layers carries LoRA, lm_head does not.
    assert sum("lora_A" in n for n in trainable) == 2 * 7
    assert not any("lm_head" in n for n in trainable)
    assert next(model.parameters()).dtype == torch.float32  # dtype "auto" on the CPU
    assert not model.get_base_model().is_activation_checkpointing  # "auto" is off on the CPU

    n_trainable, n_total = trainable_parameter_count(model)
    assert 0 < n_trainable < n_total

    _perturb_lora(model)
    ids, mask = _batch(tokenizer)
    model(input_ids=ids, attention_mask=mask).logits.float().pow(2).mean().backward()
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None and param.grad.abs().sum() > 0, name
        else:
            assert param.grad is None, name


def test_gradient_checkpointing_on_still_trains_lora(tiny_dir):
    from grpo_core.model import load_policy

    model, tokenizer = load_policy(tiny_dir, device="cpu", gradient_checkpointing=True)
    assert model.get_base_model().is_activation_checkpointing
    model.train()
    _perturb_lora(model)
    ids, mask = _batch(tokenizer)
    model(input_ids=ids, attention_mask=mask, use_cache=False).logits.pow(2).mean().backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_A" in n]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)

    # Checkpointing turns the config's use_cache off; sampling still decodes from the KV cache.
    from grpo_core.rollout import sample_groups

    shapes = []
    hook = model.get_input_embeddings().register_forward_pre_hook(lambda m, a: shapes.append(tuple(a[0].shape)))
    try:
        sample_groups(model, tokenizer, [ids[0][mask[0] == 1].tolist()], num_generations=2, max_new_tokens=3,
                      min_new_tokens=3)
    finally:
        hook.remove()
    # One prefill of the prompt, then one token per row a step (the lean decode step feeds [rows]).
    assert shapes == [(1, int(mask[0].sum()))] + [(2,)] * 2
    assert model.training


def test_reference_mode_is_the_base_model(tiny_dir):
    from transformers import AutoModelForCausalLM

    from grpo_core.model import load_policy, reference_mode

    model, tokenizer = load_policy(tiny_dir, device="cpu")
    base = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32)
    base_logits = _logits(base, tokenizer)
    _perturb_lora(model)
    policy_logits = _logits(model, tokenizer)
    assert not torch.allclose(policy_logits, base_logits, atol=1e-3)  # the adapter really changes outputs

    ids, mask = _batch(tokenizer)
    with reference_mode(model):
        assert not torch.is_grad_enabled()
        ref_logits = model(input_ids=ids, attention_mask=mask).logits
    assert ref_logits.grad_fn is None
    torch.testing.assert_close(ref_logits, base_logits, rtol=1e-5, atol=1e-5)
    # Leaving the context switches the adapter back on.
    torch.testing.assert_close(_logits(model, tokenizer), policy_logits)


@contextlib.contextmanager
def _adapter_calls(model):
    """A list that records every call of a LoRA layer with its adapter on, while the context is open."""
    from peft.tuners.lora import LoraLayer

    calls = []
    hooks = [m.register_forward_hook(lambda module, *a: None if module.disable_adapters else calls.append(1))
             for m in model.modules() if isinstance(m, LoraLayer)]
    try:
        yield calls
    finally:
        for hook in hooks:
            hook.remove()


def test_merged_for_sampling_is_the_policy_and_leaves_the_base_untouched(tiny_dir):
    from grpo_core.model import load_policy, merged_for_sampling, reference_mode

    model, tokenizer = load_policy(tiny_dir, device="cpu")
    _perturb_lora(model)
    policy_logits = _logits(model, tokenizer)
    with reference_mode(model):
        base_logits = _logits(model, tokenizer)
    weights = {n: (p, p.detach().clone()) for n, p in model.named_parameters() if "base_layer" in n}
    assert weights
    with _adapter_calls(model) as calls, merged_for_sampling(model):
        merged_logits = _logits(model, tokenizer)
    assert not calls  # the adapters' own matmuls did not run: the merged copies did their work
    torch.testing.assert_close(merged_logits, policy_logits, rtol=1e-5, atol=1e-5)
    # the very same base parameters are back, bit for bit, and the adapter is on again
    for name, (param, saved) in weights.items():
        assert dict(model.named_parameters())[name] is param and torch.equal(param, saved), name
    torch.testing.assert_close(_logits(model, tokenizer), policy_logits)
    with reference_mode(model):
        torch.testing.assert_close(_logits(model, tokenizer), base_logits)
    # too large for the budget: nothing is merged, and the result is the same
    with _adapter_calls(model) as calls, merged_for_sampling(model, max_bytes=0):
        torch.testing.assert_close(_logits(model, tokenizer), policy_logits)
    assert calls


def test_save_adapter_round_trip(tiny_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from grpo_core.model import load_policy, save_adapter

    model, tokenizer = load_policy(tiny_dir, device="cpu", lora_r=4, lora_alpha=8)
    _perturb_lora(model)
    expected = _logits(model, tokenizer)
    out = tmp_path / "adapter"
    save_adapter(model, tokenizer, out)
    files = set(os.listdir(out))
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer_config.json"} <= files
    assert "model.safetensors" not in files  # the base weights are not copied

    plain = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32), str(out))
    torch.testing.assert_close(_logits(plain, tokenizer), expected)

    resumed, _ = load_policy(tiny_dir, device="cpu", adapter_path=str(out))
    torch.testing.assert_close(_logits(resumed, tokenizer), expected)
    trainable = [n for n, p in resumed.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)

    frozen, _ = load_policy(tiny_dir, device="cpu", adapter_path=str(out), trainable=False)
    assert not any(p.requires_grad for p in frozen.parameters())
    torch.testing.assert_close(_logits(frozen, tokenizer), expected)


def test_nf4_on_cpu_loads_trains_and_samples(tiny_dir):
    import bitsandbytes as bnb

    from grpo_core.model import load_policy, reference_mode
    from grpo_core.rollout import sample_groups

    model, tokenizer = load_policy(tiny_dir, quantization="nf4", device="cpu")
    base = model.get_base_model()
    assert getattr(base, "is_loaded_in_4bit", False)
    four_bit = [m for m in base.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(four_bit) == 2 * 7  # every projection quantized; embeddings and lm_head stay dense
    assert all(m.weight.dtype == torch.uint8 and m.weight.quant_type == "nf4" for m in four_bit)
    assert all(m.weight.quant_state.nested for m in four_bit)  # double quantization
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)

    _perturb_lora(model)
    ids, mask = _batch(tokenizer)
    logits = model(input_ids=ids, attention_mask=mask).logits
    assert torch.isfinite(logits).all()
    logits.float().pow(2).mean().backward()
    grads = [p.grad.clone() for n, p in model.named_parameters() if p.requires_grad]
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)
    with reference_mode(model):
        ref = model(input_ids=ids, attention_mask=mask).logits
    assert not torch.allclose(ref, logits.detach(), atol=1e-3)

    from grpo_core.model import _mergeable_lora_layers
    assert _mergeable_lora_layers(model, 1 << 40) is None  # 4-bit weights are never merged for sampling

    prompts = [tokenizer("the quick").input_ids, tokenizer("what is 2 + 3 ?").input_ids]
    rollout = sample_groups(
        model, tokenizer, prompts, num_generations=3, max_new_tokens=5,
        generator=torch.Generator().manual_seed(0),
    )
    assert rollout.completion_ids.shape[0] == 6 and rollout.completion_ids.shape[1] <= 5
    assert len(rollout.decode(tokenizer)) == 6

    # Training after sampling (the GRPO cycle) still trains, with the same gradients: sampling in eval mode
    # must not leave bitsandbytes' CPU inference-only weight layout behind (see _keep_4bit_weights_trainable).
    model.zero_grad()
    model(input_ids=ids, attention_mask=mask).logits.float().pow(2).mean().backward()
    for grad, (name, param) in zip(grads, ((n, p) for n, p in model.named_parameters() if p.requires_grad)):
        torch.testing.assert_close(param.grad, grad, msg=name)


def test_dtype_and_quantization_validation(tiny_dir):
    from grpo_core.model import load_policy, resolve_dtype

    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(ConfigError, match="model.dtype"):
        resolve_dtype("float8", torch.device("cpu"))
    with pytest.raises(ConfigError, match="model.quantization"):
        load_policy(tiny_dir, quantization="int3", device="cpu")


def test_clear_errors_for_missing_models(tmp_path, monkeypatch):
    import huggingface_hub.constants

    from grpo_core.model import load_policy

    missing = tmp_path / "no" / "model"
    with pytest.raises(ConfigError, match=f"model.name: no such directory: {missing}"):
        load_policy(str(missing), device="cpu")
    with pytest.raises(ConfigError, match="model.name: no such directory"):
        load_policy("./not-here", device="cpu")
    # Never reach for the network in a test, even if the suite was started without HF_HUB_OFFLINE.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match="someorg/definitely-not-cached-model"):
        load_policy("someorg/definitely-not-cached-model", device="cpu")


def test_missing_adapter_is_a_config_error(tiny_dir, tmp_path):
    from grpo_core.model import load_policy

    with pytest.raises(ConfigError, match="adapter"):
        load_policy(tiny_dir, device="cpu", adapter_path=str(tmp_path / "nothing"))


def test_adapters_off_is_peft_disable_adapter_and_restores_each_layer(tiny_dir):
    from peft.tuners.lora import LoraLayer

    from grpo_core.model import adapters_off, load_policy

    model, tokenizer = load_policy(tiny_dir, device="cpu")
    _perturb_lora(model)
    policy_logits = _logits(model, tokenizer)
    with model.disable_adapter():
        peft_logits = _logits(model, tokenizer)
    layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
    layers[0]._disable_adapters = True  # an irregular state comes back as it was, not all switched on
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    with adapters_off(model):
        assert torch.equal(_logits(model, tokenizer), peft_logits)
        assert all(layer.disable_adapters for layer in layers)
    assert layers[0].disable_adapters and not any(layer.disable_adapters for layer in layers[1:])
    assert {n: p.requires_grad for n, p in model.named_parameters()} == grads
    layers[0]._disable_adapters = False
    torch.testing.assert_close(_logits(model, tokenizer), policy_logits)


def test_the_policy_uses_no_hub_kernels(tiny_dir):
    """transformers 5 kernelizes with Hub kernels by default (a download at run time, and a re-kernelize at
    every train/eval switch); the policy is loaded without them."""
    from grpo_core.model import load_policy

    model, _ = load_policy(tiny_dir, device="cpu")
    inner = model.get_base_model()
    assert not getattr(inner, "use_kernels", False)
    model.eval()
    model.train()
    assert not getattr(inner, "use_kernels", False) and getattr(inner, "kernels_mode", None) is None
