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
SUPPORTED_LAYERS = {"LlamaDecoderLayer", "Qwen2DecoderLayer", "Qwen3DecoderLayer", "MistralDecoderLayer"}
FUSE_MAX_BYTES = 1 << 30  # the fused q/k/v and gate/up weights are copies: past this, the modules are called


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
    def start(cls, base, cache, prompt_mask: torch.Tensor, positions: torch.Tensor,
              max_new_tokens: int) -> LeanDecoder | None:
        """A decoder continuing from ``cache`` (the prompt's, already one row per sample) at ``positions``
        [rows, 1] (the first new token's), or None when ``base`` (a transformers causal LM, not a peft
        wrapper) is not a supported architecture."""
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
            kv = [(cache.layers[i].keys, cache.layers[i].values) for i in range(len(layers))]
        except (AttributeError, IndexError):  # a cache of another layout
            return None
        return cls(base, decoder, layers, kv, prompt_mask, positions, max_new_tokens)

    def __init__(self, base, decoder, layers, kv, prompt_mask, positions, max_new_tokens):
        rows, width = prompt_mask.shape
        self.decoder, self.layers, self.length, self.steps = decoder, layers, width, 0
        self.keys, self.values = [], []
        for k, v in kv:
            kbuf = k.new_empty((rows, k.shape[1], width + max_new_tokens, k.shape[3]))
            vbuf = v.new_empty((rows, v.shape[1], width + max_new_tokens, v.shape[3]))
            kbuf[:, :, :width], vbuf[:, :, :width] = k, v
            self.keys.append(kbuf)
            self.values.append(vbuf)
        # Left pads are never attended to; every completion column is (a finished row's are ignored later).
        bias = torch.zeros((rows, width + max_new_tokens), dtype=torch.float32, device=prompt_mask.device)
        bias[:, :width].masked_fill_(prompt_mask == 0, float("-inf"))
        self.bias = bias[:, None, None, :]
        # The rotary angles of every step at once: positions advance by one per step.
        steps = positions + torch.arange(max_new_tokens, device=positions.device)
        probe = kv[0][0].new_empty((rows, max_new_tokens, 1))  # the rotary embedding reads only dtype/device
        self.cos, self.sin = (t.unsqueeze(1) for t in decoder.rotary_emb(probe, steps))  # [rows, 1, T, d]
        budget = [FUSE_MAX_BYTES]
        with torch.no_grad():
            self.qkv = [_fused([l.self_attn.q_proj, l.self_attn.k_proj, l.self_attn.v_proj], budget) for l in layers]
            self.gate_up = [_fused([l.mlp.gate_proj, l.mlp.up_proj], budget) for l in layers]
            self.out = [_as_function(l.self_attn.o_proj) for l in layers]
            self.down = [_as_function(l.mlp.down_proj) for l in layers]
            self.head = _as_function(base.get_output_embeddings())
        self.norms = [(_norm(l.input_layernorm), _norm(l.post_attention_layernorm)) for l in layers]
        self.final_norm = _norm(decoder.norm)

    def step(self, token: torch.Tensor) -> torch.Tensor:
        """Logits [rows, vocab] after feeding ``token`` [rows] at the next position of every row."""
        hidden = self.decoder.embed_tokens(token[:, None])  # [rows, 1, H]
        at, s = self.length, self.steps
        cos, sin = self.cos[:, :, s:s + 1], self.sin[:, :, s:s + 1]
        self.length, self.steps = at + 1, s + 1
        for i, layer in enumerate(self.layers):
            attn_norm, mlp_norm = self.norms[i]
            hidden = hidden + self._attention(i, layer.self_attn, attn_norm(hidden), cos, sin, at)
            hidden = hidden + self._mlp(i, layer.mlp, mlp_norm(hidden))
        return self.head(self.final_norm(hidden))[:, -1, :]

    def _mlp(self, i: int, mlp, x) -> torch.Tensor:
        if self.gate_up[i] is None:
            return mlp(x)
        weight, bias, sizes = self.gate_up[i]
        gate, up = F.linear(x, weight, bias).split(sizes, dim=-1)
        return self.down[i](mlp.act_fn(gate) * up)

    def _attention(self, i: int, attn, x, cos, sin, at: int) -> torch.Tensor:
        kbuf, vbuf = self.keys[i], self.values[i]
        rows, kv_heads, dim = x.shape[0], kbuf.shape[1], kbuf.shape[-1]
        if self.qkv[i] is None:
            q, k, v = attn.q_proj(x), attn.k_proj(x), attn.v_proj(x)
        else:
            weight, bias, sizes = self.qkv[i]
            q, k, v = F.linear(x, weight, bias).split(sizes, dim=-1)
        q, k, v = q.view(rows, -1, dim), k.view(rows, -1, dim), v.view(rows, -1, dim)  # [rows, heads, d]
        if hasattr(attn, "q_norm"):  # Qwen3: RMSNorm over each head before the rotation
            q, k = attn.q_norm(q), attn.k_norm(k)
        heads = q.shape[1]
        # one rotation for the query and key heads together; positions sit on dim 2, as in the cache
        qk = _rotate(torch.cat([q, k], dim=1).unsqueeze(2), cos, sin)
        kbuf[:, :, at:at + 1] = qk[:, heads:]
        vbuf[:, :, at:at + 1] = v.unsqueeze(2)
        # GQA without copying the cache: the query heads sharing a KV head become that head's query rows.
        q = qk[:, :heads].reshape(rows, kv_heads, -1, dim)  # [rows, kv_heads, group, d]
        scores = torch.matmul(q, kbuf[:, :, :at + 1].transpose(-1, -2)) * attn.scaling
        probs = (scores.float() + self.bias[..., :at + 1]).softmax(dim=-1).to(q.dtype)
        out = torch.matmul(probs, vbuf[:, :, :at + 1])  # [rows, kv_heads, group, d]
        return self.out[i](out.reshape(rows, 1, -1))


def _fused(modules, budget: list[int]):
    """One (weight, bias, sizes) for several projections of the same input when each is a plain float linear
    map (an nn.Linear, or a LoRA layer whose adapter is off or merged into it), so a step runs one matmul
    instead of several; None otherwise (4-bit layers, live adapters) or once ``budget`` bytes are spent."""
    parts = [_plain_linear(m) for m in modules]
    if any(p is None for p in parts) or len({p[0].dtype for p in parts}) != 1:
        return None
    weight = torch.cat([w for w, _ in parts])
    budget[0] -= weight.numel() * weight.element_size()
    if budget[0] < 0:
        return None
    bias = None
    if any(b is not None for _, b in parts):
        bias = torch.cat([b if b is not None else w.new_zeros(w.shape[0]) for w, b in parts])
    return weight, bias, [w.shape[0] for w, _ in parts]


def _as_function(module):
    """``module`` as a plain F.linear call when it is one (skipping wrapper overhead), else the module."""
    plain = _plain_linear(module)
    if plain is None:
        return module
    weight, bias = plain
    return lambda x: F.linear(x, weight, bias)


def _norm(module):
    """The Llama-family RMSNorm as one fused call in float32 (the module's own arithmetic), else the module."""
    eps = getattr(module, "variance_epsilon", None)
    weight = getattr(module, "weight", None)
    if not type(module).__name__.endswith("RMSNorm") or eps is None or weight is None \
            or weight.dtype != torch.float32:
        return module
    return lambda x: F.rms_norm(x, weight.shape, weight, eps) if x.dtype == torch.float32 else module(x)


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
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin
