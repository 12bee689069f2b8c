"""A lean decode step for Llama-family decoders (Llama, Qwen2, Qwen3, Mistral without a sliding window).

Sampling runs the model once per generated token, on one new position per row. Through transformers that
step is mostly bookkeeping on a small model: the KV cache grows by concatenation (every layer copies its
whole cache, every step), the mask and position tensors are rebuilt, and the attention kernel is one meant
for long queries. Here the step is written out for one query position: the keys and values go into
buffers allocated once for the longest completion, the left-padding mask is an additive bias built once,
attention is two batched matmuls over the filled prefix, and the residual adds ride in the output and down
projections' matmuls (addmm; where oneDNN runs the product, cpu_gemm.py, an add after it; where MKL runs
it, the fused weights are packed once for the rows decoded, cpu_gemm.Packed). Everything with
weights is still the model's own module (projections, with LoRA, 4-bit or merged weights; norms; the rotary embedding, whatever its
scaling), so the arithmetic is the model's and the logits agree with its forward up to round-off
(tests/test_decode.py). Any other architecture returns None from ``LeanDecoder.start`` and decodes through
the model's forward as before.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from . import cpu_gemm

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
        # One buffer per layer for keys and values, [rows, kv_heads, positions, d] as in the cache, so that
        # [rows * kv_heads, positions, d] is a view of it: the batched matmuls of attention need no copies.
        self.keys, self.values = [], []
        for k, v in kv:
            kbuf = k.new_empty((rows, k.shape[1], width + max_new_tokens, k.shape[3]))
            vbuf = v.new_empty((rows, v.shape[1], width + max_new_tokens, v.shape[3]))
            kbuf[:, :, :width], vbuf[:, :, :width] = k, v
            self.keys.append(kbuf)
            self.values.append(vbuf)
        kv_heads, dtype = kv[0][0].shape[1], kv[0][0].dtype
        # Left pads are never attended to; every completion column is (a finished row's are ignored later).
        # The bias is in the model's dtype and the softmax in float32, as transformers' own attention does it.
        bias = torch.zeros((rows, width + max_new_tokens), dtype=dtype, device=prompt_mask.device)
        bias[:, :width].masked_fill_(prompt_mask == 0, float("-inf"))
        self.bias = bias.repeat_interleave(kv_heads, dim=0)[:, None, :]  # [rows * kv_heads, 1, positions]
        # The rotary angles of every step at once (positions advance by one per step), step-major so that a
        # step's are one index away. rotate_half(x) * sin == swap_halves(x) * sin with its first half negated.
        steps = positions + torch.arange(max_new_tokens, device=positions.device)
        probe = kv[0][0].new_empty((rows, max_new_tokens, 1))  # the rotary embedding reads only dtype/device
        cos, sin = decoder.rotary_emb(probe, steps)  # [rows, T, d]
        half = sin.shape[-1] // 2
        sin = torch.cat([-sin[..., :half], sin[..., half:]], dim=-1)
        self.cos, self.sin = (t.transpose(0, 1).unsqueeze(2).contiguous() for t in (cos, sin))  # [T, rows, 1, d]
        budget = [FUSE_MAX_BYTES]
        with torch.no_grad():
            fused = functools.partial(_fused, budget=budget, rows=rows)
            self.qkv = [fused([l.self_attn.q_proj, l.self_attn.k_proj, l.self_attn.v_proj]) for l in layers]
            self.gate_up = [fused([l.mlp.gate_proj, l.mlp.up_proj]) for l in layers]
            self.out = [fused([l.self_attn.o_proj]) or l.self_attn.o_proj for l in layers]
            self.down = [fused([l.mlp.down_proj]) or l.mlp.down_proj for l in layers]
            head = base.get_output_embeddings()
            self.head = fused([head]) or head
        self.norms = [(_norm(l.input_layernorm), _norm(l.post_attention_layernorm)) for l in layers]
        self.final_norm = _norm(decoder.norm)

    def step(self, token: torch.Tensor) -> torch.Tensor:
        """Logits [rows, vocab] after feeding ``token`` [rows] at the next position of every row."""
        hidden = self.decoder.embed_tokens(token)  # [rows, H]: one position, so no sequence dimension
        at, s = self.length, self.steps
        cos, sin = self.cos[s], self.sin[s]
        self.length, self.steps = at + 1, s + 1
        for i, layer in enumerate(self.layers):
            attn_norm, mlp_norm = self.norms[i]
            hidden = _add(self.out[i], self._attention(i, layer.self_attn, attn_norm(hidden), cos, sin, at), hidden)
            hidden = _add(self.down[i], self._mlp(i, layer.mlp, mlp_norm(hidden)), hidden)
        return self.head(self.final_norm(hidden))

    def _mlp(self, i: int, mlp, x) -> torch.Tensor:
        """The gated activation, before the down projection."""
        if self.gate_up[i] is None:
            return mlp.act_fn(mlp.gate_proj(x)) * mlp.up_proj(x)
        gate, up = self.gate_up[i](x).split(self.gate_up[i].sizes, dim=-1)
        return mlp.act_fn(gate) * up

    def _attention(self, i: int, attn, x, cos, sin, at: int) -> torch.Tensor:
        """Attention over the prefix and this position, before the output projection: [rows, heads * d]."""
        kbuf, vbuf = self.keys[i], self.values[i]
        rows, kv_heads, total, dim = kbuf.shape
        if self.qkv[i] is None:
            q, k, v = attn.q_proj(x), attn.k_proj(x), attn.v_proj(x)
            qk = torch.cat([q, k], dim=-1)
        else:
            qkv = self.qkv[i](x)
            qk, v = qkv[:, :-kv_heads * dim], qkv[:, -kv_heads * dim:]
        qk = qk.view(rows, -1, dim)  # [rows, heads + kv_heads, d]: query heads, then key heads
        heads = qk.shape[1] - kv_heads
        if hasattr(attn, "q_norm"):  # Qwen3: RMSNorm over each head before the rotation
            qk = torch.cat([attn.q_norm(qk[:, :heads]), attn.k_norm(qk[:, heads:])], dim=1)
        # one rotation for the query and key heads together: x * cos + rotate_half(x) * sin
        qk = torch.addcmul(qk * cos, qk.view(rows, -1, 2, dim // 2).flip(2).view(rows, -1, dim), sin)
        kbuf[:, :, at] = qk[:, heads:]
        vbuf[:, :, at] = v.view(rows, kv_heads, dim)
        # GQA without copying the cache: the query heads sharing a KV head become that head's query rows.
        q = qk[:, :heads].reshape(rows * kv_heads, heads // kv_heads, dim)
        keys = kbuf.view(rows * kv_heads, total, dim)[:, :at + 1]
        values = vbuf.view(rows * kv_heads, total, dim)[:, :at + 1]
        scores = torch.baddbmm(self.bias[..., :at + 1], q, keys.transpose(1, 2), alpha=attn.scaling)
        probs = scores.softmax(dim=-1, dtype=torch.float32).to(q.dtype)
        return torch.bmm(probs, values).view(rows, heads * dim)  # [rows * kv_heads, group, d] is [rows, heads, d]


class _Linear:
    """x [rows, in] -> x @ W.T + b for one plain float linear map, or several side by side (one matmul,
    on a concatenated copy of their weights); on the CPU through MKL's packed weights where that applies."""

    def __init__(self, weights: list[torch.Tensor], biases: list, budget: list[int], rows: int):
        self.sizes = [w.shape[0] for w in weights]
        self.weight = weights[0]
        nbytes = sum(w.numel() for w in weights) * self.weight.element_size()  # of a copy, fused or packed
        if len(weights) > 1:
            _spend(budget, nbytes)
            self.weight = torch.cat(weights)
        self.bias = None
        if any(b is not None for b in biases):
            self.bias = torch.cat([b if b is not None else w.new_zeros(w.shape[0]) for w, b in zip(weights, biases)])
        self.packed = cpu_gemm.pack(self.weight, rows) if budget[0] >= nbytes else None
        if self.packed is not None:
            _spend(budget, nbytes)

    def __call__(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """x @ W.T + b, plus ``residual`` when given (added by the matmul itself)."""
        if self.packed is not None and x.shape[0] == self.packed.rows:
            out = self.packed(x, self.bias)
            return out if residual is None else out.add_(residual)
        if residual is not None and not cpu_gemm.takes(x, self.weight):
            out = torch.addmm(residual, x, self.weight.t())  # torch's matmul adds the residual itself
            return out if self.bias is None else out.add_(self.bias)
        out = cpu_gemm.linear(x, self.weight, self.bias)  # oneDNN where it applies: cpu_gemm.py
        return out if residual is None else out.add_(residual)


def _spend(budget: list[int], nbytes: int) -> None:
    budget[0] -= nbytes
    if budget[0] < 0:
        raise MemoryError


def _fused(modules, budget: list[int], rows: int) -> _Linear | None:
    """One _Linear for one or several projections of the same input when each is a plain float linear map
    (an nn.Linear, or a LoRA layer whose adapter is off or merged into it), so a step runs one matmul
    instead of several; None otherwise (4-bit layers, live adapters) or once ``budget`` bytes are spent."""
    parts = [_plain_linear(m) for m in modules]
    if any(p is None for p in parts) or len({p[0].dtype for p in parts}) != 1:
        return None
    try:
        return _Linear([w for w, _ in parts], [b for _, b in parts], budget, rows)
    except MemoryError:
        return None


def _add(projection, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """residual + projection(x), in the matmul where the projection is a _Linear."""
    if isinstance(projection, _Linear):
        return projection(x, residual)
    return residual + projection(x)


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
    if type(module) in cpu_gemm.PLAIN_LINEARS:
        return module.weight, module.bias
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:
        return None
    if isinstance(module, LoraLayer) and (module.disable_adapters or module.merged):
        return _plain_linear(module.get_base_layer())
    return None
