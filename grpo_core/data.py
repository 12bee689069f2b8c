"""Prompts: rows from a registered task, a local file, or a hub dataset, and their chat-formatted ids.

A row is a dict holding the prompt column and every other column; the other columns travel with
the completions to the rewards (``answer`` for the math verifier, for example).
"""
from __future__ import annotations

import os
import random

from grpo_rewards import plugins
from grpo_rewards.errors import ConfigError

from .config import DATA_SUFFIXES, DataConfig

_FILE_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
# A generated task makes at most this many training prompts up front; a longer run goes through them
# again, reshuffled each epoch (PromptStream), so a huge train.steps costs no time or memory at start.
MAX_GENERATED_ROWS = 10_000


def is_task(name: str, registry=None) -> bool:
    registry = registry or plugins.registry()
    return name in registry.tasks


def load_rows(data: DataConfig, split: str, *, seed: int, count: int | None = None, registry=None) -> list[dict]:
    """The rows of ``split``; a generated task makes ``count`` rows from ``seed``."""
    registry = registry or plugins.registry()
    if data.dataset in registry.tasks:
        factory = registry.tasks[data.dataset].obj
        try:
            rows = factory(split=split, seed=seed, n=count or 1000, **data.options)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"data.options: task {data.dataset!r}: {exc}") from None
    else:
        rows = _load_dataset(data, split)
        if count is not None:
            rows = rows[:count]
    if not rows:
        raise ConfigError(f"data.dataset: {data.dataset!r} split {split!r} has no rows")
    if data.prompt not in rows[0]:
        columns = ", ".join(sorted(rows[0])) or "none"
        raise ConfigError(f"data.prompt: column {data.prompt!r} is not in {data.dataset} (columns: {columns})")
    return rows


def _load_dataset(data: DataConfig, split: str) -> list[dict]:
    import datasets  # slow to import: only for file and hub datasets

    datasets.disable_progress_bars()
    source = data.dataset
    # A local file has no splits: eval_split may name a second file, else the same file serves.
    if split != data.split and split.endswith(DATA_SUFFIXES):
        source = split
    try:
        if source.endswith(DATA_SUFFIXES):
            if not os.path.exists(source):
                raise ConfigError(f"data.dataset: no such file: {source}")
            ds = datasets.load_dataset(_FILE_FORMATS[os.path.splitext(source)[1]], data_files=source, split="train")
        else:
            ds = datasets.load_dataset(source, data.subset, split=split)
    except ConfigError:
        raise
    except Exception as exc:  # offline and not cached, unknown split, unreadable file...
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"data.dataset: cannot load {source!r} (split {split!r}): {first_line}") from None
    return [dict(row) for row in ds]


def messages_for(prompt, system: str | None) -> list[dict]:
    """Chat messages for one prompt: plain text becomes a user turn; a system message is prepended."""
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list) and all(isinstance(m, dict) and "role" in m for m in prompt):
        messages = [dict(m) for m in prompt]
    else:
        raise ConfigError(f"data.prompt: expected text or a list of chat messages, got {type(prompt).__name__}")
    if system is not None and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system})
    return messages


def prompt_problem(prompt) -> str | None:
    """Why ``prompt`` cannot be a prompt (None when it can): text, or a list of chat messages."""
    if isinstance(prompt, str):
        return None
    if isinstance(prompt, list) and prompt and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m for m in prompt):
        return None
    if isinstance(prompt, list):
        return "a list that is not chat messages ({'role': ..., 'content': ...})"
    return "null" if prompt is None else f"{type(prompt).__name__} {repr(prompt)[:40]}"


def check_prompts(rows: list[dict], column: str, split: str) -> None:
    """Every row's prompt is text or chat messages: checked before the model loads, naming the row."""
    for number, row in enumerate(rows):
        problem = prompt_problem(row.get(column))
        if problem is not None:
            raise ConfigError(f"data.prompt: row {number} of split {split!r} holds {problem} in column "
                              f"{column!r}, not text or a list of chat messages")


def encode_prompt(tokenizer, prompt, system: str | None, max_length: int | None = None) -> list[int]:
    """Token ids of a prompt, through the model's chat template when it has one. With ``max_length``
    a longer prompt keeps its last ``max_length`` tokens (the question and the generation prompt)."""
    messages = messages_for(prompt, system)
    if getattr(tokenizer, "chat_template", None):
        ids = list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                 return_dict=False))
    else:
        text = "\n\n".join(m["content"] for m in messages) + "\n\n"
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    return ids[-max_length:] if max_length is not None else ids


def prompt_text(prompt) -> str:
    """A prompt as one line of text for logs: its text, or its last user turn."""
    if isinstance(prompt, str):
        return prompt
    users = [m.get("content", "") for m in prompt if m.get("role") == "user"]
    return users[-1] if users else ""


class PromptStream:
    """Training prompts in a seeded order, reshuffled each epoch; its position is checkpointed."""

    def __init__(self, rows: list[dict], seed: int):
        self.rows, self.seed = rows, seed
        self.epoch, self.index = 0, 0
        self._order = self._shuffle()

    def _shuffle(self) -> list[int]:
        order = list(range(len(self.rows)))
        random.Random(f"{self.seed}/{self.epoch}").shuffle(order)
        return order

    def take(self, n: int) -> list[dict]:
        batch = []
        while len(batch) < n:
            if self.index == len(self._order):
                self.epoch, self.index = self.epoch + 1, 0
                self._order = self._shuffle()
            batch.append(self.rows[self._order[self.index]])
            self.index += 1
        return batch

    def state(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def restore(self, state: dict) -> None:
        self.epoch, self.index = state["epoch"], state["index"]
        self._order = self._shuffle()
