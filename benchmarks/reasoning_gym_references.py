"""Every reasoning-gym task through grpo-reasoning-gym: do its own reference answers score 1.0, wrong ones lower?

For each task the plugin registers (the refused, code-evaluating ones are counted apart), the script
makes ``--rows`` test-split rows through the task factory, and scores three completions per row with
the ``reasoning_gym`` reward through the SDK's real runtime (worker pool, time limits, error policy):
the row's reference answer in ``<answer>`` tags, another row's reference (where it differs) in tags,
and text without tags. It prints one line per task that is not clean, and the totals.

    pip install -e plugins/reasoning_gym
    python benchmarks/reasoning_gym_references.py [--rows 5] [--only chain_sum,gcd] [--json]

Offline: reasoning-gym generates everything locally.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
import warnings


def check(name: str, rows: int) -> dict:
    import grpo_reasoning_gym as plugin
    from grpo_rewards.testing import score_batch

    try:
        batch = plugin.generate(name, "test", 0, rows)
    except Exception as exc:  # a task that needs options (composite) or rejects its defaults
        return {"status": "no rows", "why": f"{type(exc).__name__}: {exc}"[:160]}
    if not batch:
        return {"status": "no rows", "why": "the test split gave no question"}
    right = [f"<answer>{r['answer']}</answer>" for r in batch]
    others = [next((str(o["answer"]) for o in batch if str(o["answer"]) != str(r["answer"])), "nonsense")
              for r in batch]
    wrong = [f"<answer>{o}</answer>" for o in others] + ["no answer tags here"] * len(batch)
    result = score_batch(plugin, "reasoning_gym", on_error="skip", completions=right + wrong,
                         entry=[r["entry"] for r in batch] * 3)
    scores = result.rewards["reasoning_gym"]
    counts = result.counts["reasoning_gym"]
    refs, bad = scores[:len(batch)], scores[len(batch):]
    return {"status": "ok", "rows": len(batch), "reference_1.0": sum(s == 1.0 for s in refs),
            "wrong_below_1.0": sum(s is not None and s < 1.0 for s in bad), "wrong": len(bad),
            "errors": counts.errors, "timeouts": counts.timeouts, "reference_scores": refs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5, help="test rows per task")
    parser.add_argument("--only", help="comma-separated task names (default: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from grpo_reasoning_gym import TASKS, UNSAFE

    from importlib.metadata import version

    names = args.only.split(",") if args.only else list(TASKS)
    print(f"command: {' '.join(['python'] + sys.argv)}")
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}; load: {os.getloadavg()}")
    print(f"reasoning-gym {version('reasoning-gym')}, {len(names)} tasks, {args.rows} rows each")
    results, start = {}, time.monotonic()
    for name in names:
        if name in UNSAFE:
            results[name] = {"status": "refused"}
            continue
        results[name] = check(name, args.rows)
        r = results[name]
        if r["status"] != "ok" or r["reference_1.0"] < r["rows"] or r["wrong_below_1.0"] < r["wrong"] \
                or r["errors"] or r["timeouts"]:
            print(f"  {name}: {json.dumps({k: v for k, v in r.items()})}")
    ok = {n: r for n, r in results.items() if r["status"] == "ok"}
    clean = [n for n, r in ok.items() if r["reference_1.0"] == r["rows"] and r["wrong_below_1.0"] == r["wrong"]]
    print(f"tasks: {len(names)}; refused (code-evaluating checkers): {sum(r['status'] == 'refused' for r in results.values())}; "
          f"no rows with default options: {sum(r['status'] == 'no rows' for r in results.values())}; scored: {len(ok)}")
    print(f"  every reference 1.0 and every wrong answer below 1.0: {len(clean)} of {len(ok)}")
    print(f"  every reference 1.0: {sum(r['reference_1.0'] == r['rows'] for r in ok.values())} of {len(ok)}; "
          f"errors {sum(r['errors'] for r in ok.values())}, timeouts {sum(r['timeouts'] for r in ok.values())}; "
          f"{time.monotonic() - start:.0f} s")
    if args.json:
        print(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
