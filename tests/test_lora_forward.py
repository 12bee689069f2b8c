"""grpo_core.lora_forward: the merged-weight LoRA layer is peft's function, with peft's gradients.

Each check runs the same inputs through peft's own forward and through MergedLoraLinear (the class is
swapped back and forth on the same modules), and compares outputs and LoRA gradients. Also: the cached
merged weight follows optimizer steps (two AdamW steps land on the same weights either way), and every
case the fast path must leave to peft (adapter off, dropout, bf16, over budget) gives peft's result.
"""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from peft.tuners.lora import Linear as LoraLinear

from grpo_core.lora_forward import MergedLoraLinear, use_merged_lora


def _model(dropout: float = 0.0, dtype=torch.float32):
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=48, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    base = Qwen2ForCausalLM(config).to(dtype)
    for param in base.parameters():
        param.requires_grad_(False)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, target_modules="all-linear"))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.1)
    return model


def _set(model, cls):
    for module in model.modules():
        if isinstance(module, LoraLinear):
            module.__class__ = cls


def _loss_and_grads(model, ids):
    model.zero_grad(set_to_none=True)
    logits = model(input_ids=ids).logits.float()
    loss = logits.log_softmax(-1).gather(-1, ids[..., None]).mean()
    loss.backward()
    return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


IDS = torch.randint(0, 48, (3, 10), generator=torch.Generator().manual_seed(1))


def test_same_outputs_and_gradients_as_peft():
    model = _model()
    assert use_merged_lora(model, 1 << 30) == 2 * 7
    assert all(type(m) is MergedLoraLinear for m in model.modules() if isinstance(m, LoraLinear))
    fast_logits, fast_grads = _loss_and_grads(model, IDS)
    _set(model, LoraLinear)
    peft_logits, peft_grads = _loss_and_grads(model, IDS)
    torch.testing.assert_close(fast_logits, peft_logits, rtol=1e-5, atol=1e-5)
    assert fast_grads.keys() == peft_grads.keys() and all("lora_" in n for n in fast_grads)
    for name in peft_grads:
        assert peft_grads[name].abs().sum() > 0, name
        torch.testing.assert_close(fast_grads[name], peft_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_the_merged_weight_follows_optimizer_steps():
    final = {}
    for cls in (MergedLoraLinear, LoraLinear):
        model = _model()
        _set(model, cls)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-2)
        for _ in range(3):
            _loss_and_grads(model, IDS)
            optimizer.step()
        final[cls] = (model(input_ids=IDS).logits.detach(), [p.detach().clone() for p in params])
    torch.testing.assert_close(final[MergedLoraLinear][0], final[LoraLinear][0], rtol=1e-4, atol=1e-5)
    for fast, plain in zip(final[MergedLoraLinear][1], final[LoraLinear][1]):
        torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-6)


def test_sampling_folds_the_adapter_in_with_the_training_copy():
    from grpo_core.model import merged_for_sampling

    model = _model()
    use_merged_lora(model, 1 << 30)
    with torch.no_grad():
        policy = model(input_ids=IDS).logits
        layers = [m for m in model.modules() if type(m) is MergedLoraLinear]
        cached = [m._merged[1] for m in layers]
        with merged_for_sampling(model):
            assert all(m.get_base_layer().weight.data_ptr() == c.data_ptr() for m, c in zip(layers, cached))
            sampled = model(input_ids=IDS).logits
        assert all(m._merged[1] is c for m, c in zip(layers, cached))  # nothing merged again
    torch.testing.assert_close(sampled, policy, rtol=1e-5, atol=1e-5)


def test_adapter_off_gives_the_base_model():
    model = _model()
    use_merged_lora(model, 1 << 30)
    with torch.no_grad():
        on = model(input_ids=IDS).logits
        with model.disable_adapter():
            off = model(input_ids=IDS).logits
        _set(model, LoraLinear)
        with model.disable_adapter():
            peft_off = model(input_ids=IDS).logits
    assert not torch.allclose(on, off, atol=1e-3)
    torch.testing.assert_close(off, peft_off, rtol=0, atol=0)  # peft's own path: bit for bit


@pytest.mark.parametrize("case", ["dropout", "bfloat16", "over budget"])
def test_what_the_fast_path_leaves_to_peft(case):
    model = _model(dropout=0.1 if case == "dropout" else 0.0,
                   dtype=torch.bfloat16 if case == "bfloat16" else torch.float32)
    switched = use_merged_lora(model, 0 if case == "over budget" else 1 << 30)
    if case == "bfloat16":
        assert switched == 0  # a bf16 base is not eligible at all
    elif case == "over budget":
        assert switched == 0 and not any(type(m) is MergedLoraLinear for m in model.modules())
    else:
        assert switched == 14
    model.eval()  # dropout off for the comparison; the fast path still declines a Dropout module
    with torch.no_grad():
        ours = model(input_ids=IDS).logits
        assert all(getattr(m, "_merged", None) is None for m in model.modules())  # never took the fast path
        _set(model, LoraLinear)
        torch.testing.assert_close(ours, model(input_ids=IDS).logits, rtol=0, atol=0)


def test_a_merged_weight_first_made_in_inference_mode_still_trains():
    """Sampling and the reference pass run in inference mode; a merged copy cached there would be an
    inference tensor, which autograd refuses to save. The cache is made outside it."""
    model = _model()
    use_merged_lora(model, 1 << 30)
    with torch.inference_mode():
        for module in model.modules():
            if isinstance(module, MergedLoraLinear):
                assert not module.merged_weight("default").is_inference()
    _, grads = _loss_and_grads(model, IDS)
    assert grads and all(g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)
