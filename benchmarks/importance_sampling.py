"""How far a vLLM server's log-probs are from the trainer's, and what each importance_sampling mode does with
the difference: the measurement behind generation.importance_sampling's default.

The shipped tiny model (trainer in float32 with a LoRA adapter moved away from the identity) samples 64 prompts
x G=8 at temperature 1 through a managed server, once per server dtype (float32: the same numbers as the
trainer; bfloat16: what a GPU server runs by default) and sampling setting (plain; top_p = 0.9). For each,
the per-token |log p_trainer - log p_sampler| and, per mode, the mean weight, the share of tokens whose
ratio the cap truncates (token_truncate) and the share of sequences dropped (sequence_mask).

    python benchmarks/importance_sampling.py [--vllm-python .venv-vllm/bin/python]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vllm-python", default=os.path.join(ROOT, ".venv-vllm", "bin", "python"))
    args = parser.parse_args()
    import torch
    from grpo_rewards import plugins

    from grpo_core.config import load_config
    from grpo_core.cpu_threads import cpuinfo
    from grpo_core.data import encode_prompt, load_rows
    from grpo_core.generation.vllm import VllmSampler
    from grpo_core.logprobs import completion_logprobs
    from grpo_core.losses.sampler import importance_weights
    from grpo_core.model import load_from_config

    cpu = cpuinfo("model name") or "?"
    print("command: python benchmarks/importance_sampling.py")
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; date {datetime.date.today()}")
    print(f"load before: {open('/proc/loadavg').read().strip()}")
    command = json.dumps([args.vllm_python, "-m", "vllm.entrypoints.openai.api_server"])
    print("| server dtype | top_p | tokens | mean abs diff | max abs diff | token_truncate: mean w, tokens capped "
          "| sequence_mask: mean w, sequences dropped |")
    print("|---|---|---|---|---|---|---|")
    for dtype in ("float32", "bfloat16"):
        run = tempfile.mkdtemp(prefix="grpo-is-")
        cfg = load_config(None, ["generation.backend=vllm", f"generation.command={command}",
                                 f'generation.dtype="{dtype}"', 'generation.env={VLLM_CPU_KVCACHE_SPACE="1"}',
                                 'generation.extra_args=["--enforce-eager"]', f"train.output_dir={run}"])
        with VllmSampler(cfg, run, progress=False) as sampler:
            torch.manual_seed(0)
            model, tokenizer = load_from_config(cfg)
            with torch.no_grad():
                g = torch.Generator().manual_seed(1)
                for name, p in model.named_parameters():
                    if "lora_B" in name:
                        p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            rows = load_rows(cfg.data, "train", seed=11, count=64, registry=plugins.registry())
            prompts = [encode_prompt(tokenizer, r["prompt"], None) for r in rows]
            for top_p in (1.0, 0.9):
                r = sampler.sample_groups(model, tokenizer, prompts, num_generations=8, max_new_tokens=8,
                                          temperature=1.0, top_p=top_p, generator=torch.Generator().manual_seed(0))
                with torch.no_grad():
                    trainer, _ = completion_logprobs(model, r.input_ids, r.attention_mask, r.completion_ids.shape[1])
                mask = r.completion_mask.float()
                diff = (trainer - r.sampler_logprobs).abs()[mask.bool()]
                cells = []
                for mode in ("token_truncate", "sequence_mask"):
                    w = importance_weights(trainer, r.sampler_logprobs, mask, mode, 3.0)
                    mean_w = float((w * mask).sum() / mask.sum())
                    if mode == "token_truncate":
                        capped = float((((trainer - r.sampler_logprobs) > torch.log(torch.tensor(3.0))).float() * mask).sum()
                                       / mask.sum())
                        cells.append(f"{mean_w:.4f}, {capped:.2%}")
                    else:
                        dropped = float(((w * mask).sum(1) == 0).float().mean())
                        cells.append(f"{mean_w:.4f}, {dropped:.2%}")
                print(f"| {dtype} | {top_p} | {int(mask.sum())} | {float(diff.mean()):.2e} | {float(diff.max()):.2e} | "
                      f"{cells[0]} | {cells[1]} |", flush=True)
    print(f"load after: {open('/proc/loadavg').read().strip()}")


if __name__ == "__main__":
    main()
