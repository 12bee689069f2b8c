"""`grpo train --nproc-per-node N`: torchrun, run for the user.

This is torchrun's own launcher (torch.distributed.run, the code behind the `torchrun` command), called in
this process: it starts N ranks of `python -m grpo_core train ...` here, and with --nnodes joins the other
machines' launchers at --rdzv-endpoint (rank 0's machine). What it adds to torchrun:

- the config is checked before any rank starts, so a mistake costs one line and no model load;
- OMP_NUM_THREADS defaults to this machine's cores divided among its ranks (torchrun's default is 1);
- torchrun's failure report (a traceback and a table) becomes one line naming the rank that failed first
  and how (killed by a signal, or its exit status: its own one-line error is printed above it);
- Ctrl-C or SIGTERM reaches every rank (torchrun forwards it to each rank's process group, reward workers
  included): each finishes its step, rank 0 saves a checkpoint, and torchrun kills what is still alive 30 s
  later. Ranks also die with this process (distributed.py), so none outlives it.
"""
from __future__ import annotations

import logging
import os

from grpo_rewards.errors import UserError

from .distributed import RankLost, check_world


class Stopped(UserError):
    """The launcher got Ctrl-C or SIGTERM and the ranks stopped after their step."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_status = 128 + signum  # 130 for Ctrl-C, 143 for SIGTERM, as the ranks exit

def torchrun_args(args) -> list[str]:
    """The torchrun command line (without `torchrun`) for `grpo train` args with --nproc-per-node & co."""
    out = ["--nproc-per-node", str(args.nproc_per_node), "--nnodes", str(args.nnodes)]
    if args.nnodes > 1:
        if args.rdzv_endpoint is None or args.node_rank is None:
            raise UserError("--nnodes > 1 needs --node-rank (this machine's, 0 on rank 0's machine) and "
                            "--rdzv-endpoint HOST:PORT (rank 0's machine, the same on every machine)")
        host, sep, port = args.rdzv_endpoint.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise UserError(f"--rdzv-endpoint: expected HOST:PORT, got {args.rdzv_endpoint!r}")
        if not 0 <= args.node_rank < args.nnodes:
            raise UserError(f"--node-rank must be in 0..{args.nnodes - 1} (got {args.node_rank})")
        out += ["--node-rank", str(args.node_rank), "--master-addr", host, "--master-port", port]
    else:
        out.append("--standalone")  # a rendezvous on a free local port
    train = ["train", *([args.config] if args.config else []), *(f"--set={o}" for o in args.overrides),
             *(["--resume"] if args.resume else []), *(["--overwrite"] if getattr(args, "overwrite", False) else []),
             *(["--no-progress"] if args.no_progress else [])]
    return out + ["--module", "grpo_core", *train]


def launch(args, cfg) -> None:
    """Run the ranks of `grpo train` through torchrun; returns when all of them finished."""
    if "WORLD_SIZE" in os.environ:
        raise UserError("--nproc-per-node inside a torchrun rank: run `grpo train` without it there")
    if args.nproc_per_node < 1 or args.nnodes < 1:
        raise UserError("--nproc-per-node and --nnodes must be at least 1")
    check_world(cfg.grpo, args.nproc_per_node * args.nnodes)
    argv = torchrun_args(args)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // args.nproc_per_node)))

    import torch

    if torch.cuda.is_available() and args.nproc_per_node > torch.cuda.device_count():
        raise UserError(f"--nproc-per-node {args.nproc_per_node}: this machine shows {torch.cuda.device_count()} "
                        f"CUDA device(s); one rank per GPU")
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    for name in list(logging.Logger.manager.loggerDict):  # their warnings would drown the ranks' one-liners
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        torchrun.run(torchrun.parse_args(argv))
    except ChildFailedError as exc:
        from .checkpoint import latest

        ckpt = latest(cfg.train.output_dir)  # on this machine; the run's is on rank 0's
        raise RankLost(describe_failure(exc.failures) + (
            f"; the last checkpoint is {ckpt}: continue with --resume" if ckpt else
            "; no checkpoint here (rank 0's machine has the run's)" if args.nnodes > 1 and args.node_rank else
            "; no checkpoint was saved: the same command starts again")) from None
    except SignalException as exc:
        raise Stopped(f"{exc.sigval.name}: the ranks were told to stop after their step (rank 0 saves a "
                      f"checkpoint); continue with --resume", int(exc.sigval)) from None


def describe_failure(failures: dict) -> str:
    """One line for torchrun's failures ({global rank: ProcessFailure}): the rank that failed first."""
    def caused(f):  # not a rank that stopped because another one failed, or that torchrun itself stopped
        return f.exitcode != RankLost.exit_status and f.signal_name() not in ("SIGTERM", "SIGINT")

    rank = min(failures, key=lambda r: (not caused(failures[r]), failures[r].timestamp, r))
    f = failures[rank]
    how = (f"was killed by {f.signal_name()}" if f.exitcode < 0 else
           f"exited with status {f.exitcode}" + (" (its error is above)" if f.exitcode in (1, 2) else ""))
    others = sorted(r for r in failures if r != rank)
    return (f"rank {rank} (local rank {f.local_rank}, pid {f.pid}) {how}; "
            + (f"rank{'s' if len(others) > 1 else ''} {', '.join(map(str, others))} stopped with it" if others
               else "the others had finished"))
