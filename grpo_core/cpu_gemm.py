"""Float32 linear maps on the CPU through oneDNN's inner product instead of MKL's sgemm.

PyTorch's CPU build runs float32 ``F.linear`` and ``mm`` through MKL, and on AMD processors MKL does not
run its AVX-512 kernels (``MKL_ENABLE_INSTRUCTIONS=AVX512`` and ``MKL_DEBUG_CPU_TYPE=5`` changed nothing):
150-190 GFLOP/s for the shapes of a small model's step on the benchmark's 2-core EPYC, where oneDNN
(shipped in the same torch build, and what torch already uses for bfloat16) reaches 280-430 on the same
float32 shapes, without repacking the weights (benchmarks/cpu_gemm.py, BENCHMARKS.md). A small model's GRPO
step on the CPU is mostly such matmuls, so the engine routes its own linear maps here: the base layers and
output head (``use_onednn`` swaps their class), the LoRA layers of lora_forward.py and the decode step.
Same float32 arithmetic, a different summation order: results agree with MKL's to round-off
(tests/test_cpu_gemm.py). On Intel processors MKL does run AVX-512 and is the faster of the two (on a
2-core Xeon it beat oneDNN on every shape of benchmarks/cpu_gemm.py, up to 1.6x on decode shapes), so the
route is taken on AMD processors only, read from /proc/cpuinfo; ``GRPO_CPU_GEMM=onednn`` or ``=mkl``
decides instead. Products too small to pay for oneDNN's cost per call, anything off the CPU or not
float32, or a torch build without the op: the plain torch call.
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from .cpu_threads import cpuinfo

_OP = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)
# processors on which MKL leaves AVX-512 unused (AMD's, and Hygon's, which are AMD's design)
ONEDNN_VENDORS = ("AuthenticAMD", "HygonGenuine")


def choose_onednn(setting: str | None, vendor: str | None) -> bool:
    """Whether float32 linear maps go to oneDNN, from ``GRPO_CPU_GEMM`` (``onednn``, ``mkl``, unset or
    ``auto``) and the processor's vendor."""
    if setting in ("onednn", "mkl"):
        return setting == "onednn"
    return vendor in ONEDNN_VENDORS


ENABLED = _OP is not None and torch.backends.mkldnn.is_available() \
    and choose_onednn(os.environ.get("GRPO_CPU_GEMM"), cpuinfo("vendor_id"))
# oneDNN costs about 20 us more a call than MKL: below ~2M multiply-adds (a 64 x 128 x 128 product) MKL is
# faster (the small cases of benchmarks/cpu_gemm.py), so those stay with torch.
MIN_MULTIPLY_ADDS = 1 << 21


def takes(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether ``linear(x, weight)`` runs on oneDNN (else it is torch's own call)."""
    return ENABLED and x.dtype is weight.dtype is torch.float32 and x.is_cpu and weight.is_cpu \
        and weight.dim() == 2 and x.dim() >= 2 and x.numel() * weight.shape[0] >= MIN_MULTIPLY_ADDS \
        and not x.is_mkldnn


def _inner(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x @ weight.T + bias by oneDNN. It takes rows of x and weight at any stride, not unit-less columns."""
    if x.stride(-1) != 1:
        x = x.contiguous()
    if weight.stride(-1) != 1 and weight.stride(0) != 1:
        weight = weight.contiguous()
    return _OP(x, weight, bias, "none", [], "")


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _inner(x, weight, bias)

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        dx = _inner(dy, weight.t()) if ctx.needs_input_grad[0] else None  # dy @ W
        dw = db = None
        if ctx.needs_input_grad[1] or (ctx.has_bias and ctx.needs_input_grad[2]):
            dy2 = dy.reshape(-1, dy.shape[-1])
            if ctx.needs_input_grad[1]:
                dw = mm(dy2.t(), x.reshape(-1, x.shape[-1]))
            if ctx.has_bias and ctx.needs_input_grad[2]:
                db = dy2.sum(0)
        return dx, dw, db


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)``, by oneDNN where it applies; differentiable in all three."""
    if not takes(x, weight) or (bias is not None and bias.dtype != torch.float32):
        return F.linear(x, weight, bias)
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        return _Linear.apply(x, weight, bias)
    return _inner(x, weight, bias)


def mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for 2-D tensors outside autograd (backward passes, no-grad code), by oneDNN where it applies."""
    if a.dim() != 2 or not takes(a, b.t()):
        return a @ b
    if a.stride(-1) == 1 or a.numel() <= b.numel():
        return _inner(a, b.t())  # copies a when its rows are not contiguous (the smaller operand)
    # a is a transposed view (a weight gradient's dy.T): a @ b = (b.T @ a.T).T, so that b.T is what gets copied
    return _inner(b.t(), a).t().contiguous()


_REORDER = getattr(getattr(torch.ops, "mkl", None), "_mkl_reorder_linear_weight", None)
_PACKED_LINEAR = getattr(getattr(torch.ops, "mkl", None), "_mkl_linear", None)


class Packed:
    """x @ W.T + b for a fixed number of rows (the decode step's) through MKL's packed sgemm: the weight is
    laid out once in the blocks the kernel reads, instead of on every call. On a 2-core Xeon that made the
    decode step's 32-row products 1.4-1.8x faster, with the same results to the bit there (BENCHMARKS.md); on
    the larger products of the passes it changed nothing, so only the decoder packs."""

    def __init__(self, weight: torch.Tensor, rows: int):
        self.weight, self.rows = weight, rows
        self.packed = _REORDER(weight, rows)

    def __call__(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return _PACKED_LINEAR(x if x.is_contiguous() else x.contiguous(), self.packed, self.weight, bias,
                              self.rows)


def pack(weight: torch.Tensor, rows: int) -> Packed | None:
    """A packed copy of a float32 CPU weight for products of ``rows`` rows, where MKL runs them (not on the
    oneDNN route above, not for products too small to gain) and this torch build has the ops; else None."""
    if _REORDER is None or _PACKED_LINEAR is None or ENABLED or not torch.backends.mkl.is_available() \
            or weight.dtype != torch.float32 or not weight.is_cpu or weight.dim() != 2 \
            or rows * weight.numel() < MIN_MULTIPLY_ADDS:
        return None
    try:
        return Packed(weight, rows)
    except RuntimeError:  # MKL could not get the buffer (it asks for more than it fills): decode unpacked
        return None


class Linear(torch.nn.Linear):
    """``nn.Linear`` whose forward is ``linear`` above; ``use_onednn`` gives float32 CPU layers this class."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


PLAIN_LINEARS = (torch.nn.Linear, Linear)  # x @ W.T + b and nothing else: the classes to look for by type


def use_onednn(model) -> int:
    """Give every float32 ``nn.Linear`` of ``model`` on the CPU the class above; returns how many."""
    if not ENABLED:
        return 0
    count = 0
    for module in model.modules():
        if type(module) is torch.nn.Linear and module.weight.device.type == "cpu" \
                and module.weight.dtype == torch.float32:
            module.__class__ = Linear
            count += 1
    return count
