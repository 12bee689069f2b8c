"""Data-parallel scaling of `grpo train` on this machine: 1 rank against N ranks (torchrun, gloo on the CPU,
NCCL on CUDA), one thread per rank, the same global batch, alternated in one run.

Each run is the embedded default (the tiny arithmetic model) with --steps steps and --prompts prompts a step
(G = 8); its metrics.jsonl gives each step's wall time on rank 0 (the ranks meet at every step's
collectives, so rank 0's time is the step's). Reported: the median step time over steps 3..N, completions
per second (prompts x G / step time, the whole batch), and the scaling ratio (N-rank throughput over
1-rank throughput; N would be perfect). Evaluation is cut to 8 prompts and not timed.

    python benchmarks/distributed_scaling.py [--ranks 2] [--steps 30] [--prompts 8] [--repeats 3]

On a machine with as many cores as ranks, the ranks also compete with everything else running: the load
average is printed before every run, and the runs alternate so that load drifts hit both alike.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run(ranks: int, steps: int, prompts: int, out: Path) -> dict:
    sets = [f"--set=train.steps={steps}", f"--set=grpo.prompts_per_step={prompts}", "--set=data.eval_limit=8",
            "--set=train.save_every=0", f"--set=train.output_dir={json.dumps(str(out))}"]
    if ranks == 1:
        cmd = [sys.executable, "-m", "grpo_core", "train", "--no-progress", *sets]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks),
               "-m", "grpo_core", "train", "--no-progress", *sets]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    load = _load()
    started = time.monotonic()
    subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    wall = time.monotonic() - started
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    step = statistics.median(r["step_seconds"] for r in records[2:])
    G = 8
    return {"ranks": ranks, "load": load, "step_s": step, "completions_per_s": prompts * G / step, "wall_s": wall,
            "generation_s": statistics.median(r["generation_seconds"] for r in records[2:]),
            "reward": statistics.fmean(r["reward/mean"] for r in records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--prompts", type=int, default=8, help="prompts per step (global), G = 8 completions each")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch

    device = f"CUDA ({torch.cuda.get_device_name(0)}, NCCL)" if torch.cuda.is_available() else "CPU (gloo)"
    print(f"command: python benchmarks/distributed_scaling.py --ranks {args.ranks} --steps {args.steps} "
          f"--prompts {args.prompts} --repeats {args.repeats}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}; machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.processor() or platform.platform()}; {device}; torch {torch.__version__}; one thread per rank")
    print(f"work: embedded default (tiny-arith), {args.prompts} prompts x G=8 a step, {args.steps} steps; "
          f"median over steps 3..{args.steps}")
    print(f"{'ranks':>5} {'repeat':>6} {'load (1/5/15 min)':>18} {'step s':>8} {'compl/s':>8} {'gen s':>7} {'wall s':>7}")
    results = {1: [], args.ranks: []}
    with tempfile.TemporaryDirectory(prefix="dist-scaling-") as tmp:
        for repeat in range(args.repeats):
            for ranks in (1, args.ranks) if repeat % 2 == 0 else (args.ranks, 1):
                r = run(ranks, args.steps, args.prompts, Path(tmp) / f"r{ranks}-{repeat}")
                results[ranks].append(r)
                print(f"{ranks:>5} {repeat + 1:>6} {r['load']:>18} {r['step_s']:>8.3f} {r['completions_per_s']:>8.1f} "
                      f"{r['generation_s']:>7.3f} {r['wall_s']:>7.1f}", flush=True)
    one = statistics.median(r["completions_per_s"] for r in results[1])
    many = statistics.median(r["completions_per_s"] for r in results[args.ranks])
    print(f"median completions/s: 1 rank {one:.1f}, {args.ranks} ranks {many:.1f}; scaling ratio "
          f"{many / one:.2f} (perfect: {args.ranks}); load now {_load()}")


if __name__ == "__main__":
    main()
