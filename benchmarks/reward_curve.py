"""Did a speed change cost learning? The default CPU run's reward curve at two commits, over several seeds.

Each commit is checked out into a temporary git worktree and trained with the embedded default run
(`grpo train`: the tiny arithmetic model, 150 steps) once per seed, that worktree first on PYTHONPATH.
The report gives the mean reward in windows of steps and the eval accuracy after training, per run, and
the difference between the commits' means next to the spread between seeds of one commit: sampling is
seeded but a different sampler draws different completions, so only a difference beyond the seed-to-seed
spread would mean anything.

    python benchmarks/reward_curve.py BEFORE AFTER [--seeds 0 1 2] [--window 25]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from worktree import checkout  # noqa: E402


def train(tree: Path, env: dict, seed: int, out: Path) -> tuple[list[float], dict]:
    cmd = [sys.executable, "-m", "grpo_core.cli", "train", "--no-progress", "--set", f"train.seed={seed}",
           "--set", f"train.output_dir={out}"]
    proc = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"grpo train failed at {tree}:\n{proc.stderr[-3000:]}")
    rewards = [json.loads(line)["reward/mean"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    return rewards, json.loads((out / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--window", type=int, default=25)
    args = parser.parse_args()
    results: dict[str, list[tuple[list[float], dict]]] = {}
    with tempfile.TemporaryDirectory(prefix="reward-curve-") as tmp:
        for ref in (args.before, args.after):
            with checkout(ref, HF_HUB_OFFLINE="1") as (tree, env):
                results[ref] = [train(tree, env, seed, Path(tmp) / f"run-{ref}-{seed}") for seed in args.seeds]

    steps = len(results[args.before][0][0])
    windows = [(s, min(s + args.window, steps)) for s in range(0, steps, args.window)]
    print(f"mean reward per window of {args.window} steps; eval accuracy before -> after training")
    header = " ".join(f"{a + 1:>3}-{b:<3}" for a, b in windows)
    print(f"{'commit':<10} {'seed':>4}  {header}  eval")
    window_means: dict[str, list[list[float]]] = {}
    for ref, runs in results.items():
        window_means[ref] = []
        for seed, (rewards, summary) in zip(args.seeds, runs):
            means = [statistics.fmean(rewards[a:b]) for a, b in windows]
            window_means[ref].append(means)
            cells = " ".join(f"{m:7.3f}" for m in means)
            print(f"{ref:<10} {seed:>4}  {cells}  {summary['eval_before']['accuracy']:.3f} -> "
                  f"{summary['eval_after']['accuracy']:.3f}  ({summary['train_seconds']:.0f} s training)")
    print()
    for i, (a, b) in enumerate(windows):
        per = {ref: [m[i] for m in ms] for ref, ms in window_means.items()}
        diff = statistics.fmean(per[args.after]) - statistics.fmean(per[args.before])
        spread = max(statistics.pstdev(v) for v in per.values())
        print(f"steps {a + 1:>3}-{b:<3}: after - before = {diff:+.3f}; largest seed-to-seed std of one commit "
              f"{spread:.3f}")
    for ref, runs in results.items():
        accs = [s["eval_after"]["accuracy"] for _, s in runs]
        secs = [s["train_seconds"] for _, s in runs]
        print(f"{ref}: eval accuracy after training {statistics.fmean(accs):.3f} (runs {accs}); "
              f"training {statistics.fmean(secs):.1f} s on average")


if __name__ == "__main__":
    main()
