"""A lean decode step for Llama-family decoders (Llama, Qwen2, Qwen3, Mistral without a sliding window).

Sampling runs the model once per generated token, on one new position per row. Through transformers that
step is mostly bookkeeping on a small model: the KV cache grows by concatenation (every layer copies its
whole cache, every step), the mask and position tensors are rebuilt, and the attention kernel is one meant
for long queries. Here the step is written out for one query position: the keys and values go into
buffers allocated once for the longest completion, the left-padding mask is an additive bias built once,
and attention is two batched matmuls over the filled prefix. Everything with weights is still the model's
own module (projections, with LoRA, 4-bit or merged weights; norms; the rotary embedding, whatever its
scaling), so the arithmetic is the model's and the logits agree with its forward up to round-off
(tests/test_decode.py). Any other architecture returns None from ``LeanDecoder.start`` and decodes through
the model's forward as before.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# Decoder layers whose forward is exactly: pre-norm attention (q/k/v projections, optional per-head q/k norm,
# rotary embedding, softmax attention with GQA), residual, pre-norm gated MLP, residual.
FUSE_MAX_BYTES = 1 << 30
SUPPORTED_LAYERS = {"LlamaDecoderLayer", "Qwen2DecoderLayer", "Qwen3DecoderLayer", "MistralDecoderLayer"}


def _layers_of(base):
    decoder = getattr(base, "model", None)
    needed = ("embed_tokens", "layers", "norm", "rotary_emb")
    if decoder is None or not all(hasattr(decoder, n) for n in needed) or base.get_output_embeddings() is None:
        return None
    layers = list(decoder.layers)
    if not layers or any(type(layer).__name__ not in SUPPORTED_LAYERS for layer in layers):
        return None
    return decoder, layers


class LeanDecoder:
    """Decodes ``rows`` sequences one token at a time from a prefilled transformers cache."""

    @classmethod
    def start(cls, base, cache, prompt_mask: torch.Tensor, max_new_tokens: int) -> LeanDecoder | None:
        """A decoder continuing from ``cache`` (the prompt's, already one row per sample), or None when
        ``base`` (a transformers causal LM, not a peft wrapper) is not a supported architecture."""
        found = _layers_of(base)
        if found is None or base.training:
            return None
        decoder, layers = found
        total = prompt_mask.shape[1] + max_new_tokens
        for layer in layers:  # a window shorter than the sequence would drop keys this step attends to
            window = getattr(layer.self_attn, "sliding_window", None)
            if window is not None and window < total:
                return None
        try:
            keys = [cache.layers[i].keys for i in range(len(layers))]
            values = [cache.layers[i].values for i in range(len(layers))]
        except (AttributeError, IndexError):  # a cache of another layout
            return None
        return cls(base, decoder, layers, keys, values, prompt_mask, max_new_tokens)

    @staticmethod
    def _fused(modules, budget: list[int]):
        """One (weight, bias) for several projections of the same input when each is a plain float linear map
        (an nn.Linear, or a LoRA layer whose adapter is off or merged into it), so a step runs one matmul
        instead of several; None otherwise (4-bit layers, live adapters) or once ``budget`` bytes are spent."""
        parts = [_plain_linear(m) for m in modules]
        if any(p is None for p in parts) or len({p[0].dtype for p in parts}) != 1:
            return None
        weight = torch.cat([w for w, _ in parts])
        budget[0] -= weight.numel() * weight.element_size()
        if budget[0] < 0:
            return None
        biases = [b if b is not None else w.new_zeros(w.shape[0]) for w, b in parts]
        bias = torch.cat(biases) if any(b is not None for _, b in parts) else None
        return weight, bias, [w.shape[0] for w, _ in parts]

    def __init__(self, base, decoder, layers, keys, values, prompt_mask, max_new_tokens):
        self.base, self.decoder, self.layers = base, decoder, layers
        rows, width = prompt_mask.shape
        self.length = width  # filled key positions
        self.keys, self.values = [], []
        for k, v in zip(keys, values):
            heads, dim = k.shape[1], k.shape[3]
            kbuf = k.new_empty((rows, heads, width + max_new_tokens, dim))
            vbuf = v.new_empty((rows, heads, width + max_new_tokens, v.shape[3]))
            kbuf[:, :, :width] = k
            vbuf[:, :, :width] = v
            self.keys.append(kbuf)
            self.values.append(vbuf)
        # Left pads are never attended to; every completion column is (a finished row's are ignored later).
        bias = torch.zeros((rows, width + max_new_tokens), dtype=torch.float32, device=prompt_mask.device)
        bias[:, :width].masked_fill_(prompt_mask == 0, float("-inf"))
        self.bias = bias[:, None, None, :]
        # Fused weights are copies: bounded, so a large model decodes through its modules instead.
        budget = [FUSE_MAX_BYTES]
        with torch.no_grad():
            self.qkv = [self._fused([l.self_attn.q_proj, l.self_attn.k_proj, l.self_attn.v_proj], budget)
                        for l in layers]
            self.gate_up = [self._fused([l.mlp.gate_proj, l.mlp.up_proj], budget) for l in layers]

    def step(self, token: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Logits [rows, vocab] after feeding ``token`` [rows] at ``positions`` [rows, 1]."""
        hidden = self.decoder.embed_tokens(token[:, None])  # [rows, 1, H]
        cos, sin = self.decoder.rotary_emb(hidden, positions)
        at = self.length
        self.length += 1
        for i, layer in enumerate(self.layers):
            x = layer.input_layernorm(hidden)
            hidden = hidden + self._attention(layer.self_attn, x, self.qkv[i], cos, sin, self.keys[i],
                                              self.values[i], at)
            hidden = hidden + self._mlp(layer.mlp, layer.post_attention_layernorm(hidden), self.gate_up[i])
        hidden = self.decoder.norm(hidden)
        return self.base.get_output_embeddings()(hidden)[:, -1, :]

    @staticmethod
    def _mlp(mlp, x, fused) -> torch.Tensor:
        if fused is None:
            return mlp(x)
        gate, up = F.linear(x, fused[0], fused[1]).split(fused[2], dim=-1)
        return mlp.down_proj(mlp.act_fn(gate) * up)

    def _attention(self, attn, x, fused, cos, sin, kbuf, vbuf, at: int) -> torch.Tensor:
        rows, dim = x.shape[0], kbuf.shape[-1]
        if fused is None:
            q, k, v = attn.q_proj(x), attn.k_proj(x), attn.v_proj(x)
        else:
            q, k, v = F.linear(x, fused[0], fused[1]).split(fused[2], dim=-1)
        q, k, v = q.view(rows, 1, -1, dim), k.view(rows, 1, -1, dim), v.view(rows, 1, -1, dim)
        if hasattr(attn, "q_norm"):  # Qwen3: RMSNorm over each head before the rotation
            q, k = attn.q_norm(q), attn.k_norm(k)
        q, k = _rotate(q.transpose(1, 2), cos, sin), _rotate(k.transpose(1, 2), cos, sin)  # [rows, heads, 1, d]
        kbuf[:, :, at:at + 1] = k
        vbuf[:, :, at:at + 1] = v.transpose(1, 2)
        kv_heads = kbuf.shape[1]
        # GQA without copying the cache: the query heads sharing a KV head become that head's query rows.
        q = q.reshape(rows, kv_heads, -1, dim)  # [rows, kv_heads, group, d]
        scores = torch.matmul(q, kbuf[:, :, :at + 1].transpose(-1, -2)) * attn.scaling
        probs = (scores.float() + self.bias[..., :at + 1]).softmax(dim=-1).to(q.dtype)
        out = torch.matmul(probs, vbuf[:, :, :at + 1])  # [rows, kv_heads, group, d]
        return attn.o_proj(out.reshape(rows, 1, -1))


def _plain_linear(module):
    """(weight, bias) when ``module`` maps x to x @ weight.T + bias and nothing else, else None."""
    if type(module) is torch.nn.Linear:
        return module.weight, module.bias
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:
        return None
    if isinstance(module, LoraLayer) and (module.disable_adapters or module.merged):
        return _plain_linear(module.get_base_layer())
    return None


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding as the Llama family applies it (rotate the two halves of each head)."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin
