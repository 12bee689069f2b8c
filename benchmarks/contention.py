"""CPU step time of `grpo train` on the TRL benchmark's work, on an idle machine and beside other busy processes.

Why this exists: PyTorch's OpenMP threads meet after every parallel op. How they wait (spin or sleep) and
how many there are decide whether a CPU run survives another busy process on the machine. This runs the
work of benchmarks/trl_vs_grpo.py (same model, prompts, config; 48-token completions) under:

  machine:  idle | one busy core (a Python loop) | a 2-thread PyTorch process (matmuls in a loop)
  settings: grpo's defaults (a short OpenMP spin, threads following the free cores: cpu_threads.py)
            | OMP_WAIT_POLICY=PASSIVE, 2 fixed threads | libgomp's documented default spin
            (GOMP_SPINCOUNT=300000), 2 fixed threads
            | one fixed thread

and prints the median step time over steps 2..N and the thread counts grpo used. A run that has not
finished within --timeout seconds is reported as such (a long spin next to a busy process can take many
seconds a step).

    python benchmarks/contention.py [--steps 6] [--timeout 150]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trl_vs_grpo import LENGTH_MAX, OURS_CONFIG, _uptime, make_model, make_prompts  # noqa: E402

LOADS = {
    "idle": None,
    "one busy core": "while True: pass",
    "2-thread torch": "import torch\ntorch.set_num_threads(2)\na = torch.randn(384, 384)\n"
                      "while True: a = torch.tanh(a @ a)",
}
SETTINGS = {
    "grpo defaults": {},
    "PASSIVE, 2 threads": {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "2"},
    "spin 10000, governed": {"GOMP_SPINCOUNT": "10000"},
    "spin 300000, 2 threads": {"GOMP_SPINCOUNT": "300000", "OMP_NUM_THREADS": "2"},
    "1 thread": {"OMP_NUM_THREADS": "1"},
}
# libgomp documents 300,000 spins as its default when OMP_WAIT_POLICY is unset; grpo sets 1,000,000 unless
# GOMP_SPINCOUNT or OMP_WAIT_POLICY is given, so that row names the count explicitly.


def run(work: Path, steps: int, extra_env: dict, timeout: float) -> dict:
    out = work / "run"
    subprocess.run(["rm", "-rf", str(out)])
    config = work / "ours.toml"
    config.write_text(OURS_CONFIG.format(model=json.dumps(str(work / "model")),
                                         data=json.dumps(str(work / "prompts.jsonl")), steps=steps, lr=1e-5,
                                         out=json.dumps(str(out)), length_max=LENGTH_MAX))
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT")}
    env.update(HF_HUB_OFFLINE="1", GRPO_PLUGINS="grpo-format", TRANSFORMERS_VERBOSITY="error", **extra_env)
    cmd = [sys.executable, "-m", "grpo_core.cli", "train", str(config), "--no-progress",
           "--set", "grpo.min_completion_length=48", "--set", "grpo.max_completion_length=48"]
    try:
        subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        pass
    metrics = out / "metrics.jsonl"
    records = [json.loads(x) for x in metrics.read_text().splitlines()] if metrics.exists() else []
    seconds = [r["step_seconds"] for r in records]
    return {"steps_done": len(seconds), "median": statistics.median(seconds[1:]) if len(seconds) > 1 else None,
            "threads": sorted({r["cpu_threads"] for r in records if r.get("cpu_threads")}),
            "finished": len(seconds) == steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=150, help="seconds allowed for one run")
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M %Z')}  {os.cpu_count()} cores; median step s over steps 2..{args.steps}")
    print(f"{'machine':<16} {'settings':<28} {'step s':>8}  threads used")
    with tempfile.TemporaryDirectory(prefix="contention-") as tmp:
        work = Path(tmp)
        make_model(work / "model", 4096)
        make_prompts(work / "prompts.jsonl")
        for load_name, code in LOADS.items():
            load = subprocess.Popen([sys.executable, "-c", code]) if code else None
            try:
                time.sleep(2)
                for name, extra in SETTINGS.items():
                    r = run(work, args.steps, extra, args.timeout)
                    if r["finished"]:
                        shown = f"{r['median']:8.3f}"
                    elif r["median"] is not None:
                        shown = f"{r['median']:8.3f}  ({r['steps_done']} of {args.steps} steps in {args.timeout:.0f} s)"
                    else:
                        shown = f"{'-':>8}  (under {max(r['steps_done'], 1)} step(s) in {args.timeout:.0f} s)"
                    print(f"{load_name:<16} {name:<28} {shown}  {r['threads'] or ''}", flush=True)
            finally:
                if load is not None:
                    load.kill()
                    load.wait()
    print(_uptime())


if __name__ == "__main__":
    main()
