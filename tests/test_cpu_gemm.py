"""grpo_core.cpu_gemm: oneDNN's float32 linear maps give torch's results and gradients, and the engine uses them.

Each check compares against the plain torch call (MKL on this build) on the same tensors, for the layouts
the engine passes (3-D activations, column slices, transposed weights in the backward), and counts calls to
the oneDNN op to show the model's layers, the LoRA layers and the decode step actually go through it.
"""
from __future__ import annotations

import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
import torch.nn.functional as F

from grpo_core import cpu_gemm
from grpo_core.cpu_threads import cpuinfo


@pytest.fixture(autouse=True)
def every_size(monkeypatch):
    # the models and tensors here are small: let every product take the oneDNN path unless a test says not,
    # on any processor (by default only AMD's take it)
    monkeypatch.setattr(cpu_gemm, "MIN_MULTIPLY_ADDS", 0)
    monkeypatch.setattr(cpu_gemm, "ENABLED", True)


def test_this_torch_build_has_the_op():
    # Under CI (a CPU torch build with oneDNN) the fast path must exist, or every other check here proves nothing.
    assert torch.backends.mkldnn.is_available()
    assert cpu_gemm._OP is not None


def test_the_route_is_chosen_by_vendor_unless_the_environment_says(tmp_path):
    assert cpu_gemm.choose_onednn(None, "AuthenticAMD") and cpu_gemm.choose_onednn("auto", "HygonGenuine")
    assert not cpu_gemm.choose_onednn(None, "GenuineIntel") and not cpu_gemm.choose_onednn(None, None)
    assert cpu_gemm.choose_onednn("onednn", "GenuineIntel") and not cpu_gemm.choose_onednn("mkl", "AuthenticAMD")
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n")
    assert cpuinfo("vendor_id", str(info)) == "AuthenticAMD" and cpuinfo("cpu family", str(info)) == "25"
    assert cpuinfo("vendor_id", str(tmp_path / "missing")) is None and cpuinfo("flags", str(info)) is None


@pytest.mark.parametrize("layout", ["2d", "3d", "column slice", "transposed weight", "no bias"])
def test_linear_matches_torch_forward_and_gradients(layout):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, 40, generator=g) if layout == "3d" else torch.randn(30, 40, generator=g)
    if layout == "column slice":
        x = torch.randn(30, 64, generator=g)[:, 8:48]
    weight = torch.randn(24, 40, generator=g)
    if layout == "transposed weight":
        weight = torch.randn(40, 24, generator=g).t()
    bias = None if layout == "no bias" else torch.randn(24, generator=g)
    leaves = [t.detach().clone().requires_grad_() for t in (x, weight) + ((bias,) if bias is not None else ())]
    plain = [t.detach().clone().requires_grad_() for t in leaves]
    dy = torch.randn(*x.shape[:-1], 24, generator=g)
    ours = cpu_gemm.linear(*leaves)
    theirs = F.linear(*plain)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    (ours * dy).sum().backward()
    (theirs * dy).sum().backward()
    for a, b in zip(leaves, plain):
        assert a.grad is not None and a.grad.abs().sum() > 0
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-4)


def test_mm_matches_torch_for_transposed_operands():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(50, 16, generator=g), torch.randn(50, 33, generator=g)
    torch.testing.assert_close(cpu_gemm.mm(a.t(), b), a.t() @ b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cpu_gemm.mm(b.t(), a), b.t() @ a, rtol=1e-5, atol=1e-5)


def test_small_products_stay_with_torch(monkeypatch, counted):
    monkeypatch.setattr(cpu_gemm, "MIN_MULTIPLY_ADDS", 1 << 21)
    x, small, large = torch.randn(64, 128), torch.randn(128, 128), torch.randn(384, 128)  # 2^20, 3 x 2^20
    assert torch.equal(cpu_gemm.linear(x, small), F.linear(x, small))
    assert torch.equal(cpu_gemm.mm(x, small.t()), x @ small.t())
    assert counted.calls == 0
    cpu_gemm.linear(x, large)
    cpu_gemm.mm(x, large.t())
    assert counted.calls == 2


def test_other_dtypes_take_torch_own_path():
    x, w = torch.randn(4, 8, dtype=torch.bfloat16), torch.randn(3, 8, dtype=torch.bfloat16)
    assert torch.equal(cpu_gemm.linear(x, w), F.linear(x, w))
    x64, w64 = x.double(), w.double()
    assert torch.equal(cpu_gemm.linear(x64, w64), F.linear(x64, w64))


class _Count:
    def __init__(self, op):
        self.op, self.calls = op, 0

    def __call__(self, *args):
        self.calls += 1
        return self.op(*args)


@pytest.fixture
def counted(monkeypatch):
    counter = _Count(cpu_gemm._OP)
    monkeypatch.setattr(cpu_gemm, "_OP", counter)
    return counter


def _peft_model():
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=48, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    base = Qwen2ForCausalLM(config)
    for param in base.parameters():
        param.requires_grad_(False)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.1)
    return model


def test_the_engine_layers_run_through_onednn(counted):
    from grpo_core.lora_forward import use_merged_lora
    from grpo_core.model import adapters_off

    model = _peft_model()
    ids = torch.randint(0, 48, (3, 10), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        before = model(input_ids=ids).logits
    # 14 base layers of 2 decoder layers (q, k, v, o, gate, up, down), their 28 LoRA matrices and the head
    assert cpu_gemm.use_onednn(model) == 15 + 28 and type(model.get_output_embeddings()) is cpu_gemm.Linear
    assert use_merged_lora(model, 1 << 30) == 14  # the swapped base layers still count as plain linear maps
    counted.calls = 0
    logits = model(input_ids=ids).logits
    assert counted.calls >= 15
    torch.testing.assert_close(logits, before, rtol=1e-5, atol=1e-5)
    counted.calls = 0
    logits.float().log_softmax(-1).mean().backward()
    assert counted.calls >= 15  # the input gradients too
    counted.calls = 0
    with torch.no_grad(), adapters_off(model):
        model(input_ids=ids)
    assert counted.calls == 15  # the reference pass: base layers and head


def test_the_decode_step_runs_through_onednn(counted):
    from grpo_core.decode import LeanDecoder
    from grpo_core.model import merged_for_sampling

    model = _peft_model()
    cpu_gemm.use_onednn(model)
    model.eval()
    ids = torch.randint(2, 48, (2, 6), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(ids)
    with torch.no_grad(), merged_for_sampling(model):
        base = model.get_base_model()
        out = base(input_ids=ids, attention_mask=mask, use_cache=True)
        decoder = LeanDecoder.start(base, out.past_key_values, mask, torch.full((2, 1), 6), 4)
        assert decoder is not None
        counted.calls = 0
        token = out.logits[:, -1].argmax(-1)
        logits = decoder.step(token)
        # per layer the fused q/k/v, output, fused gate/up and down projections; then the head
        assert counted.calls == 2 * 4 + 1
        full = base(input_ids=torch.cat([ids, token[:, None]], 1), attention_mask=torch.ones(2, 7, dtype=torch.long))
        torch.testing.assert_close(logits, full.logits[:, -1], rtol=1e-4, atol=1e-4)


def test_the_environment_switch_turns_it_off():
    code = "import torch\nfrom grpo_core import cpu_gemm\nm = torch.nn.Linear(2, 2)\n" \
           "print(cpu_gemm.ENABLED, cpu_gemm.use_onednn(m))"
    amd = cpuinfo("vendor_id") in cpu_gemm.ONEDNN_VENDORS
    for value, expected in (("mkl", "False 0"), ("onednn", "True 1"), (None, "True 1" if amd else "False 0")):
        env = {k: v for k, v in os.environ.items() if k != "GRPO_CPU_GEMM"}
        if value is not None:
            env["GRPO_CPU_GEMM"] = value
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.split() == expected.split()


def test_mm_of_a_transposed_large_operand_copies_the_small_one(counted):
    g = torch.Generator().manual_seed(4)
    dy, u = torch.randn(300, 64, generator=g), torch.randn(300, 4, generator=g)
    out = cpu_gemm.mm(dy.t(), u)  # a LoRA weight gradient: [64, 300] @ [300, 4]
    assert counted.calls == 1 and out.shape == (64, 4) and out.is_contiguous()
    torch.testing.assert_close(out, dy.t() @ u, rtol=1e-5, atol=1e-4)
