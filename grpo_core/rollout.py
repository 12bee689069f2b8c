"""Group sampling: G completions for each of B prompts, with each prompt run through the model only once.

The B distinct prompts are left-padded into one prefill forward; its KV cache is then repeated G times along
the batch so the B*G samples decode from shared prompt state. Decoding is a plain token-by-token loop over
that cache: it is short, and owning it keeps the prompt from ever being recomputed and the sampling exactly
seeded by one ``torch.Generator``. Each decode step goes through decode.py's lean step where the model's
architecture allows it, else through the model's forward.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch

from .decode import LeanDecoder


@dataclass
class Rollout:
    """B*G sampled sequences; rows ``b*G .. b*G+G-1`` are the group of prompt ``b``. All tensors on the model's device."""

    input_ids: torch.Tensor  # [B*G, P+T] left-padded prompt, then completion right-padded with pad id
    attention_mask: torch.Tensor  # [B*G, P+T] prompt mask, then completion_mask
    prompt_length: int  # P: padded prompt width; completions start at this column
    completion_ids: torch.Tensor  # [B*G, T], T = longest completion in the batch
    completion_mask: torch.Tensor  # [B*G, T] 1 on generated tokens up to and including the EOS
    truncated: torch.Tensor  # [B*G] bool: reached max_new_tokens without an EOS
    completion_lengths: torch.Tensor  # [B*G] long: generated tokens, EOS included
    num_generations: int  # G
    # Filled by a backend that samples with weights of its own (generation/vllm.py), None otherwise:
    sampler_logprobs: torch.Tensor | None = None  # [B*G, T] float32: the sampler's log-prob of each token
    adapter_versions: list[int] | None = None  # [B*G]: training steps the sampling adapter had seen

    @property
    def num_prompts(self) -> int:
        return self.completion_ids.shape[0] // self.num_generations

    def decode(self, tokenizer, skip_special_tokens: bool = True) -> list[str]:
        """Completion texts, one per row, without the closing EOS and (by default) other special tokens."""
        lengths = self.completion_lengths.tolist()
        truncated = self.truncated.tolist()
        ids = self.completion_ids.tolist()
        # A finished row ends in its EOS; drop it explicitly, since some tokenizers do not mark EOS as special.
        rows = [row[: n if cut else n - 1] for row, n, cut in zip(ids, lengths, truncated)]
        return tokenizer.batch_decode(rows, skip_special_tokens=skip_special_tokens)


def _base_model(model):
    """The transformers model under a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def eos_token_ids_of(model, tokenizer) -> list[int]:
    """Every id that ends a completion: the tokenizer's EOS plus the generation config's (chat models list several)."""
    ids: list[int] = []
    candidates = [getattr(tokenizer, "eos_token_id", None)]
    generation_config = getattr(_base_model(model), "generation_config", None)
    if generation_config is not None:
        candidates.append(generation_config.eos_token_id)
    for value in candidates:
        for token in value if isinstance(value, (list, tuple)) else [value]:
            if token is not None and token not in ids:
                ids.append(int(token))
    return ids


def _forward_extras(model) -> dict:
    # Only the last position's logits are needed; computing [batch, P, vocab] at prefill would dwarf the cache.
    params = inspect.signature(_base_model(model).forward).parameters
    return {"logits_to_keep": 1} if "logits_to_keep" in params else {}


def cache_keyword(module) -> str:
    """The keyword ``module``'s forward takes a KV cache by: ``cache`` from transformers 5.25 (which warns on
    the old name), ``past_key_values`` before."""
    return "cache" if "cache" in inspect.signature(module.forward).parameters else "past_key_values"


def returned_cache(out):
    """The KV cache in a forward's output, under either name (see ``cache_keyword``)."""
    return out.cache if "cache" in getattr(out, "__dataclass_fields__", ()) else out.past_key_values


def _left_pad(prompt_ids: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompt_ids)
    ids = torch.full((len(prompt_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompt_ids), width), dtype=torch.long)
    for row, prompt in enumerate(prompt_ids):
        if prompt:
            ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
    return ids.to(device), mask.to(device)


def penalize_repeats(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL's repetition penalty (Keskar et al. 2019), as transformers applies it: the logit of every token
    already in the prompt or the completion is divided by ``penalty`` when positive, multiplied when negative."""
    return torch.where(seen, torch.where(logits > 0, logits / penalty, logits * penalty), logits)


def warp(logits: torch.Tensor, *, temperature: float, top_k: int, top_p: float, min_p: float) -> torch.Tensor:
    """Sampling filters on float logits [N, V], in transformers' order: temperature, top-k, top-p, min-p."""
    if temperature != 1.0:
        logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the tokens ranked above it already cover top_p; the first one always stays.
        drop = probs.cumsum(dim=-1) - probs > top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.empty_like(logits).scatter_(-1, order, sorted_logits)
    if min_p > 0:
        # min-p sampling (Nguyen et al. 2024, arXiv:2407.01082): keep tokens at least min_p x the top one's
        # probability; the top token itself always stays
        probs = logits.softmax(dim=-1)
        logits = logits.masked_fill(probs < min_p * probs.amax(dim=-1, keepdim=True), float("-inf"))
    return logits


def _next_tokens(
    logits: torch.Tensor,
    *,
    ban: torch.Tensor | None,
    temperature: float,
    top_k: int,
    top_p: float,
    generator: torch.Generator | None,
    min_p: float = 0.0,
    repetition_penalty: float = 1.0,
    seen: torch.Tensor | None = None,
    uniforms: torch.Tensor | None = None,
) -> torch.Tensor:
    """One token per row from last-position logits [N, V]: greedy at temperature 0, else sampled (from
    ``uniforms`` [N, 1] when given, else from ``generator``)."""
    logits = logits.float()  # softmax and cumulative sums in bf16 would bias the sampled distribution
    if seen is not None:
        logits = penalize_repeats(logits, seen, repetition_penalty)
    if ban is not None:  # EOS before min_new_tokens
        logits = logits.index_fill(-1, ban, float("-inf"))
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = warp(logits, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
    return _inverse_cdf_sample(logits.softmax(dim=-1), generator, uniforms)


def _inverse_cdf_sample(probs: torch.Tensor, generator: torch.Generator | None,
                        uniforms: torch.Tensor | None = None) -> torch.Tensor:
    """One draw per row of ``probs`` [N, V] by inverting the cumulative distribution.

    One uniform number per row, where ``torch.multinomial`` draws one exponential per vocabulary entry: on
    the CPU that was a fifth of the whole decode loop. The draw is scaled by the row's total, so round-off
    in the softmax does not bias the last tokens, and a token of probability zero (banned, filtered) can
    only come out of a rounding accident at the very top of the range: such a row takes its argmax instead.
    """
    cdf = probs.cumsum(dim=-1)
    device = generator.device if generator is not None else probs.device
    # A generator must live where it samples; with a CPU generator and a GPU model this is an [N, 1] copy.
    u = uniforms if uniforms is not None else torch.rand((probs.shape[0], 1), generator=generator, device=device)
    u = u.to(cdf.device, cdf.dtype)
    tokens = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp_(max=probs.shape[-1] - 1).squeeze(-1)
    accident = probs.gather(-1, tokens[:, None]).squeeze(-1) <= 0
    if not probs.is_cpu:  # asking whether any row needs its argmax would wait for the device every step
        return torch.where(accident, probs.argmax(dim=-1), tokens)
    if bool(accident.any()):  # on the CPU the check is free and the argmax over the vocabulary is not
        tokens[accident] = probs[accident].argmax(dim=-1)
    return tokens


def _validate(prompt_ids, num_generations, max_new_tokens, min_new_tokens, temperature, top_p, top_k, min_p,
              repetition_penalty) -> None:
    if not prompt_ids or any(len(p) == 0 for p in prompt_ids):
        raise ValueError("sample_groups needs at least one prompt, and no empty prompt")
    if num_generations < 1 or max_new_tokens < 1:
        raise ValueError(f"num_generations and max_new_tokens must be >= 1, got {num_generations}, {max_new_tokens}")
    if not 0 <= min_new_tokens <= max_new_tokens:
        raise ValueError(f"min_new_tokens must be in [0, max_new_tokens], got {min_new_tokens}")
    if temperature < 0 or not 0 < top_p <= 1 or top_k < 0:
        raise ValueError(f"need temperature >= 0, 0 < top_p <= 1, top_k >= 0; got {temperature}, {top_p}, {top_k}")
    if not 0 <= min_p < 1 or repetition_penalty <= 0:
        raise ValueError(f"need 0 <= min_p < 1 and repetition_penalty > 0; got {min_p}, {repetition_penalty}")


def sample_groups(
    model,
    tokenizer,
    prompt_ids: list[list[int]],
    *,
    num_generations: int,
    max_new_tokens: int,
    min_new_tokens: int = 0,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    min_p: float = 0.0,
    repetition_penalty: float = 1.0,
    generator: torch.Generator | list[torch.Generator] | None = None,
    eos_token_ids: list[int] | int | None = None,
    finish_check_every: int | None = None,
    lean_decode: bool = True,
) -> Rollout:
    """Sample ``num_generations`` completions for each prompt (token ids, no padding) with the policy as it is.

    ``temperature=0`` decodes greedily; ``repetition_penalty`` applies to greedy decoding too, the other
    filters (top_k, top_p, min_p) only to sampling. Sampling stops at any of ``eos_token_ids`` (default: the tokenizer's
    and the generation config's EOS ids), which are banned before ``min_new_tokens``, or at ``max_new_tokens``.
    ``finish_check_every``: how many steps between checks that every row has finished; each check waits for
    the device, so on a GPU it defaults to 8 (at most 7 wasted steps at the end), on the CPU to 1 (free there).
    ``generator`` may be a list, one per prompt: each group then draws its own uniforms, up front, so that a
    prompt's completions do not depend on which other prompts share the batch (seeds.prompt_generators).
    """
    _validate(prompt_ids, num_generations, max_new_tokens, min_new_tokens, temperature, top_p, top_k, min_p,
              repetition_penalty)
    # Inference mode, not just no_grad: no version counters or view tracking on the decode loop's ~100 small
    # ops a token, which on the CPU took a tenth off the loop. Its tensors cannot be saved for a backward, so
    # what the training passes take leaves as ordinary copies.
    with torch.inference_mode():
        prompt, prompt_mask, tokens, generated, finished = _decode(
            model, tokenizer, prompt_ids, num_generations, max_new_tokens, min_new_tokens,
            dict(temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p, repetition_penalty=repetition_penalty),
            generator, eos_token_ids, finish_check_every, lean_decode)
    prompt, prompt_mask, tokens, generated, finished = (t.clone() for t in (prompt, prompt_mask, tokens, generated,
                                                                            finished))
    G = num_generations
    lengths = generated.sum(dim=1)
    longest = int(lengths.max())
    completion_ids = tokens[:, :longest]
    completion_mask = generated[:, :longest].long()
    return Rollout(
        input_ids=torch.cat([prompt.repeat_interleave(G, dim=0), completion_ids], dim=1),
        attention_mask=torch.cat([prompt_mask, completion_mask], dim=1),
        prompt_length=prompt.shape[1],
        completion_ids=completion_ids,
        completion_mask=completion_mask,
        truncated=~finished,
        completion_lengths=lengths,
        num_generations=G,
    )


def _decode(model, tokenizer, prompt_ids, G, max_new_tokens, min_new_tokens, sampling, generator, eos_token_ids,
            finish_check_every, lean_decode):
    """The decode loop: (prompt, its mask repeated G-fold, tokens, generated, finished) as sample_groups
    describes them."""
    temperature, repetition_penalty = sampling["temperature"], sampling["repetition_penalty"]
    base = _base_model(model)
    device = base.device
    if eos_token_ids is None:
        eos_token_ids = eos_token_ids_of(model, tokenizer)
    eos_list = [eos_token_ids] if isinstance(eos_token_ids, int) else list(eos_token_ids)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_list[0]
    eos = torch.tensor(eos_list, dtype=torch.long, device=device)
    if finish_check_every is None:
        finish_check_every = 1 if device.type == "cpu" else 8
    extras = _forward_extras(model)
    cache_name = cache_keyword(base)
    uniforms = None
    if isinstance(generator, (list, tuple)):
        if len(generator) != len(prompt_ids):
            raise ValueError(f"{len(generator)} generators for {len(prompt_ids)} prompts")
        uniforms = None if temperature == 0 else torch.cat(
            [torch.rand((G, max_new_tokens), generator=g, device=g.device) for g in generator]).to(device)
        generator = None

    prompt, prompt_mask = _left_pad(prompt_ids, pad_id, device)
    width = prompt.shape[1]
    # Positions count real tokens only, so a left-padded prompt is positioned exactly as it would be alone.
    positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)

    was_training = model.training
    if was_training:  # each switch walks every module: ~0.9 ms on the benchmark's policy
        model.eval()  # no dropout, and no checkpointing (which would drop the cache)
    try:
        # The only pass over the prompts: B rows, not B*G.
        out = model(input_ids=prompt, attention_mask=prompt_mask, position_ids=positions, use_cache=True, **extras)
        cache = returned_cache(out)
        cache.batch_repeat_interleave(G)  # rows b*G..b*G+G-1 now share prompt b's keys and values
        logits = out.logits[:, -1, :].repeat_interleave(G, dim=0)
        del out

        rows = prompt.shape[0] * G
        prompt_mask = prompt_mask.repeat_interleave(G, dim=0)
        next_position = positions[:, -1:].repeat_interleave(G, dim=0) + 1
        lean = LeanDecoder.start(base, cache, prompt_mask, next_position, max_new_tokens) if lean_decode else None
        if lean is not None:
            del cache  # its keys and values now live in the lean decoder's buffers
        # Through the model's forward every decode step attends to the whole prefix; a finished row's padding
        # is never read back, so the completion columns can stay 1 for the model (the returned mask is exact).
        decode_mask = None if lean is not None else torch.cat(
            [prompt_mask, prompt_mask.new_ones(rows, max_new_tokens)], dim=1)
        tokens = torch.full((rows, max_new_tokens), pad_id, dtype=torch.long, device=device)
        generated = torch.zeros((rows, max_new_tokens), dtype=torch.bool, device=device)
        finished = torch.zeros(rows, dtype=torch.bool, device=device)
        seen = None  # [rows, vocab] tokens so far (prompt included), only when a repetition penalty needs them
        if repetition_penalty != 1.0:
            seen = torch.zeros((rows, logits.shape[-1]), device=device)
            seen.scatter_add_(1, prompt.repeat_interleave(G, dim=0), prompt_mask.to(seen.dtype))
            seen = seen > 0

        for step in range(max_new_tokens):
            token = _next_tokens(
                logits,
                ban=eos if step < min_new_tokens else None,
                generator=generator,
                seen=seen,
                uniforms=None if uniforms is None else uniforms[:, step:step + 1],
                **sampling,
            )
            alive = ~finished
            token = torch.where(alive, token, pad_id)
            tokens[:, step] = token
            generated[:, step] = alive
            finished = finished | (alive & torch.isin(token, eos))
            if seen is not None:
                seen[torch.arange(rows, device=device), token] = True
            if step + 1 == max_new_tokens:
                break
            if (step + 1) % finish_check_every == 0 and bool(finished.all()):
                break
            if lean is not None:
                logits = lean.step(token)
            else:
                logits = model(input_ids=token[:, None], attention_mask=decode_mask[:, : width + step + 1],
                               position_ids=next_position, use_cache=True, **{cache_name: cache},
                               **extras).logits[:, -1, :]
            next_position = next_position + 1
    finally:
        if was_training:
            model.train()
    return prompt, prompt_mask, tokens, generated, finished
