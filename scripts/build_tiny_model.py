#!/usr/bin/env python
"""Build the tiny arithmetic model shipped in ``grpo_core/assets/tiny-arith``.

It is a standard Hugging Face Llama (``LlamaConfig`` + ``AutoModelForCausalLM.from_config``) with a
character-level tokenizer built with the ``tokenizers`` library. Its supervised warm-up, on problems
from the ``train`` split of ``grpo_core.tasks.arithmetic`` only, has two phases:

1. true sums, until the model has learned two-digit addition with carries;
2. a *sloppy teacher*: each target is, with probability ``--slip`` (0.75), the sum written column by
   column with every carry dropped (57 + 24 -> 71), the classic pupil's mistake, else the true sum.

The result always answers in the expected format and computes both the right and the sloppy sum, but
prefers the sloppy one, so greedy decoding is right only on problems without carries (a minority),
while sampling finds the right answer often. That is the situation GRPO with a verifier reward is
made for: it shifts the preference to the right answer, which generalises to held-out problems at
once, so ``grpo train`` shows a large accuracy gain on the ``test`` split within a CPU-sized budget.
(A model that is merely under-trained on true sums does not work for this: its errors are not one
shared preference but missing skill, which a few dozen policy-gradient steps cannot teach.)

Conversation format (the tokenizer's chat template)::

    <s><|system|>SYSTEM<|user|>What is 57 + 24?<|assistant|><answer>81</answer></s>

The system turn is optional (the warm-up uses none). ``<|system|>``, ``<|user|>`` and
``<|assistant|>`` are special tokens; ``<answer>`` and ``</answer>`` are ordinary single tokens (so
they survive ``decode(..., skip_special_tokens=True)``); every other character is its own token.
The assistant turn ends with the EOS token ``</s>``. A completion is ``<answer>`` + digits +
``</answer>`` + EOS: at most 6 tokens for two-digit addition.

Usage::

    HF_HUB_OFFLINE=1 python scripts/build_tiny_model.py            # writes grpo_core/assets/tiny-arith

Deterministic for a given torch version and thread count (CPU, seeded). Runs in a few minutes on 2 cores.
"""
import argparse
import math
import os
import random
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoModelForCausalLM, GenerationConfig, LlamaConfig, PreTrainedTokenizerFast

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from grpo_core.tasks import arithmetic  # noqa: E402

DEFAULT_OUT = REPO / "grpo_core" / "assets" / "tiny-arith"

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
TAG_TOKENS = ["<answer>", "</answer>"]
CHARS = [chr(i) for i in range(32, 127)] + ["\n", "\t"]

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('tiny-arith chat template: unknown role ' + message['role']) }}"
    "{% endif %}"
    "<|{{ message['role'] }}|>{{ message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tokenizer():
    specials = [PAD, BOS, EOS, UNK] + ROLE_TOKENS
    vocab = {tok: i for i, tok in enumerate(specials + TAG_TOKENS + CHARS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")  # one token per character
    backend.decoder = decoders.Fuse()  # join characters back without separators
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        chat_template=CHAT_TEMPLATE, padding_side="left", model_max_length=256,
    )
    return tokenizer


def build_model(tokenizer, *, hidden=128, layers=3, heads=4, intermediate=None, seed=0):
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=intermediate or 4 * hidden,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=256, rope_theta=10000.0, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32)


def prompt_ids(tokenizer, prompts, system=None):
    out = []
    for p in prompts:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": p}]
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        out.append(tokenizer(text, add_special_tokens=False)["input_ids"])
    return out


def completion_text(answer):
    return f"<answer>{answer}</answer>"


_SUM = re.compile(r"What is (\d+) \+ (\d+)\?")


def no_carry_sum(prompt):
    """The classic slip: add column by column and drop every carry (57 + 24 -> 71, 72 + 47 -> 19)."""
    a, b = (int(x) for x in _SUM.fullmatch(prompt).groups())
    digits, place = 0, 1
    while a or b:
        digits += ((a % 10 + b % 10) % 10) * place
        a, b, place = a // 10, b // 10, place * 10
    return str(digits)


def sft_batch(tokenizer, rows, slip=0.0, rng=None):
    """Right-padded input ids, attention mask and labels (-100 outside the completion + EOS).

    With probability ``slip`` a row's target is the no-carry sum instead of the true one.
    """
    prompts = prompt_ids(tokenizer, [r["prompt"] for r in rows])
    seqs, labels = [], []
    for p, r in zip(prompts, rows):
        answer = no_carry_sum(r["prompt"]) if slip and rng.random() < slip else r["answer"]
        c = tokenizer(completion_text(answer), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        seqs.append(p + c)
        labels.append([-100] * len(p) + c)
    width = max(map(len, seqs))
    pad = tokenizer.pad_token_id
    ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
    lab = torch.tensor([l + [-100] * (width - len(l)) for l in labels])
    return ids, mask, lab


@torch.no_grad()
def greedy_completions(model, tokenizer, prompts, max_new_tokens=8, batch_size=256):
    model.eval()
    texts = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompt_ids(tokenizer, prompts[start:start + batch_size])
        width = max(map(len, chunk))
        pad = tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(c)) + c for c in chunk])
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in chunk])
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=max_new_tokens,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=pad)
        texts += tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    return texts


def score(completions, answers):
    """(accuracy, format rate): exact integer inside a well-formed ``<answer>..</answer>``."""
    fmt = re.compile(r"^<answer>(-?\d+)</answer>$")
    right = well = 0
    for c, a in zip(completions, answers):
        m = fmt.match(c.strip())
        well += bool(m)
        right += bool(m) and m.group(1) == a
    return right / max(len(answers), 1), well / max(len(answers), 1)


def evaluate(model, tokenizer, rows):
    return score(greedy_completions(model, tokenizer, [r["prompt"] for r in rows]), [r["answer"] for r in rows])


def warmup(model, tokenizer, *, steps, batch_size, lr, seed, slip=0.0, log_every=50, eval_rows=None, callback=None):
    torch.manual_seed(seed)
    rng = random.Random(f"tiny-arith warm-up slips/{seed}")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0, betas=(0.9, 0.98))
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    t0 = time.time()
    for step in range(steps):
        model.train()
        rows = arithmetic.generate("train", seed=seed * 1_000_003 + step, n=batch_size)
        ids, mask, labels = sft_batch(tokenizer, rows, slip, rng)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if (step + 1) % log_every == 0 or step + 1 == steps:
            msg = f"warm-up step {step + 1}/{steps} loss {loss.item():.4f} ({time.time() - t0:.0f}s)"
            if eval_rows is not None:
                acc, fmt = evaluate(model, tokenizer, eval_rows)
                msg += f" greedy test acc {acc:.1%} format {fmt:.1%}"
            print(msg, flush=True)
            if callback is not None:
                callback(step + 1, model)
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=600, help="phase 1: steps on true answers")
    ap.add_argument("--lr", type=float, default=3e-3, help="phase 1 peak learning rate")
    ap.add_argument("--sloppy-steps", type=int, default=300, help="phase 2: steps with the sloppy teacher")
    ap.add_argument("--sloppy-lr", type=float, default=1e-3, help="phase 2 peak learning rate")
    ap.add_argument("--slip", type=float, default=0.75, help="phase 2: chance that a target drops its carries")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-seed", type=int, default=0, help="seed of the test split used to report accuracy")
    ap.add_argument("--eval-n", type=int, default=200)
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    t0 = time.time()
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, hidden=args.hidden, layers=args.layers, heads=args.heads, seed=args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: Llama {args.layers} layers, hidden {args.hidden}, {n_params:,} parameters; vocab {len(tokenizer)}")
    eval_rows = arithmetic.generate("test", seed=args.eval_seed, n=args.eval_n)
    print(f"phase 1: {args.steps} steps on true sums")
    warmup(model, tokenizer, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
           log_every=args.log_every, eval_rows=eval_rows)
    print(f"phase 2: {args.sloppy_steps} steps with a sloppy teacher that drops the carries "
          f"{args.slip:.0%} of the time")
    warmup(model, tokenizer, steps=args.sloppy_steps, batch_size=args.batch_size, lr=args.sloppy_lr,
           seed=args.seed + 1, slip=args.slip, log_every=args.log_every, eval_rows=eval_rows)

    completions = greedy_completions(model, tokenizer, [r["prompt"] for r in eval_rows])
    acc, fmt = score(completions, [r["answer"] for r in eval_rows])
    slips = sum(c.strip() == completion_text(no_carry_sum(r["prompt"])) and no_carry_sum(r["prompt"]) != r["answer"]
                for c, r in zip(completions, eval_rows)) / len(eval_rows)

    args.out.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, max_new_tokens=16)
    model.save_pretrained(args.out, safe_serialization=True)
    tokenizer.save_pretrained(args.out)
    size = sum(f.stat().st_size for f in args.out.iterdir() if f.is_file())
    print(f"warm-up done in {time.time() - t0:.0f}s: greedy accuracy {acc:.1%}, format {fmt:.1%}, "
          f"carry dropped {slips:.1%} on {len(eval_rows)} test-split problems (seed {args.eval_seed})")
    print(f"wrote {args.out} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
