"""Attention for the log-prob passes on the CPU: the kernel that is fastest there for short sequences.

A GRPO step runs its batch through the model twice (reference and policy) and back once, on sequences of
a few hundred tokens at most on a CPU. There, SDPA's flash kernel is slower than plain matmuls with a
softmax between them, forward and backward (BENCHMARKS.md). transformers' own eager attention copies
every key and value head once per query head that shares it (GQA), and scales the whole score matrix;
``grouped_attention`` instead lays the query heads that share a KV head out as one block of rows, so each
KV head is multiplied once, as it is stored, and scales the (smaller) queries. Both keep every layer's
attention probabilities for the backward, so ``attention_for`` switches a pass over only while those fit in
``EAGER_ATTENTION_MAX_BYTES``; on a GPU, or for longer inputs, the configured kernel runs as before.
"""
from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F

from .decode import SUPPORTED_LAYERS

EAGER_ATTENTION_MAX_BYTES = 64 << 20
GROUPED = "grpo_grouped"


def grouped_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """softmax(q k^T * scaling + mask) v for query [B, H, T, d], key and value [B, kv, L, d], with the
    H // kv query heads of each KV head as one [g * T, d] block; returns ([B, T, H, d], None) as the
    attention interface expects."""
    batch, heads, length, dim = query.shape
    kv_heads = key.shape[1]
    group = heads // kv_heads
    scale = dim ** -0.5 if scaling is None else scaling
    q = (query * scale).reshape(batch, kv_heads, group * length, dim)
    scores = torch.matmul(q, key.transpose(2, 3))  # [B, kv, g * T, L]
    if attention_mask is not None:  # [B, 1, T, L], the same for every head
        scores = scores.view(batch, kv_heads, group, length, -1).add_(attention_mask[:, :, None])
        scores = scores.view(batch, kv_heads, group * length, -1)
    probs = scores.softmax(dim=-1, dtype=torch.float32).to(query.dtype)
    if dropout:
        probs = F.dropout(probs, p=dropout, training=True)
    out = torch.matmul(probs, value)  # [B, kv, g * T, d] is [B, H, T, d] in memory
    return out.view(batch, heads, length, dim).transpose(1, 2).contiguous(), None


@functools.cache
def _register() -> None:
    """Make GROUPED a kernel transformers can be configured with (once a process)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

    AttentionInterface.register(GROUPED, grouped_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(GROUPED, eager_mask)  # the additive float mask eager attention takes


@contextlib.contextmanager
def attention_for(model, backbone, config, device, rows: int, length: int, checkpointing: bool):
    """Run one pass of ``rows`` x ``length`` tokens through grouped or eager attention where that is the
    faster choice (see the module docstring), else as configured. ``checkpointing``: activation
    checkpointing re-runs layers in the backward, which must see the kernel the forward saw, so such a pass
    keeps its own."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    heads, layers = getattr(config, "num_attention_heads", None), getattr(config, "num_hidden_layers", None)
    switchable = getattr(type(inner), "_can_set_attn_implementation", None)
    switch = (device.type == "cpu" and getattr(config, "_attn_implementation", None) == "sdpa"
              and not getattr(config, "sub_configs", None) and heads and layers and not checkpointing
              and switchable is not None and switchable()
              and rows * heads * length * length * 4 * layers <= EAGER_ATTENTION_MAX_BYTES)
    if not switch:
        yield
        return
    # The Llama family's attention calls the kernel with nothing but q, k, v, the mask and the scale (no
    # attention sinks, no softcapping), which the grouped kernel computes exactly; others get eager.
    kinds = {type(layer).__name__ for layer in getattr(backbone, "layers", [])}
    kernel = GROUPED if kinds and kinds <= SUPPORTED_LAYERS else "eager"
    if kernel == GROUPED:
        _register()
    config._attn_implementation = kernel
    try:
        yield
    finally:
        config._attn_implementation = "sdpa"
