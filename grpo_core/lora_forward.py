"""LoRA layers that run as one matmul with the adapter folded into a cached copy of the weight.

peft computes a LoRA layer as ``base(x) + B(A(x)) * scale``: besides the base matmul, a second skinny
matmul up to the full output width and a multiply and an add over the whole [tokens, out] output, with
the same again in the backward. For the log-prob passes of a small full-precision model on the CPU that
is a sixth of the forward and backward. Here the layer computes ``x @ (W + scale * B @ A).T`` with the
merged weight cached until A or B changes (an optimizer step), and a backward written out by hand:

    dx = dy @ W'            (the base and LoRA input gradients in one matmul)
    dB = scale * dy.T @ u   with u = x @ A.T, kept from the forward
    dA = scale * (dy @ B).T @ x

the same function and gradients as peft's, up to float round-off (tests/test_lora_forward.py). Only peft's
plain ``lora.Linear`` over a frozen float32 ``nn.Linear``, with one active adapter and no dropout, DoRA or
LoRA bias, takes this path; anything else (4-bit or bf16 bases, the adapter switched off for the reference
pass or merged for sampling, several adapters) runs peft's forward, checked on every call. The cached
copies are bounded like the sampling copies (model.MERGE_FOR_SAMPLING_MAX_BYTES).
"""
from __future__ import annotations

import torch
from peft.tuners.lora import Linear as LoraLinear

from . import cpu_gemm


class _MergedLora(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, merged, bias, a, b, scale):
        u = cpu_gemm.linear(x, a)  # [..., r]: needed for dB
        ctx.save_for_backward(x, u, merged, b)
        ctx.scale = scale
        return cpu_gemm.linear(x, merged, bias)

    @staticmethod
    def backward(ctx, dy):
        x, u, merged, b = ctx.saved_tensors
        dy2 = dy.reshape(-1, dy.shape[-1])
        dx = cpu_gemm.linear(dy, merged.t()) if ctx.needs_input_grad[0] else None  # dy @ W'
        db = cpu_gemm.mm(dy2.t(), u.reshape(-1, u.shape[-1])).mul_(ctx.scale)
        da = cpu_gemm.mm(cpu_gemm.mm(dy2, b).t(), x.reshape(-1, x.shape[-1])).mul_(ctx.scale)
        return dx, None, None, da, db, None


class MergedLoraLinear(LoraLinear):
    """peft's ``lora.Linear``, computed through the cached merged weight where that is exact."""

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        adapters = self.active_adapters
        if args or kwargs or self.disable_adapters or self.merged or len(adapters) != 1:
            return super().forward(x, *args, **kwargs)
        name = adapters[0]
        base = self.get_base_layer()
        if name not in self.lora_A or self.use_dora.get(name) or getattr(self, "lora_bias", {}).get(name) \
                or not isinstance(self.lora_dropout[name], torch.nn.Identity) or x.dtype != torch.float32:
            return super().forward(x, *args, **kwargs)
        a, b = self.lora_A[name].weight, self.lora_B[name].weight
        if a.dtype != torch.float32 or b.dtype != torch.float32:
            return super().forward(x, *args, **kwargs)
        return _MergedLora.apply(x, self.merged_weight(name), base.bias, a, b, self.scaling[name])

    def merged_weight(self, name: str) -> torch.Tensor:
        """W + scale * B @ A of adapter ``name``, computed again only when W, A or B has changed; sampling
        (model.merged_for_sampling) folds the adapter in with this same copy."""
        a, b, weight = self.lora_A[name].weight, self.lora_B[name].weight, self.get_base_layer().weight
        # In-place updates (AdamW, load_state_dict) bump a tensor's version; new storage moves its pointer.
        key = (name, a.data_ptr(), a._version, b.data_ptr(), b._version, weight.data_ptr(), weight._version)
        cached = getattr(self, "_merged", None)
        if cached is None or cached[0] != key:
            # a copy the training passes save for backward: never an inference tensor (inference_mode(False)
            # turns grad mode on, so no_grad comes second)
            with torch.inference_mode(False), torch.no_grad():
                cached = self._merged = (key, torch.addmm(weight, b, a, alpha=self.scaling[name]))
        return cached[1]


def _eligible(module) -> bool:
    if type(module) is not LoraLinear:
        return False
    base = module.get_base_layer()
    return (type(base) in cpu_gemm.PLAIN_LINEARS and base.weight.dtype == torch.float32 and not module.fan_in_fan_out
            and not base.weight.requires_grad and (base.bias is None or not base.bias.requires_grad))


def use_merged_lora(model, max_bytes: int) -> int:
    """Switch every eligible LoRA layer of ``model`` to MergedLoraLinear when their merged copies fit in
    ``max_bytes`` together (else none); returns how many were switched."""
    layers = [m for m in model.modules() if _eligible(m)]
    total = sum(m.get_base_layer().weight.numel() * 4 for m in layers)
    if total > max_bytes:
        return 0
    for module in layers:
        module.__class__ = MergedLoraLinear
    return len(layers)
