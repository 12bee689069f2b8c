"""torch.profiler's table of one `grpo train` step on the TRL benchmark's work (CPU): where the time goes.

Builds the benchmark's model and prompts (benchmarks/trl_vs_grpo.py), runs `grpo train` in this process
for --step steps, and profiles the last one: the ops that took the most time, with their call counts.
Profile before optimising; ablation.py then says what a change bought.

    python benchmarks/profile_step.py [--step 3] [--rows 25] [--sort self_cpu_time_total] [--vocab 4096]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trl_vs_grpo import LENGTH_MAX, OURS_CONFIG, make_model, make_prompts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", type=int, default=3, help="the step to profile (earlier ones warm up)")
    parser.add_argument("--rows", type=int, default=25, help="rows of the table")
    parser.add_argument("--sort", default="self_cpu_time_total")
    parser.add_argument("--vocab", type=int, default=4096, help="vocabulary size of the random model")
    parser.add_argument("--shapes", action="store_true", help="one row per op and input shapes")
    args = parser.parse_args()

    from grpo_core.cli import apply_openmp_defaults

    apply_openmp_defaults()  # as `grpo train` does, before torch loads
    import os

    os.environ.update(HF_HUB_OFFLINE="1", GRPO_PLUGINS="grpo-format", TRANSFORMERS_VERBOSITY="error")
    from torch.profiler import profile

    import grpo_core.trainer as trainer
    from grpo_core import cli

    plain_step, seen = trainer.grpo_step, []

    def profiled_step(*a, **k):
        seen.append(1)
        if len(seen) != args.step:
            return plain_step(*a, **k)
        with profile(record_shapes=args.shapes) as prof:
            out = plain_step(*a, **k)
        print(prof.key_averages(group_by_input_shape=args.shapes).table(sort_by=args.sort, row_limit=args.rows))
        print(f"step {args.step}: {out[0]['step_seconds']:.3f} s, generation {out[0]['generation_seconds']:.3f} s")
        return out

    trainer.grpo_step = profiled_step
    with tempfile.TemporaryDirectory(prefix="profile-step-") as tmp:
        work = Path(tmp)
        make_model(work / "model", args.vocab)
        make_prompts(work / "prompts.jsonl")
        config = work / "ours.toml"
        config.write_text(OURS_CONFIG.format(model=json.dumps(str(work / "model")),
                                             data=json.dumps(str(work / "prompts.jsonl")), steps=args.step, lr=1e-5,
                                             out=json.dumps(str(work / "run")), length_max=LENGTH_MAX))
        cli.main(["train", str(config), "--no-progress", "--set", "grpo.min_completion_length=48",
                  "--set", "grpo.max_completion_length=48"])


if __name__ == "__main__":
    main()
