"""Per-token log-probs of completion tokens only, chunked over rows so no [B, T, vocab] logits exist.

With a 150k vocabulary, B*T = 8*1024 rows of float32 logits are ~5 GB, more than the model itself on a
24 GB card. So instead of `model(...).logits` we:

1. run the backbone (the decoder without its output head) to get final hidden states [B, L, H],
2. keep only the T positions that predict completion tokens,
3. apply the output head `chunk_size` rows at a time, in float32, and reduce each chunk at once to the
   log-prob of the chosen token (and the entropy): the chunk's logits die with the chunk,
4. under autograd, when there is more than one chunk, wrap each in activation checkpointing, so the
   backward recomputes one chunk's logits at a time instead of keeping all of them alive for the whole
   backward (with a single chunk the peak is the same either way, and the recomputation is skipped).

When the rows come in groups that share a prompt (GRPO's G completions of one prompt), ``group_size`` runs
each prompt through the backbone once and the G completions on copies of its KV cache, as sampling does:
the prompt's share of the work drops G-fold, forward and backward, and the gradient is the same (the
prompt's keys and values still depend on the adapter, and autograd follows them through the cache).

Works for a plain transformers causal LM and for a peft model wrapping one (LoRA layers are injected in
place into the wrapped model, so its backbone and head already carry the adapters; `disable_adapter()`
switches them off for the reference pass just as it does for the full forward).
"""

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .attention import attention_for
from .rollout import cache_keyword, returned_cache


def _backbone_and_head(model):
    """(backbone, head, config) of a causal LM, looking through a peft wrapper.

    transformers' PreTrainedModel.get_decoder() finds the decoder stack of a *ForCausalLM (e.g.
    Qwen2ForCausalLM.model) and get_output_embeddings() its lm_head, which is the adapted module if
    LoRA was put on the head too, so the adapter is used whichever layers it targets.
    """
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model   # peft -> HF model
    head = inner.get_output_embeddings()
    backbone = inner.get_decoder()
    if head is None or backbone is None or backbone is inner:
        raise TypeError(f"{type(inner).__name__} is not a causal LM with a separate output head")
    return backbone, head, inner.config


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that count only real tokens: 0 at each row's first non-pad token.

    transformers 5.x decoders default to arange(L) whatever the mask says, so a left-padded prompt sees
    its positions shifted by the pad length. RoPE models are shift-invariant up to round-off, but models
    with absolute position embeddings (GPT-2) are not, and generate() itself derives positions this way
    (cumsum of the mask), so passing them keeps training log-probs aligned with sampling. The left pads
    get 0, as in generate(); nothing attends to them.
    """
    return (attention_mask.long().cumsum(dim=-1) - 1).clamp(min=0)


def _cache_usable(backbone) -> bool:
    # transformers switches the cache off inside checkpointed layers in training mode
    return not (backbone.training and getattr(backbone, "is_gradient_checkpointing", False))


def _hidden_with_shared_prompts(backbone, input_ids, attention_mask, positions, P: int, G: int):
    """Final hidden states at columns P-1 .. L-2 of every row, each group's prompt run once; None without a cache."""
    B, L = input_ids.shape
    if B % G:
        raise ValueError(f"group_size={G} does not divide the {B} rows")
    first = slice(None, None, G)
    for part in (input_ids[:, :P], attention_mask[:, :P]):
        if not torch.equal(part.view(B // G, G, P), part[first].unsqueeze(1).expand(B // G, G, P)):
            raise ValueError(f"rows of a group of {G} do not share their first {P} columns (the prompt)")
    prompt = backbone(input_ids=input_ids[first, :P], attention_mask=attention_mask[first, :P],
                      position_ids=positions[first, :P], use_cache=True)
    cache = returned_cache(prompt)
    if cache is None or not hasattr(cache, "batch_repeat_interleave"):
        return None
    # the last prompt column predicts the first completion token; every group member starts from it
    last = prompt.last_hidden_state[:, -1:, :].repeat_interleave(G, dim=0)
    if L - 1 == P:  # one-token completions: nothing left to run
        return last
    cache.batch_repeat_interleave(G)
    rest = backbone(input_ids=input_ids[:, P:L - 1], attention_mask=attention_mask[:, :L - 1],
                    position_ids=positions[:, P:L - 1], use_cache=True, **{cache_keyword(backbone): cache})
    return torch.cat([last, rest.last_hidden_state], dim=1)


def _chunk_logprobs(head, softcap, temperature, with_entropy, entropy_grad, hidden, targets):
    """log p(target) (and entropy) for a chunk of rows: hidden [R, H], targets [R]. float32 inside."""
    logits = head(hidden).float()
    if softcap:  # e.g. Gemma 2/3 squash logits with tanh inside their forward; mirror it
        logits = torch.tanh(logits / softcap) * softcap
    if temperature != 1.0:
        logits = logits / temperature          # score the distribution that was sampled from
    # log_softmax keeps one [rows, vocab] tensor for its backward and its gradient is one fused pass
    # (measured 2.4x faster forward + backward than logsumexp and gather on the logits)
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    if not with_entropy:
        return logp, None
    # H = -sum p log p. Unless an entropy bonus needs its gradient, entropy is only logged (or masks tokens):
    # computed without a graph, so the backward keeps no extra [rows, vocab] buffers for it (gigabytes at a
    # 150k vocabulary).
    with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
        entropy = -(logp_all.exp() * logp_all).sum(dim=-1)
    return logp, entropy


def completion_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                        completion_length: int, *, temperature: float = 1.0, chunk_size: int = 1024,
                        with_entropy: bool = False, entropy_grad: bool = False, group_size: int = 1):
    """Log-probs (and optionally entropies) of the completion tokens.

    input_ids / attention_mask: [B, P + T], a left-padded prompt of uniform length P followed by the
    completion of T = completion_length tokens, right-padded. The completion occupies the last T positions.

    Returns (logp [B, T], entropy [B, T] or None), float32, where
      logp[b, t]    = log softmax(logits[b, P + t - 1] / temperature)[input_ids[b, P + t]]
      entropy[b, t] = entropy of that same tempered next-token distribution (with a gradient only when
                      entropy_grad is set: an entropy bonus in the loss; else it is a metric).
    Padding positions of the completion get values too (of the pad token); the loss masks them.

    Gradients flow to whatever in the model requires grad (e.g. LoRA weights) when grad is enabled.
    chunk_size bounds the rows given to the output head at once: peak logits memory is
    chunk_size * vocab * 4 bytes, in the forward and in the backward.
    group_size: rows ``g*group_size .. (g+1)*group_size - 1`` share their prompt (the first P columns, ids and
    mask), which is then run once per group; a ValueError if they do not. Without a usable KV cache
    (activation checkpointing in training mode turns it off) every row runs whole, with the same result.
    """
    B, L = input_ids.shape
    T = completion_length
    if not 0 < T < L:
        raise ValueError(f"completion_length={T} must be in [1, {L - 1}] for inputs of length {L}")
    backbone, head, config = _backbone_and_head(model)
    positions = position_ids_from_mask(attention_mask)
    # the hidden state at position i predicts token i + 1: positions L-T-1 .. L-2 predict the completion
    hidden = None
    cache_usable = _cache_usable(backbone)
    with attention_for(model, backbone, config, input_ids.device, B, L, checkpointing=not cache_usable):
        if group_size > 1 and cache_usable:
            hidden = _hidden_with_shared_prompts(backbone, input_ids, attention_mask, positions, L - T, group_size)
        if hidden is None:
            out = backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                           use_cache=False)
            hidden = out.last_hidden_state[:, L - T - 1:L - 1, :]
    hidden = hidden.reshape(B * T, hidden.shape[-1])
    targets = input_ids[:, L - T:].reshape(B * T)
    softcap = getattr(config, "final_logit_softcapping", None)

    def run(h, y):
        return _chunk_logprobs(head, softcap, temperature, with_entropy, entropy_grad, h, y)

    # checkpoint only pays when there is a backward to save memory for, and more than one chunk to save it on
    grad = torch.is_grad_enabled() and (hidden.requires_grad or any(p.requires_grad for p in head.parameters()))
    grad = grad and B * T > chunk_size
    logps, ents = [], []
    for start in range(0, B * T, chunk_size):
        h, y = hidden[start:start + chunk_size], targets[start:start + chunk_size]
        lp, ent = checkpoint(run, h, y, use_reentrant=False) if grad else run(h, y)
        logps.append(lp)
        ents.append(ent)
    logp = torch.cat(logps).view(B, T)
    entropy = torch.cat(ents).view(B, T) if with_entropy else None
    return logp, entropy
