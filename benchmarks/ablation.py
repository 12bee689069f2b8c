"""What each speed change bought: the CPU step time of `grpo train` at a list of commits, on the same work.

Each commit is checked out into a temporary git worktree and run with `benchmarks/trl_vs_grpo.py --only ours`
(this checkout's copy of the script, so the work is identical) with that worktree first on PYTHONPATH.
The OpenMP settings are fixed for every commit (2 threads, a short spin), so the table isolates the code:
the thread policy, which changed along the way, is measured separately (BENCHMARKS.md).

    python benchmarks/ablation.py [--repeats 3] [COMMIT=LABEL ...]

Without commits it runs the list in COMMITS below (the issue-5 changes, in order).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from worktree import ROOT, checkout  # noqa: E402

COMMITS = [
    ("a1960c2", "before: multinomial sampling, whole-sequence log-prob passes"),
    ("7128858", "+ sampling by inverse CDF"),
    ("78ef629", "+ prompts shared across the group in log-prob passes, LoRA merged for sampling"),
    ("090fed8", "+ no checkpointing of a single log-prob chunk"),
    ("c56b840", "+ log_softmax + gather, no temperature division at 1.0"),
    ("1fccdb0", "+ no temperature division in sampling"),
]
FIXED_ENV = {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": "10000"}


def run_commit(commit: str, repeats: int, steps: int) -> dict:
    with checkout(commit, **FIXED_ENV) as (tree, env):
        proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "trl_vs_grpo.py"), "--only", "ours",
                               "--repeats", str(repeats), "--steps", str(steps), "--json"],
                              env=env, cwd=tree, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{commit}: benchmark failed:\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout)
    medians = [r["median_step_seconds"] for r in report["runs"]["ours"]]
    generation = [statistics.median(r["generation_seconds"][1:]) for r in report["runs"]["ours"]]
    return {"median_step_seconds": statistics.median(medians), "runs": medians,
            "generation_seconds": statistics.median(generation), "uptime": report["uptime"][0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("commits", nargs="*", help="COMMIT=LABEL pairs (default: the list in this script)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    commits = [tuple(c.split("=", 1)) for c in args.commits] or COMMITS
    print(f"fixed for every commit: {' '.join(f'{k}={v}' for k, v in FIXED_ENV.items())}; "
          f"median step over steps 2..{args.steps}, median of {args.repeats} runs")
    print(f"{'commit':<9} {'step s':>7} {'gen s':>7}  runs                 change")
    for commit, label in commits:
        r = run_commit(commit, args.repeats, args.steps)
        runs = " ".join(f"{x:.3f}" for x in r["runs"])
        print(f"{commit:<9} {r['median_step_seconds']:7.3f} {r['generation_seconds']:7.3f}  {runs:<20} {label}",
              flush=True)
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
