"""The `grpo` command. Subcommands import what they need when they run, so `grpo score` and
`grpo plugins` never import torch, and a config error is reported before any model loads."""
from __future__ import annotations

import os
import sys

from grpo_rewards import signals

ENTRY_POINT = __name__ == "__main__" or os.path.basename(sys.argv[0]) == "grpo"  # the command, not an import
if ENTRY_POINT:
    signals.defer_until_ready()  # before the imports below, a Ctrl-C or SIGTERM from now on gets its one line

import argparse
import json
import signal
import threading

from grpo_rewards import cli as rewards_cli
from grpo_rewards import streams
from grpo_rewards.errors import UserError


def quiet_libraries() -> None:
    """Keep the terminal for our own progress: no weight-loading bars or advisory notes from libraries."""
    import logging
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("bitsandbytes", "transformers", "peft", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    import transformers

    transformers.utils.logging.disable_progress_bar()


def _train(args) -> None:
    from .config import load_config

    cfg = load_config(args.config, args.overrides)
    if args.nproc_per_node is not None or args.nnodes > 1:
        from .launch import launch  # torchrun starts the ranks, each one this command without these flags

        return launch(args, cfg)
    quiet_libraries()
    from .trainer import train  # torch loads here, after the config is known to be valid

    summary = train(cfg, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    if summary is None:  # a torchrun rank other than 0: rank 0 reports
        return
    before, after = summary["eval_before"], summary["eval_after"]
    print(f"grpo: trained {summary['steps']} steps in {summary['wall_seconds']:.0f} s; eval accuracy "
          f"{before['accuracy']:.3f} -> {after['accuracy']:.3f}; adapter in {summary['adapter']}", file=sys.stderr)


def _eval(args) -> None:
    from .config import load_config

    target = args.target
    run_config = os.path.join(target, "config.toml")
    if os.path.isdir(target):
        if not os.path.isfile(run_config):
            raise UserError(f"{target}: not a run directory (no config.toml in it)")
        adapter = os.path.join(target, "adapter")
        if not os.path.exists(adapter):  # a run still going, or stopped: its newest checkpoint that reads back
            from .checkpoint import newest_valid

            ckpt, _, skipped = newest_valid(target)
            if ckpt is None:
                why = f" ({'; '.join(skipped)})" if skipped else ""
                raise UserError(f"{target}: the run has no adapter yet (no adapter/ and no usable checkpoint{why})")
            adapter = os.path.join(ckpt, "adapter")
        config_path = run_config
    else:
        adapter, config_path = None, target
    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"data.eval_seed={args.seed}")
    if args.limit is not None:
        overrides.append(f"data.eval_limit={args.limit}")
    if args.samples is not None and args.samples < 1:
        raise UserError(f"--samples must be at least 1 (got {args.samples})")
    cfg = load_config(config_path, overrides)
    quiet_libraries()
    from .evaluate import evaluate_config

    result = evaluate_config(cfg, adapter, progress=not args.json, samples=args.samples or 0)
    result.update({"target": target, "adapter": adapter, "seed": cfg.data.eval_seed})
    out = streams.results()
    if args.json:
        print(json.dumps(result), file=out)
        return
    print(f"accuracy {result['accuracy']:.4f} on {result['samples']} prompts "
          f"({'adapter ' + adapter if adapter else 'base model'}, eval seed {cfg.data.eval_seed})", file=out)
    if args.samples:
        k = args.samples
        passes = "  ".join(f"pass@{n} {v:.4f}" for n, v in result["pass@k"].items())
        print(f"{k} samples per prompt (temperature {cfg.grpo.temperature:g}): mean@{k} {result[f'mean@{k}']:.4f}  {passes}",
              file=out)
    for name, mean in result["rewards"].items():
        print(f"  {name}: {'-' if mean is None else f'{mean:.4f}'}", file=out)


def _plan(args) -> None:
    from .plan import run_plan

    code = run_plan(args.config, args.overrides, args.gpu_memory, args.json, prompt_length=args.prompt_length,
                    world_size=args.world_size)
    if code:
        raise SystemExit(code)  # 1: the predicted peak does not fit the budget


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grpo", description="GRPO fine-tuning driven by reward plugins.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train with GRPO (no CONFIG: the built-in tiny CPU example)")
    p.add_argument("config", nargs="?", help="a TOML config; default: the embedded tiny arithmetic run")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (repeatable), e.g. --set grpo.beta=0.04")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in train.output_dir from its newest complete checkpoint")
    again.add_argument("--overwrite", action="store_true", help="replace the run in train.output_dir with a new one")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    g = p.add_argument_group("more than one GPU (runs torchrun; see README)")
    g.add_argument("--nproc-per-node", type=int, metavar="N", help="ranks on this machine (one per GPU)")
    g.add_argument("--nnodes", type=int, default=1, metavar="M", help="machines taking part (default 1)")
    g.add_argument("--node-rank", type=int, metavar="R", help="this machine's index, 0 on rank 0's machine")
    g.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="rank 0's machine, the same on every machine")
    p.set_defaults(handler=_train)

    p = sub.add_parser("eval", help="greedy evaluation (and pass@k with --samples) of a config's base model or a run's adapter")
    p.add_argument("target", help="a config file (evaluates the base model) or a run directory (its adapter)")
    p.add_argument("--seed", type=int, help="eval seed for a generated task (regenerates the prompts)")
    p.add_argument("--limit", type=int, help="number of eval prompts")
    p.add_argument("--samples", type=int, metavar="K",
                   help="also sample K completions per prompt as training does: mean@K and pass@k (k = 1, 2, 4, .., K)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_eval)

    p = sub.add_parser("plan", help="predict a training step's peak GPU memory from the model config alone")
    p.add_argument("config", nargs="?", help="a TOML config; default: the embedded tiny run")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--gpu-memory", help="a budget to check against, e.g. 24GiB (exit 1 when it does not fit)")
    p.add_argument("--prompt-length", type=int, help="prompt tokens to plan for (default 256)")
    p.add_argument("--world-size", type=int, default=1, metavar="N",
                   help="GPUs sharing each step (torchrun ranks): the plan is per GPU")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_plan)

    rewards_cli.add_subcommands(sub)
    return parser


def apply_openmp_defaults() -> None:
    """OpenMP threads spin before they sleep. Sleeping soon (PASSIVE, or a short spin) slows every small op
    on an idle machine, where a sleeping thread is slow to wake (a virtual machine's idle core most of all);
    beside another busy process the thread governor (cpu_threads.py) runs fewer threads, so a spinning
    teammate no longer holds a core the other process needs. Measured against shorter spins in BENCHMARKS.md.
    Takes effect only before torch is imported."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "1000000")


def main(argv=None) -> int:
    apply_openmp_defaults()  # no subcommand has imported torch yet
    try:
        with signals.stop_on_signals():  # a signal that came during the imports is raised here
            args = build_parser().parse_args(argv)
    except KeyboardInterrupt as exc:
        return _done(rewards_cli.run(_raise, exc))  # one line and the signal's exit status, like any other stop
    return _done(rewards_cli.run(args.handler, args))


def _done(status: int) -> int:
    """The command is over, its cleanup done: a signal during the interpreter's shutdown changes nothing."""
    if ENTRY_POINT and threading.current_thread() is threading.main_thread():
        for sig in signals.STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
    return status


def _raise(exc):
    raise exc


if __name__ == "__main__":
    sys.exit(main())
