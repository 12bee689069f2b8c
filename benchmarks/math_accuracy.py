"""Agreement of the `math` reward with the labelled answer-equivalence benchmark.

    python benchmarks/math_accuracy.py [--cases PATH] [--repeats N] [--compare-math-verify]

Scores every row of cases.jsonl in this process (no worker pool, so the time is the checker's
own), counts the rows where ``score >= 0.5`` matches ``expected == 1``, lists the rows where it
does not, and reports milliseconds per row (the median of ``--repeats`` passes, each with an
empty reference cache). It first prints the date, the machine, the load average and which
grpo_math it measured, so that two checkouts can be compared in one session
(``PYTHONPATH=<checkout>/plugins/math python benchmarks/math_accuracy.py``, alternating).
``--compare-math-verify`` also times Math-Verify on the same rows when it is installed (it is a
comparison only, never a dependency).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_CASES = HERE.parent.parent / "shared" / "benchmarks" / "math-equivalence" / "cases.jsonl"


def load(path: pathlib.Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def run_reward(rows: list[dict], repeats: int = 1) -> tuple[list, float, float]:
    """Scores, and the median wall and CPU seconds of a pass (CPU time is what to compare when
    other processes share the cores: it does not count the time spent waiting for one)."""
    from grpo_math import MathReward
    from grpo_math.reward import read_reference

    reward, walls, cpus = MathReward(), [], []
    for _ in range(repeats):
        read_reference.cache_clear()  # every pass parses each reference anew
        scores, start, cpu = [], time.perf_counter(), time.process_time()
        for row in rows:
            scores.extend(reward(completions=[row["completion"]], answer=[row["answer"]]))
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return scores, statistics.median(walls), statistics.median(cpus)


def describe_run() -> str:
    import grpo_math

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{now}; {platform.platform()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; load average {load}; grpo_math from "
            f"{pathlib.Path(grpo_math.__file__).parent}")


def run_math_verify(rows: list[dict]) -> tuple[list, float] | None:
    try:
        from math_verify import parse, verify
    except ImportError:
        return None
    scores, start = [], time.perf_counter()
    for row in rows:
        gold = row["answer"] if "$" in row["answer"] or "\\(" in row["answer"] else f"${row['answer']}$"
        try:
            ok = verify(parse(gold), parse(row["completion"]))
        except Exception:
            ok = False
        scores.append(1.0 if ok else 0.0)
    return scores, time.perf_counter() - start


def report(name: str, rows: list[dict], scores: list, seconds: float, show: bool,
           cpu_seconds: float | None = None) -> int:
    wrong = [(i, row, s) for i, (row, s) in enumerate(zip(rows, scores))
             if ((s is not None and s >= 0.5) != (row["expected"] == 1))]
    agree = len(rows) - len(wrong)
    cpu = "" if cpu_seconds is None else f" ({1000 * cpu_seconds / len(rows):.3f} ms/row of CPU)"
    print(f"{name}: agrees on {agree}/{len(rows)} rows ({100 * agree / len(rows):.1f}%), "
          f"{1000 * seconds / len(rows):.2f} ms/row{cpu}")
    if show:
        for i, row, s in wrong:
            print(f"  row {i} expected={row['expected']} score={s} source={row.get('source', '')}")
            print(f"    answer:     {row['answer'][-160:]!r}")
            print(f"    completion: {row['completion'][-160:]!r}")
    return agree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=pathlib.Path, default=DEFAULT_CASES)
    parser.add_argument("--repeats", type=int, default=1, help="timed passes (median reported)")
    parser.add_argument("--compare-math-verify", action="store_true")
    args = parser.parse_args(argv)
    if not args.cases.is_file():
        print(f"math_accuracy: no benchmark file at {args.cases}", file=sys.stderr)
        return 2
    rows = load(args.cases)
    print(describe_run())
    scores, seconds, cpu_seconds = run_reward(rows, max(args.repeats, 1))
    report("grpo-math", rows, scores, seconds, show=True, cpu_seconds=cpu_seconds)
    if args.compare_math_verify:
        result = run_math_verify(rows)
        if result is None:
            print("math-verify is not installed")
        else:
            report("math-verify", rows, *result, show=False)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # output piped into head
        sys.exit(0)
