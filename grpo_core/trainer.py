"""The training run, top to bottom: check everything, load the policy, evaluate, train, evaluate, save.

Everything a user can get wrong (config, rewards, dataset, columns, prompt lengths, the run directory,
a resume that would change the run) is checked before the model loads (preflight.py, rundir.py,
resume.py), so a mistake costs seconds. A run directory holds: config.toml (the resolved config, so
`grpo eval RUN_DIR` knows what was trained), metrics.jsonl, completions.jsonl, checkpoints/, adapter/
(the final LoRA adapter), rewards.png and summary.json, and the event files of any train.report_to.

Whatever a run holds open (the reward workers, trackers, log files, later a generation server) is
entered into one ExitStack, ``resources``, so every way out closes all of it. SIGINT and SIGTERM act
alike in every phase (grpo_rewards/signals.py): during training the first one finishes the step in
flight and saves a checkpoint, elsewhere it stops at once; the exit status is 130 or 143.

Under torchrun every rank runs this; rank 0 alone owns the run directory and writes into it, and the
ranks agree on when to stop (distributed.py has the rest).
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import sys
import time
from dataclasses import dataclass

import torch
from grpo_rewards import RewardMix, plugins, signals
from grpo_rewards.errors import UserError

from . import checkpoint, cpu_threads, distributed, preflight, resume, rundir, seeds, trackers
from .config import Config, config_to_dict, config_to_toml
from .data import MAX_GENERATED_ROWS, PromptStream, is_task, load_rows
from .evaluate import evaluate
from .generation import GenerationFailed, open_sampler
from .losses import registry as losses
from .losses.compute import check_on_example
from .model import load_from_config, trainable_parameter_count
from .runlog import JsonlLog, plot_rewards
from .step import grpo_step


class Interrupted(UserError):
    """SIGINT or SIGTERM stopped the run; the message says what is saved and how to go on."""

    def __init__(self, message: str, signum: int = 2):
        super().__init__(message)
        self.exit_status = 128 + signum  # 130 for Ctrl-C, 143 for SIGTERM, as a shell reports them


def build_optimizer(model, cfg: Config, params: list):
    t = cfg.train
    if t.optimizer == "paged_adamw_8bit":
        if next(model.parameters()).device.type == "cuda":
            import bitsandbytes as bnb

            return bnb.optim.PagedAdamW8bit(params, lr=t.learning_rate, weight_decay=t.weight_decay)
        print("grpo: train.optimizer = 'paged_adamw_8bit' needs a CUDA GPU; using AdamW on this device",
              file=sys.stderr)
    return torch.optim.AdamW(params, lr=t.learning_rate, weight_decay=t.weight_decay)


def build_scheduler(optimizer, cfg: Config, total_updates: int):
    warmup, kind = cfg.train.warmup_steps * cfg.grpo.num_iterations, cfg.train.lr_scheduler

    def factor(update: int) -> float:
        if update < warmup:
            return (update + 1) / (warmup + 1)
        if kind == "constant":
            return 1.0
        progress = (update - warmup) / max(1, total_updates - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class Prepared:
    mix: RewardMix
    train_rows: list[dict]
    eval_rows: list[dict]
    ckpt: str | None = None      # the checkpoint to resume from
    state: dict | None = None    # its state.pt, already read and checked


def prepare(cfg: Config, resume_run: bool = False, overwrite: bool = False, *, main: bool = True,
            pool_size: int | None = None) -> Prepared:
    """The checks that need no model weights; then the run directory is claimed and config.toml written.
    ``main=False`` (torchrun ranks other than 0): the run directory and its checkpoint are rank 0's."""
    registry = plugins.registry()
    mix = RewardMix.from_config(cfg.rewards, registry=registry, pool_size=pool_size)
    trackers.check(cfg.train.report_to)
    check_on_example(cfg.grpo, losses.check(cfg.grpo, registry)[0])  # grpo.loss / grpo.advantage and options
    needed = cfg.train.steps * cfg.grpo.prompts_per_step
    if is_task(cfg.data.dataset, registry):  # a long run cycles through a bounded pool (data.py)
        needed = min(needed, MAX_GENERATED_ROWS)
    train_rows = load_rows(cfg.data, cfg.data.split, seed=cfg.data.seed, count=needed, registry=registry)
    eval_rows = load_rows(cfg.data, cfg.data.eval_split, seed=cfg.data.eval_seed, count=cfg.data.eval_limit,
                          registry=registry)[:cfg.data.eval_limit]
    splits = {cfg.data.split: train_rows, cfg.data.eval_split: eval_rows}
    preflight.check(cfg, mix, splits)
    if not main:
        return Prepared(mix, train_rows, eval_rows)
    ckpt, state = resume.select(cfg) if resume_run else (None, None)
    found = None if resume_run else rundir.check(cfg.train.output_dir, overwrite)
    preflight.check_lengths(cfg, splits)  # the slowest check (a tokenizer) last
    if found is not None:
        rundir.start(cfg.train.output_dir, found)
    rundir.write_text(os.path.join(cfg.train.output_dir, "config.toml"), config_to_toml(cfg))
    return Prepared(mix, train_rows, eval_rows, ckpt, state)


class Progress:
    """Where the run is, so that a stop can say in one line what it leaves and how to go on."""

    def __init__(self, run_dir: str):
        self.run_dir, self.phase, self.step, self.saved = run_dir, "start-up", 0, None

    def stopped(self, stop: signals.Stopped) -> Interrupted:
        how, where = f"stopped by {stop.name}", os.path.join(self.run_dir, "checkpoints")
        if self.phase == "finishing":
            text = f"{how} after the last step; its checkpoint is in {where}: --resume finishes the run"
        elif self.saved is not None:  # a resumed run's start-up, or any step after a first save
            when = "during start-up" if self.phase == "start-up" else f"during step {self.step + 1}"
            text = f"{how} {when}; the checkpoint of step {self.saved} is kept in {where}: continue with --resume"
        elif self.phase in ("start-up", "the evaluation before training"):
            text = f"{how} during {self.phase}, before step 1; nothing to resume: the same command starts the run again"
        else:
            text = f"{how} during step {self.step + 1}, before any checkpoint: start it again with --overwrite"
        return Interrupted(text, stop.signum)


def train(cfg: Config, *, resume: bool = False, overwrite: bool = False, on_step=None,
          progress: bool = True) -> dict | None:
    """Run GRPO as configured; returns the summary also written to summary.json (None on torchrun ranks but 0)."""
    dist = distributed.from_env(cfg.grpo)  # one process: SINGLE, and no torch.distributed at all
    where = Progress(cfg.train.output_dir)
    with signals.stop_on_signals(), dist.reporting(cfg.train.output_dir):
        try:
            summary = _run(cfg, where, resume, overwrite, on_step, progress and dist.is_main, dist)
        except signals.Stopped as stop:
            # torchrun stops the other ranks when one fails, and its signal can come before they reach the
            # collective that would name that rank: name it here all the same
            failed = dist.failure_elsewhere()
            dist.stop(distributed.RankLost(f"rank {dist.rank} stopping in step {where.step + 1}: {failed}")
                      if failed else where.stopped(stop))
    return summary if dist.is_main else None


def _run(cfg: Config, where: Progress, resume_run: bool, overwrite: bool, on_step, progress: bool, dist) -> dict:
    from tqdm.auto import tqdm

    started = time.perf_counter()
    run = prepare(cfg, resume_run, overwrite, main=dist.is_main, pool_size=dist.reward_workers())
    run_dir, mix, eval_rows, ckpt, state = cfg.train.output_dir, run.mix, run.eval_rows, run.ckpt, run.state
    random.seed(cfg.train.seed)
    torch.manual_seed(cfg.train.seed)
    with contextlib.ExitStack() as resources:
        resources.enter_context(mix)
        # The sampler before the model: a vLLM server measures the GPU memory it may take when it starts.
        sampler = resources.enter_context(open_sampler(cfg, run_dir, progress=progress, dist=dist))
        mix.start()  # fork reward workers before the model (and any GPU context or process group) exists
        dist.start(cfg.train.collective_timeout)
        state = dist.broadcast(state)  # rank 0 read the checkpoint: the nodes need no shared filesystem
        if state is not None:
            where.step = where.saved = state["step"]
        model, tokenizer = load_from_config(cfg, adapter_path=os.path.join(ckpt, "adapter") if ckpt else None)
        device = next(model.parameters()).device
        params = [p for p in model.parameters() if p.requires_grad]
        dist.same_start(params)  # every rank starts from rank 0's LoRA weights (its checkpoint's)
        if dist.rank:
            torch.manual_seed(cfg.train.seed + dist.rank)  # dropout masks of its own
        trainable, total = trainable_parameter_count(model)
        if dist.is_main:
            print(f"grpo: {cfg.model.name} on {device}" + (f" x {dist.world_size} ranks" if dist.enabled else "")
                  + f": {trainable:,} trainable of {total:,} parameters; run directory {run_dir}", file=sys.stderr)
        optimizer = build_optimizer(model, cfg, params)
        scheduler = build_scheduler(optimizer, cfg, cfg.train.steps * cfg.grpo.num_iterations)
        stream = PromptStream(run.train_rows, cfg.train.seed)  # the same global order on every rank
        governor = cpu_threads.governor_for(device)  # CPU only: threads follow the cores left free
        if device.type == "cpu":
            cpu_threads.reuse_freed_memory()  # a step's large tensors reuse the pages the last ones freed

        def run_eval(label):
            if governor is not None:
                governor.update()
            with tqdm(total=len(dist.split(eval_rows)), desc=f"eval ({label})", disable=not progress,
                      leave=False) as bar:
                return evaluate(model, tokenizer, eval_rows, prompt_column=cfg.data.prompt, system=cfg.data.system,
                                mix=mix, max_new_tokens=cfg.eval.max_completion_length, progress=bar,
                                max_prompt_length=cfg.data.max_prompt_length, dist=dist)

        first_step, extra = 1, {}
        if state is not None:
            checkpoint.check_optimizer(state, params)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            rng = distributed.rank_rng(state, dist.rank)
            if rng is not None:  # None: a rank the checkpoint did not have keeps its fresh seed
                checkpoint.restore_rng(rng)
            stream.restore(state["data"])
            first_step, extra = state["step"] + 1, state["extra"]
            if dist.is_main:
                print(f"grpo: resuming {run_dir} after step {state['step']} ({os.path.basename(ckpt)})"
                      + distributed.resume_note(state, dist), file=sys.stderr)
        else:
            where.phase = "the evaluation before training"
            extra["eval_before"] = run_eval("before")
            if dist.is_main:
                print(f"grpo: eval before training: accuracy {extra['eval_before']['accuracy']:.3f}",
                      file=sys.stderr)
        extra.setdefault("train_seconds", 0.0)
        sampler.start_at(first_step - 1)  # the adapter of step s has seen s - 1 steps

        def save(step):
            ranks = dist.gather({"rng": checkpoint.rng_state(), "data": stream.state()})  # every rank's
            if dist.is_main:
                checkpoint.save(run_dir, step, model, tokenizer, optimizer, scheduler, None, stream.state(), extra,
                                ranks=ranks)
            where.saved = step

        after = first_step - 1 if state is not None else None
        log = JsonlLog if dist.is_main else distributed.nowhere  # rank 0 writes the run's files
        metrics = resources.enter_context(contextlib.closing(log(os.path.join(run_dir, "metrics.jsonl"), after)))
        samples_log = resources.enter_context(
            contextlib.closing(log(os.path.join(run_dir, "completions.jsonl"), after)))
        watchers = resources.enter_context(trackers.Trackers(cfg.train.report_to if dist.is_main else [], run_dir,
                                                             config_to_dict(cfg), first_step))
        bar = resources.enter_context(tqdm(total=cfg.train.steps, initial=first_step - 1, desc="train",
                                           disable=not progress))
        where.phase = "training"
        stopping = False
        with signals.graceful("stopping after this step and saving a checkpoint") as stop:
            for step in range(first_step, cfg.train.steps + 1):
                threads = governor.update() if governor is not None else None
                before = stream.state()
                mix.set_step(step)  # the reward weights in force (schedules)
                rows, first = dist.shard(stream.take(cfg.grpo.prompts_per_step))
                generators = seeds.PromptGenerators(cfg.train.seed, step, first, device)
                try:
                    record, samples = grpo_step(model, tokenizer, optimizer, scheduler, mix, rows, cfg, generators,
                                                params, sampler, draw=stream.take,
                                                sampling_state=extra.setdefault("sampling", {}), dist=dist)
                except GenerationFailed as e:  # nothing of this step happened yet: keep the last one
                    if dist.enabled:  # the other ranks are mid-step: they stop, naming this one (distributed.py)
                        raise
                    stream.restore(before)
                    save(step - 1)
                    raise GenerationFailed(f"{e}; checkpoint saved after step {step - 1} in "
                                           f"{os.path.join(run_dir, 'checkpoints')}; continue with --resume") from None
                record.update(dist.mean_metrics(sampler.step_metrics()))
                samples = dist.gather_samples(samples, cfg.train.log_completions)
                if threads is not None:
                    record["cpu_threads"] = threads
                extra["train_seconds"] += record["step_seconds"]
                metrics.write({"step": step, **record})
                for sample in samples:
                    samples_log.write({"step": step, **sample})
                watchers.log(step, record)
                bar.update(1)
                bar.set_postfix(reward=f"{record['reward/mean'] or 0:.3f}", step_s=f"{record['step_seconds']:.2f}")
                if on_step is not None:
                    on_step(step, record)
                stopping = dist.any(stop.requested)  # every rank stops after the same step
                if (cfg.train.save_every and step % cfg.train.save_every == 0) or step == cfg.train.steps \
                        or stopping:
                    save(step)
                    stopping = dist.any(stop.requested)  # a signal during the save stops here too
                signum = stop.signum or signal.SIGTERM  # a rank told to stop by another one: as torchrun would
                where.step = step
                if stopping and step < cfg.train.steps:
                    dist.stop(Interrupted(f"stopped by {signals.Stopped(signum).name} after step {step}; checkpoint "
                                          f"saved in {os.path.join(run_dir, 'checkpoints')}; continue with --resume",
                                          signum))
        where.phase = "finishing"
        if stopping:  # asked during the last step: it is saved; the final evaluation can wait
            dist.stop(where.stopped(signals.Stopped(signum)))
        eval_after = run_eval("after")
        if dist.is_main:
            checkpoint.save_final_adapter(run_dir, model, tokenizer)
    plot = plot_rewards(os.path.join(run_dir, "metrics.jsonl"), os.path.join(run_dir, "rewards.png")) \
        if dist.is_main else None
    summary = {"steps": cfg.train.steps, "wall_seconds": round(time.perf_counter() - started, 2),
               "train_seconds": round(extra["train_seconds"], 2), "resumed": state is not None,
               "eval_before": extra["eval_before"], "eval_after": eval_after,
               "adapter": os.path.join(run_dir, "adapter"), "plot": plot}
    if dist.is_main:
        _write_json(os.path.join(run_dir, "summary.json"), summary)
    return summary


def _write_json(path, data):
    import json

    rundir.write_text(path, json.dumps(data, indent=2))
