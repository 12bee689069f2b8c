"""`grpo score` and `grpo plugins`: the reward side of the command line (no torch imported here).

The `grpo` console script (grpo-core) dispatches to these; `python -m grpo_rewards` runs them
without the engine installed.

`grpo score` exits 0 when every reward answered at least one row, 1 when a reward answered none
(each of its rows errored, timed out or was unscorable; ``--allow-unscored`` turns that into 0),
2 for a user error (bad config, input or option: nothing scored), 130 when interrupted. The
summary is printed in every case where scoring ran.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import time
import tomllib

from . import plugins, signals, streams
from .errors import UserError
from .inputs import BATCH_ARGUMENTS
from .mix import Counts, RewardMix
from .output import Output
from .text import is_messages

BATCH_ROWS = 512


def read_rewards_config(path: str) -> list:
    """The ``[[rewards]]`` of a mix file or of a full training config (other sections are ignored)."""
    try:
        with open(path, "rb") as f:
            data = tomllib.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise UserError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"config path is a directory, not a TOML file: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: invalid TOML: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: invalid TOML: {exc}") from None
    rewards = data.get("rewards")
    if not rewards:
        raise UserError(f"{path}: no [[rewards]] tables; a mix needs at least one (see `grpo plugins`)")
    return rewards


def _open_input(path: str):
    """The input as a binary stream (lines are decoded one by one, so an error can name its line)."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise UserError(f"input file not found: {path}") from None
    except IsADirectoryError:
        raise UserError(f"--input {path} is a directory, not a JSONL file") from None
    except OSError as exc:
        raise UserError(f"cannot read --input {path}: {exc.strerror or exc}") from None


def read_samples(path: str):
    """Yield the rows of a JSONL file, naming the line of any row that is not usable."""
    f = _open_input(path)
    with f:
        number = 0
        while True:
            try:
                raw = f.readline()
            except OSError as exc:
                raise UserError(f"cannot read --input {path}: {exc.strerror or exc}") from None
            if not raw:
                return
            number += 1
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UserError(f"{path}:{number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte "
                                f"{exc.start + 1} of the line)") from None
            if number == 1:
                line = line.removeprefix("\ufeff")  # a byte-order mark some editors write
            line = line.rstrip("\r\n")  # so that a column past the end is reported on this line
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}:{number}: invalid JSON: {exc.msg} (column {exc.colno})") from None
            if not isinstance(row, dict):
                raise UserError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            completion = row.get("completion")
            if not isinstance(completion, str) and not is_messages(completion):
                raise UserError(f"{path}:{number}: row has no 'completion' text field (a string or a list of "
                                f"chat messages)")
            prompt = row.get("prompt")
            if prompt is not None and not isinstance(prompt, str) and not is_messages(prompt):
                raise UserError(f"{path}:{number}: 'prompt' must be text or a list of chat messages, "
                                f"got {type(prompt).__name__}")
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
    try:
        with open(path, "rb") as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return None  # read_samples names the problem


def score_file(config: str, input_path: str, output_path: str | None, workers: int | None = None,
               progress: bool | None = None) -> dict:
    """Score every row of ``input_path``; returns the summary printed at the end."""
    entries = read_rewards_config(config)
    if input_path != "-":
        _open_input(input_path).close()  # a missing or unreadable input fails now, before any output exists
    out = Output(output_path, input_path)
    try:
        mix = RewardMix.from_config(entries, pool_size=workers)
        total_rows = _count_lines(input_path)
        show = sys.stderr.isatty() if progress is None else progress
        bar = Progress(total_rows, "scoring", show and (total_rows or 0) >= 1)
        counts = {name: Counts() for name in mix.names}
        sums = {name: 0.0 for name in mix.names}
        total_sum, total_n, rows = 0.0, 0, 0
        try:
            with mix:
                for batch in _batches(read_samples(input_path), BATCH_ROWS):
                    columns = sorted({k for row in batch for k in row} - {"completion", "prompt"})
                    if not rows:
                        mix.check_columns([*columns, *BATCH_ARGUMENTS], f"--input {input_path}")
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
        out.commit()
    finally:
        out.discard()
    summary = {"rows": rows, "total_mean": total_sum / total_n if total_n else None, "rewards": {}}
    for name in mix.names:
        c = counts[name]
        summary["rewards"][name] = {"mean": sums[name] / c.scored if c.scored else None, "scored": c.scored,
                                    "unscorable": c.unscorable, "errors": c.errors, "timeouts": c.timeouts,
                                    "answered": c.answered}
    return summary


def unanswered(summary: dict) -> list[str]:
    """The rewards that answered no row at all (every row errored, timed out or was unscorable)."""
    if not summary["rows"]:
        return []
    return [name for name, r in summary["rewards"].items() if not r["answered"]]


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
    out = streams.results()
    if as_json:
        print(json.dumps(report, indent=2), file=out)
        return
    if not report["plugins"]:
        why = " (GRPO_PLUGINS is set to the empty string)" if report["GRPO_PLUGINS"] == "" else ""
        print(f"no plugins loaded{why}", file=out)
    for p in report["plugins"]:
        head = f"{p['distribution'] or p['name']} {p['version'] or ''}".rstrip()
        if p["error"]:
            print(f"{head}  FAILED: {p['error']}", file=out)
            continue
        print(head, file=out)
        for kind, label in (("rewards", "reward"), ("tasks", "task"), ("losses", "loss"), ("advantages", "advantage")):
            for name in p[kind]:
                print(f"  {label:<7} {name}", file=out)


def add_subcommands(sub) -> None:
    """Add `score` and `plugins` to an argparse subparsers object (shared with the engine's CLI)."""
    p = sub.add_parser("score", help="score a JSONL file of completions with a reward mix")
    p.add_argument("--config", required=True, help="a TOML file with [[rewards]] tables (a training config works)")
    p.add_argument("--input", required=True, help="JSONL rows with 'completion', optional 'prompt' and columns; - for stdin")
    p.add_argument("--output", help="where to write scored rows (JSONL); default: stdout")
    p.add_argument("--workers", type=int, help="worker processes for isolated rewards (default: CPU cores)")
    p.add_argument("--allow-unscored", action="store_true",
                   help="exit 0 even when a reward answered no row (by default that exits 1)")
    p.set_defaults(handler=_run_score)
    p = sub.add_parser("plugins", help="list installed plugins and what they register (rewards, tasks, losses, advantages)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=lambda args: print_plugins(args.json))


def _run_score(args) -> int:
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be at least 1")
    summary = score_file(args.config, args.input, args.output, workers=args.workers)
    print_summary(summary)
    failed = unanswered(summary)
    if failed and not args.allow_unscored:
        detail = "; ".join(f"{name}: {r['errors']} errors, {r['timeouts']} timeouts, {r['unscorable']} unscorable"
                           for name, r in summary["rewards"].items() if name in failed)
        print(f"grpo: error: {len(failed)} reward(s) answered none of the {summary['rows']} rows, every row "
              f"errored, timed out or was unscorable ({detail}); --allow-unscored exits 0 anyway", file=sys.stderr)
        return 1
    return 0


def run(handler, args) -> int:
    """Run a subcommand: a UserError becomes one line on stderr and its exit status (2 unless it says);
    otherwise the handler's own status (None is 0).

    Only results reach stdout (streams.py). SIGINT and SIGTERM stop the command alike, cleaning up on
    the way out (signals.py): exit status 130 or 143. A file-system error nothing else caught is one
    line naming the path and the cause, exit status 2.
    """
    try:
        with signals.stop_on_signals(), streams.results_only():
            status = handler(args)
    except UserError as exc:
        print(f"grpo: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt as exc:
        stopped = exc if isinstance(exc, signals.Stopped) else signals.Stopped()
        print(f"grpo: stopped by {stopped.name}", file=sys.stderr)
        return stopped.exit_status
    except BrokenPipeError:  # the reader of our stdout went away (`grpo score ... | head`): as a shell tool would
        return 128 + 13
    except OSError as exc:
        print(f"grpo: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    return status or 0


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system error: the path(s) and the cause, "no space left on device" for ENOSPC."""
    cause = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc)).lower()
    paths = [p for p in (exc.filename, getattr(exc, "filename2", None)) if p]
    return f"{' -> '.join(map(str, paths))}: {cause}" if paths else cause


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grpo_rewards", description="Score completions with reward plugins.")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return run(args.handler, args)
