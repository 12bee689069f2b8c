"""Step time of our `grpo train` against TRL's `GRPOTrainer` on identical work, on the CPU.

Both trainers get the same job, each in its own subprocess (so they share no thread pool):

- the same causal LM, built here from a Qwen2 config with random weights (hidden 256, 4 layers,
  8 heads, 2 KV heads, intermediate 688, vocabulary 4096 by default) and saved to a temporary
  directory with a tokenizer built here (`tokenizers` + `PreTrainedTokenizerFast` + a chat template);
  float32 on the CPU;
- LoRA r=16, alpha=32, dropout 0 on all linear layers (peft's "all-linear");
- 4 prompts x G=8 completions per optimizer step: one generation batch of 32 completions and one
  optimizer update (TRL: per_device_train_batch_size=32, gradient_accumulation_steps=1, so
  steps_per_generation=1 and generation_batch_size=32; TRL's batch sizes count completions);
- completions of exactly 48 tokens (EOS banned before 48: ours min_completion_length, TRL
  generation_kwargs min_new_tokens), temperature 1.0, top_p 1, top_k 0;
- beta=0.04 (so both run a reference pass: the policy with its adapter switched off),
  num_iterations=1, loss "dapo", epsilon 0.2, max_grad_norm 1.0, AdamW at a constant learning rate,
  no weight decay, no gradient checkpointing (ours never uses it on the CPU; TRL's default is on),
  no evaluation, no saving during the steps;
- the same prompts (arithmetic questions written to a local JSONL file, through the chat template)
  and the same trivial reward: a length window on the completion text (ours: the built-in
  `format.length` with max=100 chars; TRL: the same formula as a plain Python function).

Step time: ours is `step_seconds` from the run's metrics.jsonl; TRL's is the time from
`on_step_begin` to `on_step_end` of a TrainerCallback (generation, rewards, reference pass, policy
forward and backward, clipping, optimizer step). The figure reported is the median over steps
2..N (step 1 is warm-up). `--breakdown` also times the phases of each step in both trainers
(wrappers around their generation, reward, log-prob, backward and optimizer calls).

    pip install -e ".[bench]"   # TRL: benchmark-only; never a dependency of the project
    python benchmarks/trl_vs_grpo.py [--steps 6] [--repeats 1] [--threads N] [--breakdown] [--json]

Runs offline (HF_HUB_OFFLINE=1). Each side runs as its users would run it: the shell's OpenMP settings
and each trainer's own thread choices (`--threads N` and `--omp-wait-policy P` fix them for both instead).
Other work on the machine still skews timings: the report includes `uptime` before each run, ours logs its
thread count per step, and `--breakdown` adds process CPU time, which load moves much less.
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIALS = ["<pad>", "<eos>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
LENGTH_MAX = 100  # the reward's window: completions of at most 100 characters score 1.0


# ---------------------------------------------------------------- the shared work

def make_tokenizer(vocab_size: int):
    """A character-level tokenizer padded to ``vocab_size`` with multi-letter tokens the model can sample
    (prompts only ever use single characters); decoding concatenates tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = list(string.ascii_letters + string.digits + string.punctuation + " \n")
    tokens = SPECIALS + chars
    fillers = ("".join(p) for n in itertools.count(2) for p in itertools.product(string.ascii_lowercase, repeat=n))
    while len(tokens) < vocab_size:
        tokens.append(next(fillers))
    tok = Tokenizer(models.WordLevel({t: i for i, t in enumerate(tokens)}, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                   additional_special_tokens=SPECIALS[2:])
    fast.chat_template = CHAT_TEMPLATE
    return fast


def make_model(path: Path, vocab_size: int) -> None:
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    tokenizer = make_tokenizer(vocab_size)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                         num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=512,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=None, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).to(torch.float32)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)


def make_prompts(path: Path, n: int = 64) -> None:
    import random

    rng = random.Random(0)
    rows = []
    for _ in range(n):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        rows.append({"prompt": f"What is {a} + {b}? Answer with the number.", "answer": str(a + b)})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def length_reward(completions, **_):
    """TRL's reward: the same numbers as `format.length` with max=LENGTH_MAX (chars, linear, floor 0)."""
    out = []
    for c in completions:
        text = c[-1]["content"] if isinstance(c, list) else c  # conversational prompts give message lists
        n = len(text)
        out.append(1.0 if n <= LENGTH_MAX else max(0.0, 1.0 - (n - LENGTH_MAX) / LENGTH_MAX))
    return out


# ---------------------------------------------------------------- TRL worker (runs in its own process)

class _Phases:
    """Wall and CPU seconds (all threads of the process) per named phase, accumulated within a step."""

    def __init__(self):
        self.current: dict[str, list[float]] = {}
        self.steps: list[dict[str, list[float]]] = []

    def add(self, name, wall, cpu):
        slot = self.current.setdefault(name, [0.0, 0.0])
        slot[0] += wall
        slot[1] += cpu

    def wrap(self, fn, name_of):
        def wrapped(*a, **k):
            t, c = time.perf_counter(), time.process_time()
            try:
                return fn(*a, **k)
            finally:
                self.add(name_of(), time.perf_counter() - t, time.process_time() - c)
        return wrapped

    def close_step(self, wall, cpu):
        """End a step that took ``wall`` / ``cpu`` seconds; what no phase covered is "other"."""
        self.current["other"] = [max(0.0, wall - sum(v[0] for v in self.current.values())),
                                 max(0.0, cpu - sum(v[1] for v in self.current.values()))]
        self.current["step"] = [wall, cpu]
        self.steps.append(self.current)
        self.current = {}


def trl_worker(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from transformers.utils import logging as hf_logging
    from trl import GRPOConfig, GRPOTrainer

    hf_logging.set_verbosity_error()
    rows = [json.loads(line) for line in Path(args.data).read_text().splitlines()]
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}], "answer": r["answer"]}
                                 for r in rows])
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32)
    config = GRPOConfig(
        output_dir=args.out, max_steps=args.steps, per_device_train_batch_size=32, gradient_accumulation_steps=1,
        num_generations=8, max_completion_length=48, generation_kwargs={"min_new_tokens": 48},
        temperature=1.0, top_p=1.0, top_k=0, beta=0.04, num_iterations=1, loss_type="dapo", epsilon=0.2,
        learning_rate=args.lr, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
        max_grad_norm=1.0, optim="adamw_torch", use_cpu=True, bf16=False, fp16=False,
        gradient_checkpointing=False, logging_steps=1, save_strategy="no", eval_strategy="no",
        report_to="none", disable_tqdm=True, seed=0, dataloader_num_workers=0, log_completions=False,
    )
    peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                             bias="none", task_type="CAUSAL_LM")

    phases = _Phases()
    times: list[float] = []
    marks: dict[str, float] = {}

    class Timer(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            marks["begin"], marks["begin_cpu"] = time.perf_counter(), time.process_time()

        def on_pre_optimizer_step(self, a, state, control, **kw):
            marks["pre_opt"], marks["pre_opt_cpu"] = time.perf_counter(), time.process_time()

        def on_step_end(self, a, state, control, **kw):
            end, end_cpu = time.perf_counter(), time.process_time()
            times.append(end - marks["begin"])
            if args.breakdown:
                phases.add("optimizer (step, zero_grad)", end - marks["pre_opt"], end_cpu - marks["pre_opt_cpu"])
                phases.close_step(end - marks["begin"], end_cpu - marks["begin_cpu"])

    lengths: list[float] = []

    class Lengths(TrainerCallback):
        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "completions/mean_length" in logs:
                lengths.append(logs["completions/mean_length"])

    trainer = GRPOTrainer(model=model, reward_funcs=length_reward, args=config, train_dataset=dataset,
                          processing_class=tokenizer, peft_config=peft_config, callbacks=[Timer(), Lengths()])
    a = trainer.args
    # one optimizer step = one generation batch of 4 prompts x 8 completions, used once
    assert (a.generation_batch_size, a.steps_per_generation, a.gradient_accumulation_steps) == (32, 1, 1), a
    if args.breakdown:
        t = trainer
        t._generate_single_turn = phases.wrap(t._generate_single_turn, lambda: "generation")
        t._calculate_rewards = phases.wrap(t._calculate_rewards, lambda: "rewards")
        t._get_per_token_logps_and_entropies = phases.wrap(
            t._get_per_token_logps_and_entropies,
            lambda: "logprobs forward (policy)" if torch.is_grad_enabled() else "logprobs forward (reference)")
        t.accelerator.backward = phases.wrap(t.accelerator.backward, lambda: "backward")
    trainer.train()
    result = {"step_seconds": times, "threads": torch.get_num_threads(), "completion_length_mean": lengths}
    if args.breakdown:
        result["phases"] = phases.steps
    Path(args.result).write_text(json.dumps(result))


# ---------------------------------------------------------------- ours (`grpo train`, its own process)

OURS_CONFIG = """\
[model]
name = {model}
dtype = "float32"

[lora]
r = 16
alpha = 32
dropout = 0.0
target_modules = "all-linear"

[data]
dataset = {data}
prompt = "prompt"
eval_limit = 1

[grpo]
num_generations = 8
prompts_per_step = 4
temperature = 1.0
top_p = 1.0
top_k = 0
beta = 0.04
num_iterations = 1
loss = "dapo"
epsilon = 0.2

[train]
steps = {steps}
learning_rate = {lr}
lr_scheduler = "constant"
max_grad_norm = 1.0
weight_decay = 0.0
output_dir = {out}
save_every = 0
seed = 0
log_completions = 0

[eval]
max_completion_length = 1

[[rewards]]
use = "format.length"
options = {{ max = {length_max} }}
"""

# With --breakdown, ours runs through the same CLI entry point with timers wrapped around the step's calls.
OURS_BREAKDOWN_RUNNER = r"""
import json, sys, time, atexit
from grpo_core.cli import apply_openmp_defaults
apply_openmp_defaults()  # as `grpo train` does, before torch loads
import torch
import grpo_core.generation.hf as hf
import grpo_core.step as step
import grpo_core.trainer as trainer
from grpo_core import cli
sys.path.insert(0, {here!r})
from trl_vs_grpo import _Phases
phases = _Phases()
grpo_step = trainer.grpo_step
def timed_step(*a, **k):
    t, c = time.perf_counter(), time.process_time()
    out = grpo_step(*a, **k)
    phases.close_step(time.perf_counter() - t, time.process_time() - c)
    return out
trainer.grpo_step = timed_step
hf.sample_groups = phases.wrap(hf.sample_groups, lambda: "generation")  # the default backend's decode loop
step.completion_logprobs = phases.wrap(step.completion_logprobs, lambda: "logprobs forward (policy)"
                                       if torch.is_grad_enabled() else "logprobs forward (reference)")
torch.Tensor.backward = phases.wrap(torch.Tensor.backward, lambda: "backward")
torch.nn.utils.clip_grad_norm_ = phases.wrap(torch.nn.utils.clip_grad_norm_, lambda: "clip_grad_norm")
torch.optim.AdamW.step = phases.wrap(torch.optim.AdamW.step, lambda: "optimizer (step, zero_grad)")
def dump():
    with open({result!r}, "w") as f:
        json.dump(phases.steps, f)
atexit.register(dump)
sys.argv = ["grpo"] + {argv!r}
sys.exit(cli.main())
"""


def _spread(rs: list[dict]) -> tuple[float, float, float, float]:
    """How far the steps 2..N of all runs, and the run medians, lie from their own median (fractions)."""
    steps = [t for r in rs for t in r["step_seconds"][1:]] or [t for r in rs for t in r["step_seconds"]]
    meds = [r["median_step_seconds"] for r in rs]
    m, mm = statistics.median(steps), statistics.median(meds)
    return min(steps) / m - 1, max(steps) / m - 1, min(meds) / mm - 1, max(meds) / mm - 1


def run_ours(work: Path, env: dict, args, tag: str) -> dict:
    out = work / f"ours-run-{tag}"
    config = work / "ours.toml"
    config.write_text(OURS_CONFIG.format(model=json.dumps(str(work / "model")),
                                         data=json.dumps(str(work / "prompts.jsonl")), steps=args.steps, lr=args.lr,
                                         out=json.dumps(str(out)), length_max=LENGTH_MAX))
    argv = ["train", str(config), "--no-progress", "--set", "grpo.min_completion_length=48",
            "--set", "grpo.max_completion_length=48"]
    phases_file = work / f"ours-phases-{tag}.json"
    if args.breakdown:
        code = OURS_BREAKDOWN_RUNNER.format(here=str(Path(__file__).resolve().parent), result=str(phases_file),
                                            argv=argv)
        cmd = [sys.executable, "-c", code]
    else:
        cmd = [sys.executable, "-m", "grpo_core.cli", *argv]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"grpo train failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    result = {"step_seconds": [r["step_seconds"] for r in records],
              "generation_seconds": [r["generation_seconds"] for r in records],
              "scoring_seconds": [r["scoring_seconds"] for r in records],
              "completion_length_mean": [r["completion_length/mean"] for r in records],
              "cpu_threads": [r.get("cpu_threads") for r in records]}
    if args.breakdown:
        result["phases"] = json.loads(phases_file.read_text())
    return result


def run_trl(work: Path, env: dict, args, tag: str) -> dict:
    result_file = work / f"trl-result-{tag}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_trl-worker", "--model-dir", str(work / "model"),
           "--data", str(work / "prompts.jsonl"), "--out", str(work / f"trl-run-{tag}"), "--result", str(result_file),
           "--steps", str(args.steps), "--lr", str(args.lr)] + (["--threads", str(args.threads)] if args.threads else [])
    if args.breakdown:
        cmd.append("--breakdown")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"TRL worker failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(result_file.read_text())


# ---------------------------------------------------------------- report

def _median_after_warmup(values: list[float]) -> float:
    return statistics.median(values[1:]) if len(values) > 1 else values[0]


def _phase_medians(steps: list[dict]) -> dict[str, tuple[float, float]]:
    """(wall, cpu) median seconds of each phase over steps 2..N."""
    steps = steps[1:] if len(steps) > 1 else steps
    names = list(dict.fromkeys(k for s in steps for k in s))
    return {n: (statistics.median(s.get(n, [0.0, 0.0])[0] for s in steps),
                statistics.median(s.get(n, [0.0, 0.0])[1] for s in steps)) for n in names}


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "trl", "peft", "accelerate"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per run (median over 2..N)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each, alternating ours and TRL")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads in both, fixed (OMP_NUM_THREADS); default: each trainer's own choice "
                             "(TRL: torch's default, one per core; grpo: one per core, fewer while other processes "
                             "keep cores busy)")
    parser.add_argument("--vocab", type=int, default=4096, help="vocabulary size of the random model")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--omp-wait-policy", default="inherit",
                        help="OMP_WAIT_POLICY for both, e.g. PASSIVE; default 'inherit': this shell's setting, so each "
                             "trainer runs with its own defaults (grpo sets a short OpenMP spin when none is given)")
    parser.add_argument("--only", choices=("ours", "trl"), help="run one side only")
    parser.add_argument("--breakdown", action="store_true", help="also time the phases of each step")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--keep", help="build in this directory and keep it (default: a temporary one)")
    # internal: the TRL side, in its own process
    parser.add_argument("--_trl-worker", dest="trl_worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("--model-dir", "--data", "--out", "--result"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps must be at least 2 (step 1 is warm-up)")
    if args.trl_worker:
        trl_worker(args)
        return

    if args.only != "ours":
        try:
            import trl  # noqa: F401
        except ImportError:
            sys.exit("TRL is not installed: pip install -e \".[bench]\" (a benchmark-only extra)")

    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", GRPO_PLUGINS="grpo-format",
               TRANSFORMERS_VERBOSITY="error", PYTHONWARNINGS="ignore")
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    if args.omp_wait_policy != "inherit":
        env["OMP_WAIT_POLICY"] = args.omp_wait_policy
    with tempfile.TemporaryDirectory(prefix="trl_vs_grpo-") as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        make_model(work / "model", args.vocab)
        make_prompts(work / "prompts.jsonl")
        runs: dict[str, list[dict]] = {"ours": [], "trl": []}
        loads = []
        for i in range(args.repeats):
            for side in ("ours", "trl"):
                if args.only and side != args.only:
                    continue
                loads.append(f"before {side} #{i + 1}: {_uptime()}")
                if not args.json:
                    print(loads[-1], file=sys.stderr)
                t = time.perf_counter()
                res = (run_ours if side == "ours" else run_trl)(work, env, args, str(i))
                res["wall_seconds"] = time.perf_counter() - t
                res["median_step_seconds"] = _median_after_warmup(res["step_seconds"])
                runs[side].append(res)
        loads.append(f"end: {_uptime()}")

    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version()},
        "versions": _versions(), "threads": args.threads, "steps": args.steps, "vocab": args.vocab,
        "env": {k: env.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        "uptime": loads, "runs": runs,
    }
    medians = {side: statistics.median(r["median_step_seconds"] for r in rs) for side, rs in runs.items() if rs}
    report["median_step_seconds"] = medians
    if "ours" in medians and "trl" in medians:
        report["ratio_ours_over_trl"] = medians["ours"] / medians["trl"]
        report["ratio_per_run"] = [o["median_step_seconds"] / t["median_step_seconds"]
                                   for o, t in zip(runs["ours"], runs["trl"])]
    report["spread"] = {side: _spread(rs) for side, rs in runs.items() if rs}
    if args.json:
        print(json.dumps(report, indent=2))
        return

    v = report["versions"]
    threads = f"{args.threads} torch threads in both" if args.threads else "threads: each trainer's own choice"
    print(f"{report['date']}  {report['machine']['platform']}  {os.cpu_count()} cores, {threads}")
    print(f"torch {v['torch']}, transformers {v['transformers']}, trl {v['trl']}, peft {v['peft']}; "
          f"OMP_WAIT_POLICY={env.get('OMP_WAIT_POLICY', '(unset)')}")
    print(f"work per step: 4 prompts x 8 completions x 48 tokens, LoRA r=16 all-linear, beta=0.04, float32, "
          f"vocab {args.vocab}")
    print()
    print(f"{'trainer':<10} {'median step s (2..' + str(args.steps) + ')':>24}  per-run medians / steps")
    for side, rs in runs.items():
        for i, r in enumerate(rs):
            steps = " ".join(f"{s:.2f}" for s in r["step_seconds"])
            length = statistics.fmean(r["completion_length_mean"]) if r.get("completion_length_mean") else float("nan")
            used = sorted({t for t in r.get("cpu_threads", []) if t is not None})
            print(f"{side:<10} {r['median_step_seconds']:>24.3f}  run {i + 1}: [{steps}]  "
                  f"mean completion length {length:.1f}" + (f"  threads {used}" if used else ""))
    if "ratio_ours_over_trl" in report:
        print(f"\nmedian step: ours {medians['ours']:.3f} s, TRL {medians['trl']:.3f} s; "
              f"ratio ours / TRL = {report['ratio_ours_over_trl']:.3f}")
        print("ratio per run (ours run i / TRL run i): " + " ".join(f"{r:.3f}" for r in report["ratio_per_run"]))
    for side, (steps_lo, steps_hi, runs_lo, runs_hi) in report["spread"].items():
        print(f"{side}: steps 2..N {steps_lo:+.0%} .. {steps_hi:+.0%} around their median, "
              f"run medians {runs_lo:+.0%} .. {runs_hi:+.0%} around theirs")
    if args.breakdown:
        for side, rs in runs.items():
            for i, r in enumerate(rs):
                if "phases" not in r:
                    continue
                med = _phase_medians(r["phases"])
                step_wall, step_cpu = med.pop("step")
                print(f"\n{side} run {i + 1}: median seconds per phase over steps 2..N "
                      f"(CPU = process CPU time, all threads)")
                print(f"  {'phase':<32} {'wall':>8} {'CPU':>8}")
                for name, (wall, cpu) in med.items():
                    print(f"  {name:<32} {wall:8.3f} {cpu:8.3f}")
                print(f"  {'step':<32} {step_wall:8.3f} {step_cpu:8.3f}")
    print()
    for line in loads:
        print(line)


if __name__ == "__main__":
    main()
