"""Per-token log-probs of completion tokens only, chunked over rows so no [B, T, vocab] logits exist.

With a 150k vocabulary, B*T = 8*1024 rows of float32 logits are ~5 GB, more than the model itself on a
24 GB card. So instead of `model(...).logits` we:

1. run the backbone (the decoder without its output head) to get final hidden states [B, L, H],
2. keep only the T positions that predict completion tokens,
3. apply the output head `chunk_size` rows at a time, in float32, and reduce each chunk at once to the
   log-prob of the chosen token (and the entropy): the chunk's logits die with the chunk,
4. under autograd wrap each chunk in activation checkpointing, so the backward recomputes one chunk's
   logits at a time instead of keeping all of them alive for the whole backward.

Works for a plain transformers causal LM and for a peft model wrapping one (LoRA layers are injected in
place into the wrapped model, so its backbone and head already carry the adapters; `disable_adapter()`
switches them off for the reference pass just as it does for the full forward).
"""

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


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


def _chunk_logprobs(head, softcap, temperature, with_entropy, hidden, targets):
    """log p(target) (and entropy) for a chunk of rows: hidden [R, H], targets [R]. float32 inside."""
    logits = head(hidden).float()
    if softcap:  # e.g. Gemma 2/3 squash logits with tanh inside their forward; mirror it
        logits = torch.tanh(logits / softcap) * softcap
    logits = logits / temperature              # score the distribution that was sampled from
    lse = torch.logsumexp(logits, dim=-1)
    logp = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - lse
    if not with_entropy:
        return logp, None
    # H = -sum p log p = lse - sum p * logits. Entropy is only logged: computed without a graph, so the
    # backward keeps no [rows, vocab] softmax buffers for it (gigabytes at a 150k vocabulary).
    with torch.no_grad():
        entropy = lse - (torch.softmax(logits, dim=-1) * logits).sum(dim=-1)
    return logp, entropy


def completion_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                        completion_length: int, *, temperature: float = 1.0, chunk_size: int = 1024,
                        with_entropy: bool = False):
    """Log-probs (and optionally entropies) of the completion tokens.

    input_ids / attention_mask: [B, P + T], a left-padded prompt of uniform length P followed by the
    completion of T = completion_length tokens, right-padded. The completion occupies the last T positions.

    Returns (logp [B, T], entropy [B, T] or None), float32, where
      logp[b, t]    = log softmax(logits[b, P + t - 1] / temperature)[input_ids[b, P + t]]
      entropy[b, t] = entropy of that same tempered next-token distribution (no gradient: it is a metric).
    Padding positions of the completion get values too (of the pad token); the loss masks them.

    Gradients flow to whatever in the model requires grad (e.g. LoRA weights) when grad is enabled.
    chunk_size bounds the rows given to the output head at once: peak logits memory is
    chunk_size * vocab * 4 bytes, in the forward and in the backward.
    """
    B, L = input_ids.shape
    T = completion_length
    if not 0 < T < L:
        raise ValueError(f"completion_length={T} must be in [1, {L - 1}] for inputs of length {L}")
    backbone, head, config = _backbone_and_head(model)
    out = backbone(input_ids=input_ids, attention_mask=attention_mask,
                   position_ids=position_ids_from_mask(attention_mask), use_cache=False)
    # the hidden state at position i predicts token i + 1: positions L-T-1 .. L-2 predict the completion
    hidden = out.last_hidden_state[:, L - T - 1:L - 1, :]
    hidden = hidden.reshape(B * T, hidden.shape[-1])
    targets = input_ids[:, L - T:].reshape(B * T)
    softcap = getattr(config, "final_logit_softcapping", None)

    def run(h, y):
        return _chunk_logprobs(head, softcap, temperature, with_entropy, h, y)

    # checkpoint only pays when there is a backward to save memory for
    grad = torch.is_grad_enabled() and (hidden.requires_grad or any(p.requires_grad for p in head.parameters()))
    logps, ents = [], []
    for start in range(0, B * T, chunk_size):
        h, y = hidden[start:start + chunk_size], targets[start:start + chunk_size]
        lp, ent = checkpoint(run, h, y, use_reentrant=False) if grad else run(h, y)
        logps.append(lp)
        ents.append(ent)
    logp = torch.cat(logps).view(B, T)
    entropy = torch.cat(ents).view(B, T) if with_entropy else None
    return logp, entropy
