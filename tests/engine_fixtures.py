"""Tiny models for engine tests: a random Qwen2-architecture causal LM with its own character-level
tokenizer and chat template, saved to disk and loaded back through the same from_pretrained path a
hub model takes."""
from __future__ import annotations

import json
import string
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def make_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<eos>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
    chars = list(string.ascii_letters + string.digits + string.punctuation + " \n")
    vocab = {tok: i for i, tok in enumerate(specials + chars)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                   additional_special_tokens=specials[2:])
    fast.chat_template = CHAT_TEMPLATE
    return fast


def make_tiny_model(path: Path, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    tokenizer = make_tokenizer()
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    return _save_random(AutoModelForCausalLM, config, tokenizer, path, seed)


def write_dataset(path: Path, n: int = 16) -> Path:
    rows = [{"question": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def config_text(model_dir: Path, dataset: Path, out: Path, **overrides) -> str:
    """A small training config for the tiny model; ``overrides`` as {"section.key": toml_value_text}."""
    sections = {
        "model": {"name": json.dumps(str(model_dir))},
        "data": {"dataset": json.dumps(str(dataset)), "prompt": '"question"', "eval_limit": "4",
                 "system": '"Answer."'},
        "grpo": {"num_generations": "4", "prompts_per_step": "2", "max_completion_length": "8",
                 "temperature": "1.0"},
        "train": {"steps": "2", "learning_rate": "1e-3", "output_dir": json.dumps(str(out)), "save_every": "1",
                  "seed": "0", "log_completions": "2"},
    }
    for key, value in overrides.items():
        section, name = key.split(".")
        sections.setdefault(section, {})[name] = value
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {v}" for k, v in values.items()]
        lines.append("")
    lines += ['[[rewards]]', 'use = "format.length"', 'options = { max = 4 }', '',
              '[[rewards]]', 'use = "format.regex"', 'weight = 0.5', 'options = { pattern = "\\\\d" }', '']
    return "\n".join(lines)


def make_tiny_reward_model(path: Path, seed: int = 0) -> Path:
    """A random Llama-architecture sequence-classification model (one score) with the chat tokenizer."""
    import torch
    from transformers import AutoModelForSequenceClassification, LlamaConfig

    tokenizer = make_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, num_labels=1,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    return _save_random(AutoModelForSequenceClassification, config, tokenizer, path, seed)


def _save_random(auto_class, config, tokenizer, path: Path, seed: int) -> Path:
    """Random weights for ``config`` (seeded), saved with ``tokenizer`` to ``path``."""
    import torch

    torch.manual_seed(seed)
    model = auto_class.from_config(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
