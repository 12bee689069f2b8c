"""Does dynamic sampling pay for its extra rounds? Eval accuracy after the same training wall-clock budget,
with and without it, on the embedded default run (the tiny arithmetic model), over several seeds.

Each run is `grpo train` with the embedded default config, stopped (through the trainer's own Ctrl-C path,
which saves a checkpoint) at the first step where the summed step time reaches the budget; its adapter is
then evaluated greedily on the default eval split (200 problems from a seed training never sees). The two
settings alternate within each seed, so a change in the machine's load hits both alike. Training time
is the sum of `step_seconds` (rollouts, scoring, passes and updates; evaluation is not counted).

    python benchmarks/dynamic_sampling.py [--budget 6] [--seeds 0 1 2] [--rounds 4]

Prints the command, machine, date and load, then one row per run and the means.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
from pathlib import Path


def run(seed: int, dynamic: bool, budget: float, rounds: int, out: Path) -> dict:
    from grpo_core.checkpoint import latest
    from grpo_core.config import load_config
    from grpo_core.evaluate import evaluate_config
    from grpo_core.trainer import Interrupted, train

    overrides = [f"train.seed={seed}", f"train.output_dir={out}", "train.steps=2000", "train.save_every=0",
                 f"grpo.dynamic_sampling={'true' if dynamic else 'false'}", f"grpo.max_generation_rounds={rounds}"]
    cfg = load_config(None, overrides)
    spent = {"seconds": 0.0, "steps": 0}

    def stop_at_budget(step, record):
        spent["seconds"] += record["step_seconds"]
        spent["steps"] = step
        if spent["seconds"] >= budget:
            os.kill(os.getpid(), signal.SIGINT)  # the trainer finishes this step, saves, raises Interrupted

    try:
        train(cfg, on_step=stop_at_budget, progress=False)
    except Interrupted:
        pass
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    result = evaluate_config(cfg, os.path.join(latest(str(out)), "adapter"), progress=False)
    return {"seed": seed, "dynamic": dynamic, "steps": spent["steps"], "train_seconds": spent["seconds"],
            "accuracy": result["accuracy"],
            "prompts": sum(m.get("sampling/prompts_consumed", cfg.grpo.prompts_per_step) for m in metrics),
            "rounds": sum(m.get("sampling/rounds", 1) for m in metrics) / len(metrics),
            "dropped": sum(m.get("sampling/groups_dropped", 0) for m in metrics),
            "short": sum(m.get("sampling/groups_short", 0) for m in metrics)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=6.0, help="training seconds per run (summed step time)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=4, help="grpo.max_generation_rounds for the dynamic runs")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from grpo_core.cli import apply_openmp_defaults, quiet_libraries

    apply_openmp_defaults()
    quiet_libraries()
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="dynamic-sampling-") as tmp:
        for seed in args.seeds:
            for dynamic in (False, True) if seed % 2 == 0 else (True, False):  # alternate which goes first
                rows.append(run(seed, dynamic, args.budget, args.rounds, Path(tmp) / f"{seed}-{dynamic}"))
                r = rows[-1]
                print(f"seed {seed} dynamic_sampling={str(dynamic).lower():5}: {r['steps']:3} steps in "
                      f"{r['train_seconds']:5.1f} s, {r['prompts']:4} prompts, {r['rounds']:.2f} rounds/step, "
                      f"{r['dropped']:3} groups dropped, {r['short']:2} short -> eval accuracy {r['accuracy']:.3f}",
                      flush=True)
    print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")
    for dynamic in (False, True):
        acc = [r["accuracy"] for r in rows if r["dynamic"] == dynamic]
        steps = [r["steps"] for r in rows if r["dynamic"] == dynamic]
        print(f"dynamic_sampling={str(dynamic).lower():5}: mean eval accuracy {statistics.fmean(acc):.3f} "
              f"(per seed {', '.join(f'{a:.3f}' for a in acc)}), mean steps {statistics.fmean(steps):.0f} "
              f"in a {args.budget:g} s budget")


if __name__ == "__main__":
    main()
