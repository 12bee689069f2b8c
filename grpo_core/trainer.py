"""The training run, top to bottom: check everything, load the policy, evaluate, train, evaluate, save.

Everything a user can get wrong (config, rewards, dataset, columns) is checked before the model
loads, so a mistake costs seconds. A run directory holds: config.toml (the resolved config, so
`grpo eval RUN_DIR` knows what was trained), metrics.jsonl, completions.jsonl, checkpoints/,
adapter/ (the final LoRA adapter), rewards.png and summary.json.
"""
from __future__ import annotations

import math
import os
import random
import signal
import sys
import threading
import time

import torch
from grpo_rewards import RewardMix, plugins
from grpo_rewards.errors import UserError

from . import checkpoint, cpu_threads
from .config import Config, config_to_toml
from .data import PromptStream, load_rows
from .evaluate import evaluate
from .losses import registry as losses
from .losses.compute import check_on_example
from .model import load_from_config, save_adapter, trainable_parameter_count
from .runlog import JsonlLog, plot_rewards
from .step import grpo_step


class Interrupted(UserError):
    """Ctrl-C (or SIGTERM) during training: the step in flight finished, a checkpoint was saved."""

    exit_status = 130  # the shell's status for a run stopped by Ctrl-C


class StopRequest:
    """The first Ctrl-C or SIGTERM asks the loop to stop after the step in flight (so the checkpoint is
    consistent); a second Ctrl-C stops at once, leaving the previous checkpoint as it was."""

    def __enter__(self):
        self.requested = False
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print("\ngrpo: stopping after this step and saving a checkpoint (Ctrl-C again to abort now)",
              file=sys.stderr)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


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


def prepare(cfg: Config, resume: bool = False):
    """The checks that need no model: reward mix, prompts, run directory. Returns what training needs."""
    registry = plugins.registry()
    mix = RewardMix.from_config(cfg.rewards, registry=registry)
    check_on_example(cfg.grpo, losses.check(cfg.grpo, registry)[0])  # grpo.loss / grpo.advantage and options
    needed = cfg.train.steps * cfg.grpo.prompts_per_step
    train_rows = load_rows(cfg.data, cfg.data.split, seed=cfg.data.seed, count=needed, registry=registry)
    eval_rows = load_rows(cfg.data, cfg.data.eval_split, seed=cfg.data.eval_seed, count=cfg.data.eval_limit,
                          registry=registry)[:cfg.data.eval_limit]
    run_dir = cfg.train.output_dir
    ckpt = None
    if resume:
        ckpt = checkpoint.latest(run_dir)
        if ckpt is None:
            raise UserError(f"--resume: no checkpoint in {os.path.join(run_dir, 'checkpoints')}")
    elif os.path.isdir(run_dir) and os.listdir(run_dir):
        raise UserError(f"train.output_dir {run_dir!r} already holds a run: continue it with --resume, or "
                        f"choose another with --set train.output_dir=...")
    return mix, train_rows, eval_rows, ckpt


def train(cfg: Config, *, resume: bool = False, on_step=None, progress: bool = True) -> dict:
    """Run GRPO as configured; returns the summary also written to summary.json."""
    from tqdm.auto import tqdm

    started = time.perf_counter()
    mix, train_rows, eval_rows, ckpt = prepare(cfg, resume)
    run_dir = cfg.train.output_dir
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "config.toml"), "w") as f:
        f.write(config_to_toml(cfg))

    random.seed(cfg.train.seed)
    torch.manual_seed(cfg.train.seed)
    with mix:
        mix.start()  # fork reward workers before the model (and any GPU context) exists
        model, tokenizer = load_from_config(cfg, adapter_path=os.path.join(ckpt, "adapter") if ckpt else None)
        device = next(model.parameters()).device
        params = [p for p in model.parameters() if p.requires_grad]
        trainable, total = trainable_parameter_count(model)
        print(f"grpo: {cfg.model.name} on {device}: {trainable:,} trainable of {total:,} parameters; "
              f"run directory {run_dir}", file=sys.stderr)
        optimizer = build_optimizer(model, cfg, params)
        scheduler = build_scheduler(optimizer, cfg, cfg.train.steps * cfg.grpo.num_iterations)
        generator = torch.Generator(device=device).manual_seed(cfg.train.seed)
        stream = PromptStream(train_rows, cfg.train.seed)
        governor = cpu_threads.governor_for(device)  # CPU only: threads follow the cores left free

        def run_eval(label):
            if governor is not None:
                governor.update()
            with tqdm(total=len(eval_rows), desc=f"eval ({label})", disable=not progress, leave=False) as bar:
                return evaluate(model, tokenizer, eval_rows, prompt_column=cfg.data.prompt, system=cfg.data.system,
                                mix=mix, max_new_tokens=cfg.eval.max_completion_length, progress=bar)

        first_step, extra = 1, {}
        if ckpt:
            state = checkpoint.load_state(ckpt)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            checkpoint.restore_rng(state["rng"], generator)
            stream.restore(state["data"])
            first_step, extra = state["step"] + 1, state["extra"]
            print(f"grpo: resuming {run_dir} after step {state['step']}", file=sys.stderr)
        else:
            extra["eval_before"] = run_eval("before")
            print(f"grpo: eval before training: accuracy {extra['eval_before']['accuracy']:.3f}", file=sys.stderr)
        extra.setdefault("train_seconds", 0.0)

        def save(step):
            checkpoint.save(run_dir, step, model, tokenizer, optimizer, scheduler, generator, stream.state(), extra)

        metrics = JsonlLog(os.path.join(run_dir, "metrics.jsonl"), first_step - 1 if ckpt else None)
        samples_log = JsonlLog(os.path.join(run_dir, "completions.jsonl"), first_step - 1 if ckpt else None)
        bar = tqdm(total=cfg.train.steps, initial=first_step - 1, desc="train", disable=not progress)
        try:
            with StopRequest() as stop:
                for step in range(first_step, cfg.train.steps + 1):
                    threads = governor.update() if governor is not None else None
                    mix.set_step(step)  # the reward weights in force (schedules)
                    record, samples = grpo_step(model, tokenizer, optimizer, scheduler, mix,
                                                stream.take(cfg.grpo.prompts_per_step), cfg, generator, params,
                                                draw=stream.take, sampling_state=extra.setdefault("sampling", {}))
                    if threads is not None:
                        record["cpu_threads"] = threads
                    extra["train_seconds"] += record["step_seconds"]
                    metrics.write({"step": step, **record})
                    for sample in samples:
                        samples_log.write({"step": step, **sample})
                    bar.update(1)
                    bar.set_postfix(reward=f"{record['reward/mean'] or 0:.3f}",
                                    step_s=f"{record['step_seconds']:.2f}")
                    if on_step is not None:
                        on_step(step, record)
                    if (cfg.train.save_every and step % cfg.train.save_every == 0) or step == cfg.train.steps \
                            or stop.requested:
                        save(step)
                    if stop.requested and step < cfg.train.steps:
                        raise Interrupted(f"stopped after step {step}; checkpoint saved in "
                                          f"{os.path.join(run_dir, 'checkpoints')}; continue with --resume")
        finally:
            bar.close()
            metrics.close()
            samples_log.close()

        eval_after = run_eval("after")
        save_adapter(model, tokenizer, os.path.join(run_dir, "adapter"))
    plot = plot_rewards(os.path.join(run_dir, "metrics.jsonl"), os.path.join(run_dir, "rewards.png"))
    summary = {"steps": cfg.train.steps, "wall_seconds": round(time.perf_counter() - started, 2),
               "train_seconds": round(extra["train_seconds"], 2), "resumed": bool(ckpt),
               "eval_before": extra["eval_before"], "eval_after": eval_after,
               "adapter": os.path.join(run_dir, "adapter"), "plot": plot}
    _write_json(os.path.join(run_dir, "summary.json"), summary)
    return summary


def _write_json(path, data):
    import json

    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)
