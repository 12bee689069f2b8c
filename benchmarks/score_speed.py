"""Speed of `grpo score` with the `math` reward against Math-Verify's serial parse+verify loop.

The batch is GRPO-shaped: 64 references x 8 completions, built from the labelled pairs of
shared/benchmarks/math-equivalence (each reference gets its own completions plus completions
written for other references, so both equal and unequal pairs are timed). `grpo score` is timed
as a whole process (start-up, plugin loading, worker processes, writing the output); Math-Verify
is timed in-process after its import, which favours it.

    pip install math-verify   # benchmark-only; never a dependency of the project
    python benchmarks/score_speed.py [--repeats 3] [--cases PATH] [--no-math-verify]

It prints the date, the load average before the runs and which grpo_math `grpo score` loaded,
so that two checkouts can be timed alternately in one session
(``PYTHONPATH=<checkout>/plugins/math python benchmarks/score_speed.py --no-math-verify``).
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CASES = HERE.parent.parent / "shared" / "benchmarks" / "math-equivalence" / "cases.jsonl"


def grpo_batch(cases_path: Path, references: int = 64, group: int = 8, seed: int = 0) -> list[dict]:
    rows = [json.loads(line) for line in cases_path.read_text().splitlines() if line.strip()]
    by_ref: dict[str, list[str]] = {}
    for row in rows:
        by_ref.setdefault(row["answer"], []).append(row["completion"])
    rng = random.Random(seed)
    refs = sorted(by_ref)
    rng.shuffle(refs)
    all_completions = [row["completion"] for row in rows]
    batch = []
    for ref in refs[:references]:
        own = by_ref[ref][:group // 2]
        others = rng.sample(all_completions, group - len(own))
        batch += [{"answer": ref, "completion": c} for c in own + others]
    return batch


def time_grpo_score(batch_file: Path, config_file: Path, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(["grpo", "score", "--config", str(config_file), "--input", str(batch_file),
                        "--output", os.devnull], check=True, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def time_math_verify(batch: list[dict], repeats: int) -> list[float]:
    from math_verify import parse, verify

    def wrap(answer: str) -> str:
        return answer if "$" in answer or "\\(" in answer or "\\[" in answer else f"${answer}$"

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for row in batch:
            verify(parse(wrap(row["answer"])), parse(row["completion"]))
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-math-verify", action="store_true",
                        help="time only `grpo score` (for comparing two checkouts)")
    args = parser.parse_args()
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())

    batch = grpo_batch(args.cases)
    with tempfile.TemporaryDirectory() as tmp:
        batch_file, config_file = Path(tmp) / "batch.jsonl", Path(tmp) / "mix.toml"
        batch_file.write_text("".join(json.dumps(row) + "\n" for row in batch))
        config_file.write_text('[[rewards]]\nuse = "math"\n')
        ours = time_grpo_score(batch_file, config_file, args.repeats)
    theirs = None if args.no_math_verify else time_math_verify(batch, args.repeats)
    spec = importlib.util.find_spec("grpo_math")
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": len(batch), "cores": os.cpu_count(), "machine": platform.platform(),
        "python": platform.python_version(), "load_before": load_before,
        "grpo_math": str(Path(spec.origin).parent) if spec and spec.origin else None,
        "grpo_score_seconds": round(statistics.median(ours), 3),
        "grpo_score_runs": [round(t, 3) for t in ours],
    }
    if theirs is not None:
        result["math_verify_seconds"] = round(statistics.median(theirs), 3)
        result["ratio"] = round(result["grpo_score_seconds"] / result["math_verify_seconds"], 3)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['date']}; {result['machine']}, {result['cores']} cores, Python "
          f"{result['python']}; load average before {load_before}; "
          f"grpo_math from {result['grpo_math']}")
    print(f"{result['rows']} rows (64 references x 8 completions), median of {args.repeats}")
    print(f"  grpo score (whole process): {result['grpo_score_seconds']:.2f} s "
          f"({1000 * result['grpo_score_seconds'] / result['rows']:.2f} ms a row)")
    if theirs is not None:
        print(f"  Math-Verify parse+verify:   {result['math_verify_seconds']:.2f} s "
              "(in-process, serial)")
        print(f"  ratio: {result['ratio']:.2f} (target <= 0.5)")


if __name__ == "__main__":
    sys.exit(main())
