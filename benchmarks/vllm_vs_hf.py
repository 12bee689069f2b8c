"""Generation throughput and whole-step time of the hf and vllm backends, in one run, on the same work.

A random Qwen2-architecture model (hidden 1024, 8 layers, 32k vocabulary, ~0.1B parameters) with a word-level
tokenizer of its own, G = 8 completions for each of 4 prompts, exactly 256 tokens each (--completion-length; min = max completion
length, so both backends generate the same number of tokens), LoRA r = 16 on every linear layer, a regex
reward that some completions of a group meet and others not (so every step trains). Each backend
runs `grpo train` for --steps steps in a fresh run directory (hf and vllm alternate when --repeats > 1); the
figures come from metrics.jsonl (generation_seconds, step_seconds) and, for vllm, the server's start time.

    python benchmarks/vllm_vs_hf.py [--steps 1] [--repeats 1] [--completion-length 256] [--vllm-python PATH]

Prints the command, the machine, the date, the load before and after, and a table. CPU only here; on a GPU
the same script measures the GPU (the trainer and a managed server share it).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB, HIDDEN, LAYERS = 32000, 1024, 8


def build_model(path: str) -> str:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, Qwen2Config

    specials = ["<pad>", "<eos>", "<|user|>", "<|assistant|>", "<|end|>"]
    vocab = {tok: i for i, tok in enumerate(specials + [f"w{i}" for i in range(VOCAB - len(specials))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                        additional_special_tokens=specials[2:])
    tokenizer.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
                               "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    config = Qwen2Config(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=2816, num_hidden_layers=LAYERS,
                         num_attention_heads=16, num_key_value_heads=4, max_position_embeddings=1024,
                         eos_token_id=1, pad_token_id=0, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def write_config(root: str, model: str, backend: str, steps: int, vllm_python: str, run: str, length: int) -> str:
    import random

    data = os.path.join(root, "prompts.jsonl")
    if not os.path.exists(data):
        rng = random.Random(0)
        with open(data, "w") as f:
            for _ in range(64):
                f.write(json.dumps({"prompt": " ".join(f"w{rng.randrange(VOCAB - 5)}" for _ in range(32))}) + "\n")
    generation = "" if backend == "hf" else f"""
[generation]
backend = "vllm"
command = {json.dumps([vllm_python, "-m", "vllm.entrypoints.openai.api_server"])}
extra_args = ["--enforce-eager"]
env = {{ VLLM_CPU_KVCACHE_SPACE = "2" }}
"""
    text = f"""
[model]
name = {json.dumps(model)}
[data]
dataset = {json.dumps(data)}
eval_limit = 1
[grpo]
num_generations = 8
prompts_per_step = 4
max_completion_length = {length}
min_completion_length = {length}
[train]
steps = {steps}
learning_rate = 1e-4
output_dir = {json.dumps(run)}
save_every = 0
[eval]
max_completion_length = 1
{generation}
[[rewards]]
use = "format.regex"
options = {{ pattern = '^\\s*w[12]' }}
"""
    path = os.path.join(root, f"{backend}-{os.path.basename(run)}.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def run_backend(config: str, run: str) -> dict:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "grpo_core.cli", "train", config, "--no-progress"],
                         capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"grpo train {config} failed:\n{out.stderr[-3000:]}")
    records = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
    ready = re.search(r"vLLM server ready at \S+ after (\d+) s", out.stderr)
    tokens = [r["completion_length/mean"] * 32 for r in records]
    return {"wall": wall, "server_start": int(ready.group(1)) if ready else None,
            "generation": [r["generation_seconds"] for r in records], "step": [r["step_seconds"] for r in records],
            "tokens": tokens, "sync": [r.get("generation/adapter_sync_seconds") for r in records],
            "logprob_diff_max": [r.get("sampler/logprob_diff_max") for r in records]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--completion-length", type=int, default=256)
    parser.add_argument("--vllm-python", default=os.path.join(ROOT, ".venv-vllm", "bin", "python"))
    args = parser.parse_args()
    from grpo_core.cpu_threads import cpuinfo

    cpu = cpuinfo("model name") or "?"
    print(f"command: python benchmarks/vllm_vs_hf.py --steps {args.steps} --repeats {args.repeats} "
          f"--completion-length {args.completion_length}")
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; date {datetime.date.today()}")
    print(f"load before: {open('/proc/loadavg').read().strip()}")
    root = tempfile.mkdtemp(prefix="grpo-bench-vllm-")
    model = build_model(os.path.join(root, "model"))
    results = {"hf": [], "vllm": []}
    for repeat in range(args.repeats):
        for backend in ("hf", "vllm"):
            run = os.path.join(root, f"run-{backend}-{repeat}")
            results[backend].append(run_backend(write_config(root, model, backend, args.steps, args.vllm_python, run,
                                                                     args.completion_length), run))
            print(f"  {backend} repeat {repeat}: {results[backend][-1]}", flush=True)
    print(f"load after: {open('/proc/loadavg').read().strip()}")
    print(f"\nrandom Qwen2 (hidden {HIDDEN}, {LAYERS} layers, vocab {VOCAB}), 4 prompts x G=8 x "
          f"{args.completion_length} tokens, "
          f"{args.steps} step(s) x {args.repeats} repeat(s); medians over steps")
    print("| backend | generation s/step | generated tokens/s | whole step s | server start s | adapter sync s |")
    print("|---|---|---|---|---|---|")
    for backend, runs in results.items():
        gen = [g for r in runs for g in r["generation"]]
        tok = [t for r in runs for t in r["tokens"]]
        step = [s for r in runs for s in r["step"]]
        sync = [s for r in runs for s in r["sync"] if s is not None]
        start = [r["server_start"] for r in runs if r["server_start"] is not None]
        print(f"| {backend} | {statistics.median(gen):.1f} | {statistics.median(tok) / statistics.median(gen):.0f} | "
              f"{statistics.median(step):.1f} | {statistics.median(start) if start else '-'} | "
              f"{f'{statistics.median(sync):.2f}' if sync else '-'} |")
    diffs = [d for r in results["vllm"] for d in r["logprob_diff_max"] if d is not None]
    if diffs:
        print(f"vllm sampler/trainer log-prob difference (max per step): {max(diffs):.2e}")


if __name__ == "__main__":
    main()
