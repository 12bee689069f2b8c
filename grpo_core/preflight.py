"""The checks that need no model weights, run before the model loads, so a mistake costs seconds.

A run that trains to the end on data its rewards cannot read, or on prompts the model cannot take
in, reports nothing wrong and is worth nothing. So before any weights load: every prompt is text or
a list of chat messages; every column a reward needs is in the data (grpo_rewards/inputs.py);
every prompt, with the longest completion, fits the model's context (read from its config.json),
unless ``data.max_prompt_length`` says to cut long prompts, in which case the cut is announced.
"""
from __future__ import annotations

import os
import sys

from grpo_rewards.errors import ConfigError, first_line
from grpo_rewards.inputs import BATCH_ARGUMENTS

from .config import ASSETS_DIR, Config, resolve_model_path
from .data import check_prompts, encode_prompt


def check(cfg: Config, mix, splits: dict[str, list[dict]]) -> None:
    """Prompts and columns: raise ConfigError (one line) for the first problem in ``splits`` (name -> rows).
    check_lengths, which needs the tokenizer, is the caller's last check."""
    for split, rows in splits.items():
        check_prompts(rows, cfg.data.prompt, split)
    for split, rows in splits.items():
        columns = (set(rows[0]) - {cfg.data.prompt}) | set(BATCH_ARGUMENTS)
        mix.check_columns(columns, f"data.dataset {cfg.data.dataset!r} (split {split!r})")


def model_context(cfg: Config) -> int | None:
    """The number of positions the model can attend over, from its config (None when it does not say)."""
    from transformers import AutoConfig

    path = resolve_model_path(cfg.model.name)
    if cfg.model.name.startswith("builtin:") and not os.path.isdir(path):
        shipped = ", ".join(f"builtin:{n}" for n in sorted(os.listdir(ASSETS_DIR))) or "none"
        raise ConfigError(f"model.name: no built-in model {cfg.model.name!r} (grpo-core ships: {shipped})")
    try:
        config = AutoConfig.from_pretrained(path,
                                            trust_remote_code=cfg.model.trust_remote_code)
    except (OSError, ValueError, KeyError) as err:
        raise ConfigError(f"model.name: cannot read the config of {cfg.model.name!r}: {first_line(err)}") from None
    config = getattr(config, "text_config", None) or config
    context = getattr(config, "max_position_embeddings", None)
    return context if isinstance(context, int) and context > 0 else None


def check_lengths(cfg: Config, splits: dict[str, list[dict]]) -> None:
    from .model import load_tokenizer

    context = model_context(cfg)
    if context is None:
        return
    completion = max(cfg.grpo.max_completion_length, cfg.eval.max_completion_length)
    limit, cut = cfg.data.max_prompt_length, 0
    if limit is not None and limit + completion > context:
        raise ConfigError(f"data.max_prompt_length: {limit} prompt tokens + {completion} completion tokens exceed "
                          f"the model's context of {context} tokens")
    tokenizer = load_tokenizer(resolve_model_path(cfg.model.name))
    total = 0
    for split, rows in splits.items():
        for number, row in enumerate(rows):
            length = len(encode_prompt(tokenizer, row[cfg.data.prompt], cfg.data.system))
            total += 1
            if limit is not None:
                cut += length > limit
            elif length + completion > context:
                raise ConfigError(
                    f"data.prompt: row {number} of split {split!r} is {length} tokens long; with {completion} "
                    f"completion tokens that exceeds the model's context of {context} tokens: shorten it, lower "
                    f"grpo.max_completion_length, or set data.max_prompt_length to cut long prompts")
    if cut:
        print(f"grpo: {cut} of {total} prompts are longer than data.max_prompt_length = {limit} tokens; "
              f"each keeps its last {limit}", file=sys.stderr)
