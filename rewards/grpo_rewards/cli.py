"""`grpo score` and `grpo plugins`: the reward side of the command line (no torch imported here).

The `grpo` console script (grpo-core) dispatches to these; `python -m grpo_rewards` runs them
without the engine installed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tomllib

from . import plugins
from .errors import UserError
from .mix import Counts, RewardMix

BATCH_ROWS = 512


def read_rewards_config(path: str) -> list:
    """The ``[[rewards]]`` of a mix file or of a full training config (other sections are ignored)."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise UserError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"config path is a directory, not a TOML file: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: invalid TOML: {exc}") from None
    rewards = data.get("rewards")
    if not rewards:
        raise UserError(f"{path}: no [[rewards]] tables; a mix needs at least one (see `grpo plugins`)")
    return rewards


def read_samples(path: str):
    """Yield the rows of a JSONL file, naming the line of any row that is not usable."""
    try:
        f = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"input file not found: {path}") from None
    with f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}:{number}: invalid JSON: {exc.msg} (column {exc.colno})") from None
            if not isinstance(row, dict):
                raise UserError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            if not isinstance(row.get("completion"), str):
                raise UserError(f"{path}:{number}: row has no 'completion' text field")
            yield row


def _batches(rows, size):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second (plain stdlib)."""

    def __init__(self, total: int | None, label: str, enabled: bool):
        self.total, self.label, self.enabled = total, label, enabled
        self.done, self.start, self._drawn = 0, time.monotonic(), 0.0

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._drawn > 0.1 or self.done == self.total):
            self._drawn = now
            rate = self.done / max(now - self.start, 1e-9)
            if self.total:
                filled = int(30 * self.done / self.total)
                bar = "#" * filled + "-" * (30 - filled)
                text = f"{self.label} [{bar}] {self.done}/{self.total} ({rate:.0f}/s)"
            else:
                text = f"{self.label} {self.done} ({rate:.0f}/s)"
            sys.stderr.write("\r" + text)
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            sys.stderr.write("\n")


def _count_lines(path: str) -> int | None:
    if path == "-":
        return None
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def score_file(config: str, input_path: str, output_path: str | None, workers: int | None = None,
               progress: bool | None = None) -> dict:
    """Score every row of ``input_path``; returns the summary printed at the end."""
    entries = read_rewards_config(config)
    if input_path != "-" and not os.path.exists(input_path):
        raise UserError(f"input file not found: {input_path}")
    mix = RewardMix.from_config(entries, pool_size=workers)
    total_rows = _count_lines(input_path)
    show = sys.stderr.isatty() if progress is None else progress
    bar = Progress(total_rows, "scoring", show and (total_rows or 0) >= 1)
    counts = {name: Counts() for name in mix.names}
    sums = {name: 0.0 for name in mix.names}
    total_sum, total_n, rows = 0.0, 0, 0
    out = open(output_path, "w", encoding="utf-8") if output_path and output_path != "-" else sys.stdout
    try:
        with mix:
            for batch in _batches(read_samples(input_path), BATCH_ROWS):
                columns = sorted({k for row in batch for k in row} - {"completion", "prompt"})
                result = mix.score([row["completion"] for row in batch],
                                   prompts=[row.get("prompt") for row in batch],
                                   **{c: [row.get(c) for row in batch] for c in columns})
                for i, row in enumerate(batch):
                    scores = {name: result.rewards[name][i] for name in mix.names}
                    out.write(json.dumps({**row, "rewards": scores, "total": result.total[i]}) + "\n")
                    if result.total[i] is not None:
                        total_sum += result.total[i]
                        total_n += 1
                for name in mix.names:
                    counts[name].add(result.counts[name])
                    sums[name] += sum(s for s in result.rewards[name] if s is not None)
                rows += len(batch)
                bar.update(len(batch))
    finally:
        bar.close()
        if out is not sys.stdout:
            out.close()
    summary = {"rows": rows, "total_mean": total_sum / total_n if total_n else None, "rewards": {}}
    for name in mix.names:
        c = counts[name]
        summary["rewards"][name] = {"mean": sums[name] / c.scored if c.scored else None, "scored": c.scored,
                                    "unscorable": c.unscorable, "errors": c.errors, "timeouts": c.timeouts}
    return summary


def print_summary(summary: dict, file=sys.stderr) -> None:
    print(f"scored {summary['rows']} rows; mean total "
          f"{_fmt(summary['total_mean'])}", file=file)
    width = max([len(n) for n in summary["rewards"]] + [6])
    print(f"  {'reward':<{width}}  {'mean':>8}  {'scored':>7}  {'unscorable':>10}  {'errors':>6}  {'timeouts':>8}",
          file=file)
    for name, r in summary["rewards"].items():
        print(f"  {name:<{width}}  {_fmt(r['mean']):>8}  {r['scored']:>7}  {r['unscorable']:>10}  "
              f"{r['errors']:>6}  {r['timeouts']:>8}", file=file)


def _fmt(x):
    return "-" if x is None else f"{x:.4f}"


def plugins_report() -> dict:
    reg = plugins.registry()
    return {"plugins": [{"name": p.name, "distribution": p.distribution, "version": p.version,
                         "rewards": p.rewards, "tasks": p.tasks, "losses": p.losses, "advantages": p.advantages,
                         "error": p.error} for p in reg.plugins],
            "GRPO_PLUGINS": os.environ.get("GRPO_PLUGINS")}


def print_plugins(as_json: bool) -> None:
    report = plugins_report()
    if as_json:
        print(json.dumps(report, indent=2))
        return
    if not report["plugins"]:
        why = " (GRPO_PLUGINS is set to the empty string)" if report["GRPO_PLUGINS"] == "" else ""
        print(f"no plugins loaded{why}")
    for p in report["plugins"]:
        head = f"{p['distribution'] or p['name']} {p['version'] or ''}".rstrip()
        if p["error"]:
            print(f"{head}  FAILED: {p['error']}")
            continue
        print(head)
        for kind, label in (("rewards", "reward"), ("tasks", "task"), ("losses", "loss"), ("advantages", "advantage")):
            for name in p[kind]:
                print(f"  {label:<7} {name}")


def add_subcommands(sub) -> None:
    """Add `score` and `plugins` to an argparse subparsers object (shared with the engine's CLI)."""
    p = sub.add_parser("score", help="score a JSONL file of completions with a reward mix")
    p.add_argument("--config", required=True, help="a TOML file with [[rewards]] tables (a training config works)")
    p.add_argument("--input", required=True, help="JSONL rows with 'completion', optional 'prompt' and columns; - for stdin")
    p.add_argument("--output", help="where to write scored rows (JSONL); default: stdout")
    p.add_argument("--workers", type=int, help="worker processes for isolated rewards (default: CPU cores)")
    p.set_defaults(handler=_run_score)
    p = sub.add_parser("plugins", help="list installed plugins and what they register (rewards, tasks, losses, advantages)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=lambda args: print_plugins(args.json))


def _run_score(args) -> None:
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be at least 1")
    print_summary(score_file(args.config, args.input, args.output, workers=args.workers))


def run(handler, args) -> int:
    """Run a subcommand: a UserError becomes one line on stderr and its exit status (2 unless it says)."""
    try:
        handler(args)
    except UserError as exc:
        print(f"grpo: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("grpo: interrupted", file=sys.stderr)
        return 130
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grpo_rewards", description="Score completions with reward plugins.")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return run(args.handler, args)
